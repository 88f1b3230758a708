package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordingSettings(t *testing.T) {
	yamlFile := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "camrec.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name  string
		args  func(t *testing.T) []string
		check func(t *testing.T, r []Recording)
	}{
		{"defaults", func(*testing.T) []string { return nil }, func(t *testing.T, r []Recording) {
			want := Recording{PreRecordMaxBytes: 64 << 20, FsyncInterval: Duration(2 * time.Second), RecordMode: ModeManual}
			if r[0] != want {
				t.Errorf("got %+v, want %+v", r[0], want)
			}
		}},
		{"flags", func(*testing.T) []string {
			return []string{"-pre-record", "3s", "-pre-record-max-bytes", "16MiB", "-segment", "5m", "-keep", "720h",
				"-max-disk", "1.5G", "-min-free", "10%", "-fsync-interval", "500ms", "-max-duration", "1h"}
		}, func(t *testing.T, r []Recording) {
			want := Recording{PreRecord: Duration(3 * time.Second), PreRecordMaxBytes: 16 << 20, Segment: Duration(5 * time.Minute),
				Keep: Duration(720 * time.Hour), MaxDisk: 3 << 29, MinFree: MinFree{Percent: 10},
				FsyncInterval: Duration(500 * time.Millisecond), MaxDuration: Duration(time.Hour), RecordMode: ModeManual}
			if r[0] != want {
				t.Errorf("got %+v, want %+v", r[0], want)
			}
		}},
		{"continuous gets 10 min segments", func(*testing.T) []string { return []string{"-continuous", "-min-free", "2G"} },
			func(t *testing.T, r []Recording) {
				if !r[0].Continuous || r[0].Segment != Duration(10*time.Minute) || r[0].MinFree != (MinFree{Bytes: 2 << 30}) {
					t.Errorf("got %+v", r[0])
				}
			}},
		{"file per camera, flag over file", func(t *testing.T) []string {
			return []string{"-config", yamlFile(t, `cameras:
  - name: front
    device: "test:"
    pre_record: 5s
    pre_record_max_bytes: 32M
    continuous: true
    segment: 15m
    keep: 168h
    max_disk: 100G
    min_free: 5%
    fsync_interval: 1s
  - name: back
    device: "test:"
    max_duration: 30m
`), "-keep", "48h"}
		}, func(t *testing.T, r []Recording) {
			front := Recording{PreRecord: Duration(5 * time.Second), PreRecordMaxBytes: 32 << 20, Continuous: true,
				Segment: Duration(15 * time.Minute), Keep: Duration(48 * time.Hour), MaxDisk: 100 << 30,
				MinFree: MinFree{Percent: 5}, FsyncInterval: Duration(time.Second), RecordMode: ModeContinuous}
			back := Recording{MaxDuration: Duration(30 * time.Minute), PreRecordMaxBytes: 64 << 20,
				Keep: Duration(48 * time.Hour), FsyncInterval: Duration(2 * time.Second), RecordMode: ModeManual}
			if r[0] != front || r[1] != back {
				t.Errorf("got\n%+v\n%+v\nwant\n%+v\n%+v", r[0], r[1], front, back)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args(t), noEnv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var rs []Recording
			for _, c := range cfg.Cameras {
				rs = append(rs, c.Recording)
			}
			tt.check(t, rs)
		})
	}
}

func TestRecordingSettingsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-segment", "500ms"}, "segment 500ms: want at least 1s"},
		{[]string{"-segment", "-1s"}, "segment -1s: must not be negative"},
		{[]string{"-continuous", "-max-duration", "1h"}, "max_duration: cannot be combined with continuous"},
		{[]string{"-pre-record", "2m"}, "pre_record 2m0s: at most 1m"},
		{[]string{"-pre-record-max-bytes", "100k"}, "pre_record_max_bytes 102400: want at least 1MiB"},
		{[]string{"-max-disk", "lots"}, `"lots" is not a size`},
		{[]string{"-min-free", "120%"}, `"120%" is not a percentage`},
		{[]string{"-keep", "10s"}, "keep 10s: want at least 1m"},
		{[]string{"-fsync-interval", "-1s"}, "fsync_interval -1s: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := Load(tt.args, noEnv, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "500M": 500 << 20, "2G": 2 << 30,
		"1.5GB": 3 << 29, "10k": 10 << 10, "1T": 1 << 40} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1G", "1X", "1e400", "NaN"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): want an error", in)
		}
	}
}

// TestSizeString: -h shows sizes as the README writes them.
func TestSizeString(t *testing.T) {
	for in, want := range map[Size]string{0: "0", 64 << 20: "64MiB", 5 << 30: "5GiB", 1536: "1536", 3 << 10: "3KiB", 2 << 40: "2TiB"} {
		if got := in.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(in), got, want)
		}
		if back, err := ParseSize(want); err != nil || back != in {
			t.Errorf("ParseSize(%q) = %d, %v", want, back, err)
		}
	}
}
