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
