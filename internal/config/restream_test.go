package config

import (
	"io"
	"os"
	"strings"
	"testing"
)

func TestRestreamSettings(t *testing.T) {
	yaml := "cameras:\n  - name: a\n    restream: rtsp://mtx.lan:8554/a\n" +
		"  - name: b\n    device: file:/x\n    restream: srt://mtx.lan:8890?streamid=publish:b\n    restream_mode: on_demand\n" +
		"  - name: c\n    device: file:/y\n"
	cfg, err := Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o644)}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Restream{
		{URL: "rtsp://mtx.lan:8554/a", Mode: "always"},
		{URL: "srt://mtx.lan:8890?streamid=publish:b", Mode: "on_demand"},
		{Mode: "always"},
	} {
		if got := cfg.Cameras[i].Restream; got != want {
			t.Errorf("camera %d: %+v, want %+v", i, got, want)
		}
	}
	// -restream is the first camera's; -restream-mode everyone's.
	cfg, err = Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o644), "-restream", "rtmp://h/live/x", "-restream-mode", "on_demand"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a, c := cfg.Cameras[0].Restream, cfg.Cameras[2].Restream; a != (Restream{URL: "rtmp://h/live/x", Mode: "on_demand"}) || c != (Restream{Mode: "on_demand"}) {
		t.Errorf("with flags: a %+v, c %+v", a, c)
	}
}

func TestRestreamRejects(t *testing.T) {
	for _, tc := range []struct{ name, yaml, perm, want string }{
		{"scheme", "restream: http://h/x\n", "", `scheme "http": want rtsp`},
		{"no host", "restream: rtsp://u:s3cr3t@/x\n", "", "no host"},
		{"mode", "restream: rtsp://h/x\n    restream_mode: sometimes\n", "", `restream_mode "sometimes"`},
		{"password in an open file", "restream: rtsp://u:s3cr3t@h/x\n", "open", "a restream URL with a password"},
		{"passphrase in an open file", "restream: srt://h:1?passphrase=s3cr3t-long\n", "open", "a restream URL with a password"},
	} {
		perm := os.FileMode(0o600)
		if tc.perm == "open" {
			perm = 0o644
		}
		yaml := "cameras:\n  - name: a\n    " + tc.yaml
		_, err := Load([]string{"-config", writeFile(t, "c.yaml", yaml, perm)}, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
	yaml := "cameras:\n  - name: a\n    restream: rtsp://h/x\n  - name: b\n    device: file:/x\n    restream: rtsp://h/x\n"
	if _, err := Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o600)}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "already camera a's") {
		t.Errorf("two cameras on one path: %v", err)
	}
}
