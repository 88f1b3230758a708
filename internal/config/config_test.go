package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.RecordDir != "recordings" || cfg.FFmpeg != "ffmpeg" {
		t.Fatalf("globals: %+v", cfg)
	}
	if len(cfg.Cameras) != 1 {
		t.Fatalf("%d cameras, want 1", len(cfg.Cameras))
	}
	c := cfg.Cameras[0]
	if c.Name != "cam0" || c.Device != "test:" || c.Width != 1280 || c.Height != 720 || c.FPS != 30 ||
		c.Container != "mp4" || c.Codec != "libx264" || c.CRF != 23 || time.Duration(c.StallTimeout) != 3*time.Second {
		t.Fatalf("camera defaults: %+v", c)
	}
}

func TestLoadStateDirectory(t *testing.T) {
	env := func(k string) string {
		if k == "STATE_DIRECTORY" {
			return "/var/lib/camrec:/var/lib/other"
		}
		return ""
	}
	cfg, err := Load(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RecordDir != "/var/lib/camrec/recordings" {
		t.Fatalf("record dir %q", cfg.RecordDir)
	}
	cfg, err = Load([]string{"-record-dir", "/srv/rec"}, env, io.Discard)
	if err != nil || cfg.RecordDir != "/srv/rec" {
		t.Fatalf("flag must win over STATE_DIRECTORY: %v %q", err, cfg.RecordDir)
	}
}

func TestLoadFileAndFlagsOverride(t *testing.T) {
	path := filepath.Join("testdata", "two-cameras.yaml")
	cfg, err := Load([]string{"-config", path, "-fps", "15", "-listen", ":9000", "-insecure-no-auth"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9000" || cfg.RecordDir != "/srv/camrec" {
		t.Fatalf("globals: listen %q record_dir %q", cfg.Listen, cfg.RecordDir)
	}
	if len(cfg.Cameras) != 2 {
		t.Fatalf("%d cameras", len(cfg.Cameras))
	}
	front, garage := cfg.Cameras[0], cfg.Cameras[1]
	if front.Name != "front" || front.Device != "/dev/v4l/by-id/usb-cam-video-index0" || front.Width != 1920 || front.FPS != 15 {
		t.Fatalf("front: %+v", front)
	}
	if garage.Name != "garage" || garage.Container != "mkv" || garage.Codec != "copy" || garage.FPS != 15 ||
		garage.Width != 1280 || time.Duration(garage.StallTimeout) != 5*time.Second {
		t.Fatalf("garage: %+v", garage)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want string // substring of the error
	}{
		{"bad size", []string{"-size", "1280*720"}, `size "1280*720"`},
		{"tiny size", []string{"-size", "8x8"}, `size "8x8"`},
		{"zero fps", []string{"-fps", "0"}, "fps 0"},
		{"bad container", []string{"-container", "mov"}, `container "mov": want mp4, mkv or avi`},
		{"copy into mp4", []string{"-codec", "copy"}, `codec "copy": container mp4 cannot store MJPEG as is`},
		{"h264 copy into avi", []string{"-format", "h264", "-codec", "copy", "-container", "avi"}, `codec "copy": an H.264 camera (format h264) is copied into container mp4 or mkv, not avi`},
		{"bad preset", []string{"-preset", "warp"}, `preset "warp"`},
		{"bad crf", []string{"-crf", "60"}, "crf 60"},
		{"bad name", []string{"-name", "../etc"}, `name "../etc"`},
		{"bad device", []string{"-device", "video0"}, `device "video0"`},
		{"bad listen", []string{"-listen", "8080"}, `listen "8080"`},
		{"unknown flag", []string{"-colour", "red"}, "flag provided but not defined: -colour"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
		{"bad log level", []string{"-log-level", "loud"}, `log_level "loud"`},
		{"missing file", []string{"-config", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"unknown key", []string{"-config", write("u.yaml", "cameras:\n  - name: a\n    devise: \"test:\"\n")}, "field devise not found"},
		{"wrong type", []string{"-config", write("t.yaml", "cameras:\n  - name: a\n    fps: fast\n")}, "cannot unmarshal"},
		{"bad duration", []string{"-config", write("d.yaml", "cameras:\n  - name: a\n    stall_timeout: soon\n")}, `"soon" is not a duration`},
		{"duplicate names", []string{"-config", write("n.yaml", "cameras:\n  - name: a\n    device: /dev/video0\n  - name: a\n    device: /dev/video1\n")}, "camera a: name used twice"},
		{"same device twice", []string{"-config", write("s.yaml", "cameras:\n  - name: a\n    device: /dev/video0\n  - name: b\n    device: /dev/video0\n")}, "camera b: device /dev/video0 is already used by camera a"},
		{"bad camera in file", []string{"-config", write("c.yaml", "cameras:\n  - name: a\n    device: /dev/video0\n  - name: b\n    device: /dev/video1\n    container: webm\n")}, `camera b: container "webm"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, noEnv, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGlobalRetentionAppliesToCamerasWithoutTheirOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(path, []byte(`keep: 72h
max_disk: 10G
min_free: 5%
cameras:
  - name: a
    device: /dev/video0
  - name: b
    device: /dev/video1
    keep: 1h
`), 0o644)
	cfg, err := Load([]string{"-config", path}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Cameras[0].Recording, cfg.Cameras[1].Recording
	if time.Duration(a.Keep) != 72*time.Hour || a.MaxDisk != 10<<30 || a.MinFree.Percent != 5 {
		t.Fatalf("camera a: %+v", a)
	}
	if time.Duration(b.Keep) != time.Hour || b.MaxDisk != 10<<30 {
		t.Fatalf("camera b: %+v", b)
	}
	cfg, err = Load([]string{"-config", path, "-keep", "24h"}, noEnv, io.Discard)
	if err != nil || time.Duration(cfg.Cameras[1].Recording.Keep) != 24*time.Hour {
		t.Fatalf("the -keep flag must override every camera: %v %+v", err, cfg.Cameras[1].Recording)
	}
}

// TestCRFZeroIsAValue: crf: 0 (lossless) in YAML is kept, not taken for
// "not given"; a missing key gets the default; the flag wins.
func TestCRFZeroIsAValue(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	body := "cameras:\n  - {name: a, device: \"test:\", crf: 0}\n  - {name: b, device: \"file:/x.mjpeg\"}\n  - {name: c, device: \"file:/y.mjpeg\", crf: 30}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{"-config", p}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{cfg.Cameras[0].CRF, cfg.Cameras[1].CRF, cfg.Cameras[2].CRF}; got[0] != 0 || got[1] != DefaultCRF || got[2] != 30 {
		t.Fatalf("crf %v, want [0 %d 30]", got, DefaultCRF)
	}
	cfg, err = Load([]string{"-config", p, "-crf", "18"}, noEnv, io.Discard)
	if err != nil || cfg.Cameras[0].CRF != 18 {
		t.Fatalf("-crf 18 over the file: %v %+v", err, cfg.Cameras[0])
	}
}
