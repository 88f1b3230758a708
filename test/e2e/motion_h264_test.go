package e2e

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMotionOnAnH264Camera: an H.264 camera (a pipe: fed by ffmpeg's
// libx264 at the scene's pace) is analysed from its preview decoder's
// pictures: the box crossing from 6 s to 8 s makes one event, whose
// start lies within the box's time in the picture (from ffmpeg's start,
// with 0.5 s before for ffmpeg's own start-up), and none comes before it.
// The camera's motion status has no error. Disarmed, the detector leaves
// the preview, and the preview decoder (an ffmpeg) stops.
func TestMotionOnAnH264Camera(t *testing.T) {
	ff := requireTool(t, "ffmpeg")
	fifo := filepath.Join(t.TempDir(), "camera.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-device", "pipe:"+fifo, "-format", "h264", "-codec", "copy", "-size", "640x360", "-motion")
	evs := openEvents(t, d, "")
	cam := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", boxAt6Scene, "-t", "40",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-f", "h264", "-y", fifo)
	began := time.Now()
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cam.Process.Kill()
		_ = cam.Wait()
	})
	started := nextEvent(t, evs, "motion_started")
	if at := started.Data.Time.Sub(began); at < 5500*time.Millisecond || at > 8*time.Second {
		t.Errorf("the event starts %v after ffmpeg's start, want while the box is in the picture (6 s to 8 s)", at)
	}
	ended := nextEvent(t, evs, "motion_ended")
	if ended.Data.EventID != started.Data.EventID {
		t.Errorf("motion_ended is of event %q, motion_started of %q", ended.Data.EventID, started.Data.EventID)
	}
	var st struct {
		Motion struct {
			Events int    `json:"events"`
			Error  string `json:"error"`
		} `json:"motion"`
	}
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
	if st.Motion.Events != 1 || st.Motion.Error != "" {
		t.Errorf("motion status %+v, want 1 event and no error", st.Motion)
	}
	if code, body := d.do(t, "PUT", "/api/v1/cameras/cam0/motion", `{"armed": false}`, nil); code != 200 {
		t.Fatalf("disarm: %d %s", code, body)
	}
	d.awaitLog(t, "preview decoder stopped")
}
