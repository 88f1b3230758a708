package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/test/vm/internal/scene"
)

// TestMotionScene: the real camrec on the real v4l2loopback driver, fed a
// scripted scene by mjpegwriter, with motion detection on and a mask over
// the blinking square. Each box crossing makes one event: motion_started
// (its time is the capture time of the first frame with motion) within
// 0.5 s after the frame in which the box enters was written, motion_ended
// with a last motion within 0.5 s of the box's exit; the noise, the lamp
// going on and off and the masked blinking make none.
func TestMotionScene(t *testing.T) {
	v := needVM(t)
	s := scene.VM
	const addr = "127.0.0.1:18330"
	base := "http://" + addr
	dir := t.TempDir()
	file := renderScene(t, v, s, dir)
	writer, play := startScene(t, v, s, "/dev/video10", file, dir)

	cfg := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: %s
record_dir: %s
cameras:
  - name: cam0
    device: /dev/video10
    size: %dx%d
    fps: %d
    motion:
      enabled: true
      event_gap: 2s
      masks:
        - %s
`, addr, filepath.Join(dir, "rec"), s.W, s.H, s.FPS, scene.MaskYAML())), 0o600); err != nil {
		t.Fatal(err)
	}
	cam := start(t, v, v.bin, "-config", cfg)
	waitHTTP(t, cam, base+"/healthz", 60*time.Second)
	evs := openEvents(t, base)
	// Past the learning second (at 5 fps) on the looped first second.
	waitAnalysed(t, cam, base, 10, 60*time.Second)

	written := play(2 * time.Minute)
	// Everything the detector says about the scene: until it has analysed
	// event_gap + 1 s of frames after the scene's last.
	after := motionStatus(t, base).FramesAnalysed
	waitAnalysed(t, cam, base, after+15, time.Minute)
	var got []sseEvent
	var detections []detected
	for done := false; !done; {
		select {
		case e := <-evs:
			if e.Type != "motion_started" && e.Type != "motion_ended" {
				continue
			}
			got = append(got, e)
			if e.Type == "motion_started" {
				detections = append(detections, detected{start: e.Data.Time})
			} else if n := len(detections); n > 0 {
				detections[n-1].last = e.Data.Time
			}
		default:
			done = true
		}
	}
	var log []string
	for _, e := range got {
		log = append(log, fmt.Sprintf("%s at %.2fs (score %.2f)", e.Type, sceneTime(written, e.Data.Time), e.Data.Score))
	}
	t.Logf("events, in scene time: %s", strings.Join(log, "; "))
	per, unmatched := matchEvents(s.Boxes, written, s.FPS, detections)
	for _, e := range unmatched {
		t.Errorf("a false event: motion from %.2fs to %.2fs of the scene (no box then: noise, the lamp or the masked square)",
			sceneTime(written, e.start), sceneTime(written, e.last))
	}
	for i, b := range s.Boxes {
		entry, exit := at(written, s.FPS, b.Entry), at(written, s.FPS, b.Exit)
		if len(per[i]) != 1 {
			t.Errorf("box %d (%gs–%gs): %d events, want 1", i+1, b.Entry, b.Exit, len(per[i]))
			continue
		}
		e := per[i][0]
		if dt := e.start.Sub(entry); dt < 0 || dt > 500*time.Millisecond {
			t.Errorf("box %d: motion_started %v after the entry frame was written, want 0–0.5 s", i+1, dt.Round(time.Millisecond))
		}
		if e.last.IsZero() {
			t.Errorf("box %d: no motion_ended", i+1)
		} else if dt := e.last.Sub(exit); dt < -500*time.Millisecond || dt > 500*time.Millisecond {
			t.Errorf("box %d: the event's last motion is %v from the exit, want within 0.5 s", i+1, dt.Round(time.Millisecond))
		}
		t.Logf("box %d: started %+.0f ms after entry, last motion %+.0f ms from exit", i+1,
			float64(e.start.Sub(entry).Milliseconds()), float64(e.last.Sub(exit).Milliseconds()))
	}
	if st := motionStatus(t, base); st.FramesSkipped > 0 || st.Error != "" {
		t.Logf("detector status at the end: %+v", st)
	}
	writer.stop(t)
}
