package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// motionScene is 640x360 at 30 fps for 14 s: colour bars with sensor
// noise; a light switched on at 3 s (brightness +0.25); a white square
// blinking twice a second in the top-left corner, which the test's config
// masks; and a white box crossing the picture from 9 s to 11 s, in zone
// "road" (the lower half).
const motionScene = "smptehdbars=s=640x360:r=30[bg];color=c=white:s=80x80:r=30[box];color=c=white:s=40x40:r=30[blink];" +
	"[bg][blink]overlay=x='if(lt(mod(t,0.5),0.25),20,-1000)':y=20:eval=frame[b1];" +
	"[b1][box]overlay=x='if(between(t,9,11),-80+(t-9)*360,-1000)':y=220:eval=frame:shortest=1," +
	"eq=brightness='if(gte(t,3),0.25,0)':eval=frame,noise=alls=8:allf=t,format=yuvj422p"

// TestMotionEventsFromAScene: the real binary on a pipe: camera fed a
// rendered scene at 30 fps. Only the box makes an event: motion_started
// within 0.5 s of the frame in which the box enters (its time is the first
// frame with motion), motion_ended with a last motion within 0.5 s of the
// box's exit, zone "road", through SSE and the hooks; the light switch and
// the masked blinking square make none. The camera's JSON and /metrics
// count it.
func TestMotionEventsFromAScene(t *testing.T) {
	frames := scene(t, motionScene, 14)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "start.env")
	hook := filepath.Join(dir, "start.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nenv > \""+envFile+".tmp\" && mv \""+envFile+".tmp\" \""+envFile+"\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pipe := fifo(t)
	cfg := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`cameras:
  - name: cam0
    device: "pipe:%s"
    size: 640x360
    fps: 30
    on_motion_start: %s
    motion:
      enabled: true
      event_gap: 2s
      masks:
        - [[0, 0], [0.25, 0], [0.25, 0.4], [0, 0.4]]
      zones:
        - name: road
          polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
`, pipe, hook)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", cfg)
	evs := openEvents(t, d, "")
	w := openWriter(t, pipe)
	written := play(w, frames, 30)
	entry, exit := written[9*30], written[11*30]

	started := nextEvent(t, evs, "motion_started")
	ended := nextEvent(t, evs, "motion_ended")
	t.Logf("motion_started %+v, motion_ended %+v", started.Data, ended.Data)
	if dt := started.Data.Time.Sub(entry); dt < 0 || dt > 500*time.Millisecond {
		t.Errorf("the event starts %v after the box's entry, want 0 to 0.5 s", dt)
	}
	if dt := ended.Data.Time.Sub(exit); dt < -500*time.Millisecond || dt > 500*time.Millisecond {
		t.Errorf("the event's last motion is %v from the box's exit, want within 0.5 s", dt)
	}
	if strings.Join(ended.Data.Zones, ",") != "road" || ended.Data.Score <= 0 {
		t.Errorf("motion_ended: zones %v, score %v; want [road] and a score", ended.Data.Zones, ended.Data.Score)
	}
	var st struct {
		Motion struct {
			Events         int     `json:"events"`
			FramesAnalysed int     `json:"frames_analysed"`
			Active         bool    `json:"active"`
			Score          float64 `json:"score"`
			Error          string  `json:"error"`
		} `json:"motion"`
	}
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
	if st.Motion.Events != 1 || st.Motion.Active || st.Motion.Error != "" || st.Motion.FramesAnalysed < 60 {
		t.Errorf("the camera's motion status %+v, want 1 event, not active, 60+ frames analysed", st.Motion)
	}
	waitFor(t, 20*time.Second, "the on_motion_start hook", func() bool {
		_, err := os.Stat(envFile)
		return err == nil
	})
	env, _ := os.ReadFile(envFile)
	snapshot := "CAMREC_SNAPSHOT=" + filepath.Join(d.RecordDir, ".events", "cam0", started.Data.EventID+".jpg")
	for _, want := range []string{"CAMREC_EVENT=motion_started", "CAMREC_CAMERA=cam0", "CAMREC_ZONES=road",
		"CAMREC_MOTION_EVENT_ID=" + started.Data.EventID, snapshot, "CAMREC_SNAPSHOT_URL=" + started.Data.SnapshotURL} {
		if !strings.Contains(string(env), want) {
			t.Errorf("the hook's environment lacks %s:\n%s", want, env)
		}
	}
	_, metrics := d.do(t, "GET", "/metrics", "", nil)
	if !strings.Contains(string(metrics), `camrec_motion_events_total{camera="cam0"} 1`) {
		t.Errorf("/metrics does not count the event:\n%s", grepLines(string(metrics), "camrec_motion"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
