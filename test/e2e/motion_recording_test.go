package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// boxAt6Scene is 640x360 at 30 fps for 16 s: colour bars with sensor
// noise, and a white box crossing the picture from 6 s to 8 s (visible in
// the frames of 6 s to 8 s, exclusive).
const boxAt6Scene = "smptehdbars=s=640x360:r=30[bg];color=c=white:s=80x80:r=30[box];" +
	"[bg][box]overlay=x='if(between(t,6,8),-80+(t-6)*360,-1000)':y=140:eval=frame:shortest=1," +
	"noise=alls=8:allf=t,format=yuvj422p"

// motionEvent is GET /api/v1/motion-events/{id} as the test reads it.
type motionEvent struct {
	ID          string    `json:"id"`
	Camera      string    `json:"camera"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Active      bool      `json:"active"`
	PeakScore   float64   `json:"peak_score"`
	SnapshotURL string    `json:"snapshot_url"`
	Recordings  []struct {
		ID      string  `json:"id"`
		OffsetS float64 `json:"offset_s"`
		URL     string  `json:"url"`
	} `json:"recordings"`
}

// TestMotionRecordsTheEvent: record_mode events with pre_record 2 s and
// post_roll 3 s on a pipe: camera fed a scene whose box crosses from 6 s
// to 8 s. One recording is made, started by motion (trigger "motion"); it
// covers [entry − pre_record, exit + post_roll] within 0.5 s at each end
// (by its catalogue times against when the frames were written) and
// ffprobe finds that long an H.264 file. The event is catalogued: start
// and end within 0.5 s of the box's entry and exit, in that recording at
// offset ≈ pre_record, and its snapshot is, byte for byte, one of the
// camera's own JPEGs in which the box is visible (no re-encode). Deleting
// the event leaves the recording.
func TestMotionRecordsTheEvent(t *testing.T) {
	const preRecord, postRoll = 2 * time.Second, 3 * time.Second
	frames := scene(t, boxAt6Scene, 16)
	dir := t.TempDir()
	pipe := fifo(t)
	cfg := filepath.Join(dir, "camrec.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`cameras:
  - name: cam0
    device: "pipe:%s"
    size: 640x360
    fps: 30
    record_mode: events
    pre_record: %s
    motion:
      enabled: true
      event_gap: 1s
      post_roll: %s
`, pipe, preRecord, postRoll)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-config", cfg)
	evs := openEvents(t, d, "")
	w := openWriter(t, pipe)
	done := make(chan []time.Time, 1)
	go func() { done <- play(w, frames, 30) }()

	motion := nextEvent(t, evs, "motion_started")
	started := nextEvent(t, evs, "recording_started")
	var st struct {
		Recording struct {
			Active  bool   `json:"active"`
			Trigger string `json:"trigger"`
		} `json:"recording"`
	}
	d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
	if !st.Recording.Active || st.Recording.Trigger != "motion" {
		t.Errorf("while the event records: recording %+v, want active, trigger motion", st.Recording)
	}
	stopped := nextEvent(t, evs, "recording_stopped")
	written := <-done
	entry, exit := written[6*30], written[8*30]
	if motion.Data.EventID == "" || motion.Data.SnapshotURL == "" {
		t.Errorf("motion_started lacks the event's id or snapshot: %+v", motion.Data)
	}
	if stopped.Data.RecordingID != started.Data.RecordingID {
		t.Fatalf("recording_stopped %q is not the started %q", stopped.Data.RecordingID, started.Data.RecordingID)
	}

	var rec struct {
		StartedAt time.Time `json:"started_at"`
		EndedAt   time.Time `json:"ended_at"`
		DurationS float64   `json:"duration_s"`
	}
	waitFor(t, 20*time.Second, "the recording to be final", func() bool {
		var r struct {
			State string `json:"state"`
		}
		d.do(t, "GET", "/api/v1/recordings/"+stopped.Data.RecordingID, "", &r)
		return r.State == "complete"
	})
	d.do(t, "GET", "/api/v1/recordings/"+stopped.Data.RecordingID, "", &rec)
	wantStart, wantEnd := entry.Add(-preRecord), exit.Add(postRoll)
	if dt := rec.StartedAt.Sub(wantStart); dt < -500*time.Millisecond || dt > 500*time.Millisecond {
		t.Errorf("the recording starts %v from the box's entry − pre_record, want within 0.5 s", dt)
	}
	if dt := rec.EndedAt.Sub(wantEnd); dt < -500*time.Millisecond || dt > 500*time.Millisecond {
		t.Errorf("the recording ends %v from the box's exit + post_roll, want within 0.5 s", dt)
	}
	p := ffprobe(t, filepath.Join(d.RecordDir, "cam0", stopped.Data.RecordingID))
	want := wantEnd.Sub(wantStart).Seconds()
	if p.Codec != "h264" || p.Duration < want-1 || p.Duration > want+1 {
		t.Errorf("ffprobe: %s of %.2f s, want h264 of %.2f ± 1 s", p.Codec, p.Duration, want)
	}

	var list struct {
		Events []motionEvent `json:"events"`
	}
	d.do(t, "GET", "/api/v1/motion-events?camera=cam0", "", &list)
	if len(list.Events) != 1 {
		t.Fatalf("%d events catalogued, want 1: %+v", len(list.Events), list.Events)
	}
	ev := list.Events[0]
	if ev.ID != motion.Data.EventID || ev.Active || ev.PeakScore <= 0 {
		t.Errorf("event %+v: want id %s, ended, a peak score", ev, motion.Data.EventID)
	}
	if dt := ev.Start.Sub(entry); dt < 0 || dt > 500*time.Millisecond {
		t.Errorf("the event starts %v after the box's entry, want 0 to 0.5 s", dt)
	}
	if dt := ev.End.Sub(exit); dt < -500*time.Millisecond || dt > 500*time.Millisecond {
		t.Errorf("the event's last motion is %v from the box's exit, want within 0.5 s", dt)
	}
	if len(ev.Recordings) != 1 || ev.Recordings[0].ID != stopped.Data.RecordingID {
		t.Fatalf("the event lies in %+v, want the recording %s", ev.Recordings, stopped.Data.RecordingID)
	}
	if off := ev.Recordings[0].OffsetS; off < preRecord.Seconds()-0.5 || off > preRecord.Seconds()+1 {
		t.Errorf("the event is at %.2f s into its recording, want about pre_record (%v)", off, preRecord)
	}

	code, jpg := d.do(t, "GET", ev.SnapshotURL, "", nil)
	if code != 200 {
		t.Fatalf("GET %s: %d", ev.SnapshotURL, code)
	}
	match := -1
	for i, f := range frames {
		if bytes.Equal(f, jpg) {
			match = i
			break
		}
	}
	if match < 0 {
		t.Fatalf("the snapshot (%d bytes) is none of the camera's JPEGs", len(jpg))
	}
	if at := float64(match) / 30; at <= 6 || at >= 8 {
		t.Errorf("the snapshot is the frame at %.2f s, when the box is not in the picture (6 to 8 s)", at)
	}

	if code, body := d.do(t, "DELETE", "/api/v1/motion-events/"+ev.ID, "", nil); code != 204 {
		t.Fatalf("DELETE the event: %d %s", code, body)
	}
	if code, _ := d.do(t, "GET", ev.SnapshotURL, "", nil); code != 404 {
		t.Errorf("the deleted event's snapshot answers %d, want 404", code)
	}
	if _, err := os.Stat(filepath.Join(d.RecordDir, "cam0", stopped.Data.RecordingID)); err != nil {
		t.Errorf("deleting the event deleted its recording: %v", err)
	}
	for _, path := range []string{"/api/v1/motion-events/../../etc/passwd", "/api/v1/motion-events/cam0-..%2f..%2fx"} {
		if code, body := d.do(t, "GET", path, "", nil); code != 404 || strings.Contains(string(body), "root:") {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}
