package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
		"PrivateTmp=yes", "DeviceAllow=char-video4linux rw", "LoadCredential=auth.yaml:/etc/camrec/auth.yaml"} {
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

// TestSystemdUnitExposure asks systemd-analyze how exposed the service is
// (0 = locked down, 10 = unprotected) and holds it at 2.0 or below.
func TestSystemdUnitExposure(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", "../../systemd/camrec.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for camrec.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || level > 2.0 {
		t.Fatalf("exposure %s, want at most 2.0:\n%s", m[1], out)
	}
	t.Logf("systemd-analyze security: exposure %.1f", level)
}

// TestExampleConfigIsValid loads the example config shipped for the
// service, with the users coming from systemd's credential directory as
// the unit arranges, and checks that without them camrec refuses to
// start on the network address.
func TestExampleConfigIsValid(t *testing.T) {
	path, _, _, _ := writeAuthFile(t, "cam0")
	cmd := execCamrec("-config", "../../systemd/camrec.yaml", "-version")
	cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY="+filepath.Dir(path))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("camrec rejects systemd/camrec.yaml: %v\n%s", err, out)
	}
	cmd = execCamrec("-config", "../../systemd/camrec.yaml", "-version")
	cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "camrec -hash-password") {
		t.Fatalf("without users: %v\n%s, want exit 2 saying how to add a user", err, out)
	}
}
