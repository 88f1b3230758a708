package record

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/camrec/camrec/internal/defs"
)

func TestFFmpegArgs(t *testing.T) {
	global := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-y"}
	tests := []struct {
		name string
		cfg  RecorderConfig
		fps  float64
		in   inputSpec
		want []string
	}{
		{
			name: "mp4 x264 defaults",
			cfg:  RecorderConfig{},
			fps:  30,
			want: []string{"-f", "matroska", "-analyzeduration", "0", "-probesize", "32", "-i", "pipe:0",
				"-f", "mp4", "-c:v", "libx264", "-crf", "23", "-enc_time_base", "1:1000", "-flush_packets", "1",
				"-force_key_frames", "expr:gte(t,n_forced*1)", "-fps_mode", "passthrough", "-g", "30",
				"-movflags", "+frag_keyframe+empty_moov+default_base_moof",
				"-pix_fmt", "yuv420p", "-preset", "ultrafast", "/r/cam0/x.mp4"},
		},
		{
			name: "mp4 x264 preset crf fractional rate",
			cfg:  RecorderConfig{Preset: "superfast", CRF: ptr(28)},
			fps:  29.97,
			want: []string{"-f", "matroska", "-analyzeduration", "0", "-probesize", "32", "-i", "pipe:0",
				"-f", "mp4", "-c:v", "libx264", "-crf", "28", "-enc_time_base", "1:1000", "-flush_packets", "1",
				"-force_key_frames", "expr:gte(t,n_forced*1)", "-fps_mode", "passthrough", "-g", "30",
				"-movflags", "+frag_keyframe+empty_moov+default_base_moof",
				"-pix_fmt", "yuv420p", "-preset", "superfast", "/r/cam0/x.mp4"},
		},
		{
			name: "crf 0 is lossless, not the default",
			cfg:  RecorderConfig{CRF: ptr(0)},
			fps:  30,
			want: []string{"-f", "matroska", "-analyzeduration", "0", "-probesize", "32", "-i", "pipe:0",
				"-f", "mp4", "-c:v", "libx264", "-crf", "0", "-enc_time_base", "1:1000", "-flush_packets", "1",
				"-force_key_frames", "expr:gte(t,n_forced*1)", "-fps_mode", "passthrough", "-g", "30",
				"-movflags", "+frag_keyframe+empty_moov+default_base_moof",
				"-pix_fmt", "yuv420p", "-preset", "ultrafast", "/r/cam0/x.mp4"},
		},
		{
			name: "mkv copy",
			cfg:  RecorderConfig{Container: "mkv", Codec: "copy"},
			fps:  15,
			want: []string{"-f", "mjpeg", "-framerate", "15", "-i", "pipe:0",
				"-f", "matroska", "-c:v", "copy", "/r/cam0/x.mp4"},
		},
		{
			name: "avi copy has an output rate",
			cfg:  RecorderConfig{Container: "avi", Codec: "copy"},
			fps:  30,
			want: []string{"-f", "mjpeg", "-framerate", "30", "-i", "pipe:0",
				"-f", "avi", "-c:v", "copy", "-r", "30", "/r/cam0/x.mp4"},
		},
		{
			name: "raw yuyv camera to mp4 x264",
			cfg:  RecorderConfig{},
			fps:  30,
			in:   inputSpec{PixFmt: "yuyv422", Width: 640, Height: 360},
			want: []string{"-f", "matroska", "-analyzeduration", "0", "-probesize", "32", "-i", "pipe:0",
				"-f", "mp4", "-c:v", "libx264", "-crf", "23", "-enc_time_base", "1:1000", "-flush_packets", "1",
				"-force_key_frames", "expr:gte(t,n_forced*1)", "-fps_mode", "passthrough", "-g", "30",
				"-movflags", "+frag_keyframe+empty_moov+default_base_moof",
				"-pix_fmt", "yuv420p", "-preset", "ultrafast", "/r/cam0/x.mp4"},
		},
		{
			name: "avi x264 keeps the constant-rate input",
			cfg:  RecorderConfig{Container: "avi"},
			fps:  30,
			want: []string{"-f", "mjpeg", "-framerate", "30", "-i", "pipe:0",
				"-f", "avi", "-c:v", "libx264", "-crf", "23", "-g", "60", "-pix_fmt", "yuv420p", "-preset", "ultrafast",
				"-r", "30", "/r/cam0/x.mp4"},
		},
		{
			name: "hardware h264 encoder",
			cfg:  RecorderConfig{Container: "mkv", Codec: "h264_v4l2m2m"},
			fps:  30,
			want: []string{"-f", "matroska", "-analyzeduration", "0", "-probesize", "32", "-i", "pipe:0",
				"-f", "matroska", "-c:v", "h264_v4l2m2m", "-enc_time_base", "1:1000",
				"-force_key_frames", "expr:gte(t,n_forced*2)", "-fps_mode", "passthrough", "-g", "60",
				"-pix_fmt", "yuv420p", "/r/cam0/x.mp4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Camera, cfg.Dir = "cam0", "/r"
			cfg = cfg.withDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			got := ffmpegArgs(cfg, tt.fps, tt.in, "/r/cam0/x.mp4")
			want := append(slices.Clone(tt.want), global...)
			if !slices.Equal(got, want) {
				t.Errorf("args\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestRecorderConfigValidate(t *testing.T) {
	ok := RecorderConfig{Camera: "cam0", Dir: "/r"}
	tests := []struct {
		name    string
		edit    func(*RecorderConfig)
		wantErr string // "" = valid
	}{
		{"defaults", func(*RecorderConfig) {}, ""},
		{"mkv copy", func(c *RecorderConfig) { c.Container, c.Codec = "mkv", "copy" }, ""},
		{"avi copy", func(c *RecorderConfig) { c.Container, c.Codec = "avi", "copy" }, ""},
		{"other encoder", func(c *RecorderConfig) { c.Codec = "h264_v4l2m2m" }, ""},
		{"camera with dash", func(c *RecorderConfig) { c.Camera = "front-door_2" }, ""},
		{"container", func(c *RecorderConfig) { c.Container = "mov" }, `container "mov": want mp4, mkv or avi`},
		{"mp4 copy", func(c *RecorderConfig) { c.Codec = "copy" }, `codec "copy": container mp4 cannot store MJPEG as is`},
		{"mp4 copy h264", func(c *RecorderConfig) { c.Codec, c.Format = "copy", "h264" }, ""},
		{"mkv copy h264", func(c *RecorderConfig) { c.Container, c.Codec, c.Format = "mkv", "copy", "h264" }, ""},
		{"avi copy h264", func(c *RecorderConfig) { c.Container, c.Codec, c.Format = "avi", "copy", "h264" }, `codec "copy": an H.264 camera (format h264) is copied into container mp4 or mkv, not avi`},
		{"codec injection", func(c *RecorderConfig) { c.Codec = "-f null" }, `codec "-f null": want copy or an ffmpeg encoder name`},
		{"preset", func(c *RecorderConfig) { c.Preset = "fastest" }, `preset "fastest": want one of ultrafast,`},
		{"crf", func(c *RecorderConfig) { c.CRF = ptr(60) }, `crf 60: want 0-51`},
		{"camera path", func(c *RecorderConfig) { c.Camera = "../x" }, `camera "../x": want 1-64 letters`},
		{"camera empty", func(c *RecorderConfig) { c.Camera = "" }, `camera "": want 1-64 letters`},
		{"dir", func(c *RecorderConfig) { c.Dir = "" }, `record dir: must be set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLookFFmpeg(t *testing.T) {
	empty := t.TempDir()
	notExec := filepath.Join(empty, "ffmpeg-not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", empty)
	tests := []struct {
		name, arg, wantMsg string
	}{
		{"not in PATH", "ffmpeg", "ffmpeg not found in PATH: install it (apt-get install ffmpeg) or set -ffmpeg"},
		{"missing path", "/nonexistent/ffmpeg", `ffmpeg "/nonexistent/ffmpeg" cannot be run: no such file or directory`},
		{"not executable", notExec, `ffmpeg "` + notExec + `" cannot be run: permission denied`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LookFFmpeg(tt.arg)
			if err == nil {
				t.Fatalf("LookFFmpeg(%q) = %q, want error", tt.arg, p)
			}
			if !errors.Is(err, defs.ErrFFmpegMissing) {
				t.Errorf("error %v does not wrap ErrFFmpegMissing", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestTailWriterKeepsLastLinesAndSeesOutput(t *testing.T) {
	tw := newTailWriter()
	// Written in odd chunks, as a pipe delivers them.
	var in strings.Builder
	for i := range 30 {
		in.WriteString("[info] line " + string(rune('a'+i%26)) + "\n")
		switch i {
		case 10:
			in.WriteString("[swscaler @ 0x1] [swscaler @ 0x2] [warning] deprecated pixel format used, make sure you did set range correctly\n")
			in.WriteString("[info] Output #0, mp4, to 'x.mp4':\n")
		case 20:
			in.WriteString("[mjpeg @ 0x3] [error] overread 8\r\n")
		}
	}
	in.WriteString("[fatal] partial")
	s := in.String()
	for len(s) > 0 {
		n := min(7, len(s))
		if _, err := tw.Write([]byte(s[:n])); err != nil {
			t.Fatal(err)
		}
		s = s[n:]
	}
	select {
	case <-tw.Ready():
	default:
		t.Fatal("Ready not closed after an Output #0 line")
	}
	if got, want := tw.Tail(3), "[info] line c; [info] line d; [fatal] partial"; got != want {
		t.Errorf("Tail(3) = %q, want %q", got, want)
	}
	if got, want := tw.Problems(5), "[mjpeg @ 0x3] [error] overread 8; [fatal] partial"; got != want {
		t.Errorf("Problems(5) = %q, want %q", got, want)
	}
	all := strings.Split(tw.Tail(0), "; ")
	if len(all) != stderrTailLines+1 { // kept lines + the partial one
		t.Errorf("Tail(0) has %d lines, want %d", len(all), stderrTailLines+1)
	}
	if strings.Contains(tw.Tail(0), "deprecated") {
		t.Error("swscaler noise kept")
	}
}

func ptr[T any](v T) *T { return &v }
