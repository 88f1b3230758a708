package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCaptureSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "camrec.yaml")
	yaml := "cameras:\n  - name: yuyvcam\n    device: /dev/video0\n    format: yuyv\n    preview_fps: 5\n    jpeg_quality: 60\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	noenv := func(string) string { return "" }
	tests := []struct {
		name    string
		args    []string
		want    Capture
		wantErr string
	}{
		{"defaults", nil, Capture{Format: "auto", PreviewFPS: 10, JPEGQuality: 80}, ""},
		{"flags", []string{"-format", "mjpeg", "-preview-fps", "2.5", "-jpeg-quality", "95"}, Capture{Format: "mjpeg", PreviewFPS: 2.5, JPEGQuality: 95}, ""},
		{"file", []string{"-config", file}, Capture{Format: "yuyv", PreviewFPS: 5, JPEGQuality: 60}, ""},
		{"flag over file", []string{"-config", file, "-format", "auto"}, Capture{Format: "auto", PreviewFPS: 5, JPEGQuality: 60}, ""},
		{"h264 copied into mp4", []string{"-format", "h264", "-codec", "copy"}, Capture{Format: "h264", PreviewFPS: 10, JPEGQuality: 80}, ""},
		{"bad format", []string{"-format", "h265"}, Capture{}, `camera cam0: format "h265": want auto, mjpeg, yuyv or h264`},
		{"bad preview rate", []string{"-preview-fps", "-1"}, Capture{}, "camera cam0: preview_fps -1: want a number above 0 and at most 60"},
		{"bad quality", []string{"-jpeg-quality", "101"}, Capture{}, "camera cam0: jpeg_quality 101: want 1-100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, noenv, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Cameras[0].Capture; got != tt.want {
				t.Errorf("capture = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCaptureFormatRule: auto asks a V4L2 camera for H.264 first only when
// its recording copies into mp4 or mkv; everything else keeps the setting.
func TestCaptureFormatRule(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-device", "/dev/video0", "-codec", "copy"}, "auto-h264"},
		{[]string{"-device", "/dev/video0", "-codec", "copy", "-container", "mkv"}, "auto-h264"},
		{[]string{"-device", "/dev/video0", "-codec", "copy", "-container", "avi"}, "auto"},
		{[]string{"-device", "/dev/video0"}, "auto"},
		{[]string{"-device", "/dev/video0", "-codec", "copy", "-container", "mkv", "-format", "mjpeg"}, "mjpeg"},
		{[]string{"-device", "/dev/video0", "-codec", "copy", "-format", "h264"}, "h264"},
		{[]string{"-device", "pipe:", "-codec", "copy", "-container", "mkv"}, "auto"},
	} {
		cfg, err := Load(tc.args, noEnv, io.Discard)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if got := cfg.Cameras[0].CaptureFormat(); got != tc.want {
			t.Errorf("%v: capture format %q, want %q", tc.args, got, tc.want)
		}
	}
	// Copy into mp4 needs H.264: a camera that may deliver it, or none.
	if _, err := Load([]string{"-device", "pipe:", "-codec", "copy"}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "container mp4 cannot store MJPEG") {
		t.Errorf("pipe: copy into mp4 with format auto: %v", err)
	}
}
