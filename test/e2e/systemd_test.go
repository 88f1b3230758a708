package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs systemd-analyze verify on the shipped unit,
// with ExecStart pointing at the freshly built binary.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	unit, err := os.ReadFile("../../systemd/camrec.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "SupplementaryGroups=video", "StateDirectory=camrec", "Restart=on-failure",
		"KillMode=mixed", "TimeoutStopSec=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "DeviceAllow=char-video4linux rw"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/camrec", camrecBin)
	path := filepath.Join(t.TempDir(), "camrec.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestExampleConfigIsValid loads the example config shipped for the service.
func TestExampleConfigIsValid(t *testing.T) {
	out, err := execCamrec("-config", "../../systemd/camrec.yaml", "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("camrec rejects systemd/camrec.yaml: %v\n%s", err, out)
	}
}
