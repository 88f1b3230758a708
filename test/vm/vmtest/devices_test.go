package vmtest

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestListDevices runs `camrec -list-devices` against vivid (/dev/video0)
// and v4l2loopback (/dev/video10), idle and fed by mjpegwriter.
func TestListDevices(t *testing.T) {
	v := needVM(t)
	cases := []struct {
		name   string
		writer []string // mjpegwriter flags; nil: no writer
		want   []string
		reject []string
	}{
		{
			name: "vivid and idle loopback",
			want: []string{
				"/dev/video0: vivid (driver vivid",
				"YUYV 4:2:2\n",
				"    320x180    60, 50, 40, 30, 25,",
				"    640x480    25, 15,",
				"    1280x720   12.5,",
				"    1920x1080  5,",
				"/dev/video10: camrec-loopback",
			},
			reject: []string{"MJPG"}, // vivid has no MJPEG, the idle loopback no format
		},
		{
			name:   "loopback fed with MJPEG",
			writer: []string{"-device", "/dev/video10", "-size", "800x600", "-fps", "10"},
			want:   []string{"/dev/video10: camrec-loopback", "MJPG", "800x600"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.writer != nil {
				w := start(t, v, v.writer, tc.writer...)
				w.waitOutput(t, "mjpegwriter: streaming", 30*time.Second)
			}
			out, err := exec.Command(v.bin, "-list-devices").CombinedOutput()
			if err != nil {
				t.Fatalf("camrec -list-devices: %v\n%s", err, out)
			}
			text := string(out)
			bad := false
			for _, want := range tc.want {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q", want)
					bad = true
				}
			}
			for _, reject := range tc.reject {
				if strings.Contains(text, reject) {
					t.Errorf("output has %q", reject)
					bad = true
				}
			}
			if bad {
				t.Logf("camrec -list-devices:\n%s", out)
			}
		})
	}
}
