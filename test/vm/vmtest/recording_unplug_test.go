package vmtest

import (
	"math"
	"testing"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// TestVividRecordingAcrossUnplug records vivid and unplugs it with its
// Disconnect control mid-recording: the file being written is finished as
// a playable file; vivid comes back by itself (it re-registers once camrec
// has closed it) and the recording goes on, without a request, in a new
// file linked to the first; stopping finishes the second file, playable too.
func TestVividRecordingAcrossUnplug(t *testing.T) {
	v := needVM(t)
	const addr = "127.0.0.1:18320"
	const fps = 30
	startCamrec(t, v, addr, "-device", vividNode, "-size", "320x180", "-fps", "30")
	waitCamera(t, addr, "streaming", 30*time.Second, streaming)

	startSent := time.Now()
	first := setRecording(t, addr, true)
	startDone := time.Now()
	if !first.Active || first.ID == "" {
		t.Fatalf("after start: %+v", first)
	}
	<-time.After(time.Until(startDone.Add(3 * time.Second)))
	pressVividButton(t, vividDisconnect)
	pressed := time.Now()
	st, _ := waitCamera(t, addr, "disconnected", 10*time.Second, func(st api.CameraBody) bool {
		return st.State == pipeline.StateDisconnected || st.Restarts > 0
	})
	t.Logf("after the Disconnect control: camera %s %q, restarts %d", st.State, st.Error, st.Restarts)

	// The first file is finished, complete and playable.
	rec1 := finished(t, addr, first.ID)
	t.Logf("first file finished %v after the disconnect: %+v", time.Since(pressed).Round(time.Millisecond), rec1)
	if rec1.State != store.RecStateComplete {
		t.Errorf("first file: %+v, want complete", rec1)
	}
	// It holds what was recorded until the disconnect: it began during the
	// start call.
	if lo, hi := pressed.Sub(startDone).Seconds()-0.3, pressed.Sub(startSent).Seconds()+0.2; rec1.DurationS < lo || rec1.DurationS > hi {
		t.Errorf("first file lasts %.2f s, want %.2f..%.2f s (from the start call to the disconnect)", rec1.DurationS, lo, hi)
	}
	p1 := probeRecording(t, v, addr, rec1)
	t.Logf("first file: ffprobe %+v", p1)
	if p1.codec != "h264" || p1.width != 320 || p1.height != 180 || p1.frames == 0 ||
		math.Abs(p1.duration-rec1.DurationS) > 0.1 {
		t.Errorf("first file: ffprobe %+v, catalogue %+v", p1, rec1)
	}

	// The recording goes on by itself in a new file once vivid is back.
	var again api.RecordingStatusBody
	for {
		again = getRecording(t, addr)
		if again.Active && again.ID != "" && again.ID != first.ID {
			break
		}
		if !again.Active {
			t.Fatalf("recording no longer active after the disconnect: %+v", again)
		}
		if time.Since(pressed) > 10*time.Second {
			t.Fatalf("no new file within 10 s of the disconnect: %+v", again)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resumed := time.Now()
	t.Logf("recording again in %s %v after the disconnect (segment %d)", again.ID, resumed.Sub(pressed).Round(time.Millisecond), again.Segment)
	<-time.After(2 * time.Second)
	stopSent := time.Now()
	st2 := setRecording(t, addr, false)
	if st2.Active || st2.Error != "" {
		t.Fatalf("after stop: %+v", st2)
	}
	rec2 := finished(t, addr, again.ID)
	p2 := probeRecording(t, v, addr, rec2)
	t.Logf("second file: ffprobe %+v, catalogue %+v", p2, rec2)
	if rec2.State != store.RecStateComplete || rec2.PrevID != first.ID {
		t.Errorf("second file %+v: want complete, prev_id %s", rec2, first.ID)
	}
	if rec1 = finished(t, addr, first.ID); rec1.NextID != rec2.ID {
		t.Errorf("first file's next_id %q, want %s", rec1.NextID, rec2.ID)
	}
	// The status is polled only after the first file was probed: the
	// catalogue says when the second file began.
	if rec1.EndedAt != nil {
		t.Logf("the second file begins %v after the first ends, %v after the disconnect",
			rec2.StartedAt.Sub(*rec1.EndedAt).Round(time.Millisecond), rec2.StartedAt.Sub(pressed).Round(time.Millisecond))
	}
	if back := rec2.StartedAt.Sub(pressed); back < 0 {
		t.Errorf("the second file begins %v before the disconnect", -back)
	}
	if p2.codec != "h264" || p2.width != 320 || p2.height != 180 {
		t.Errorf("second file is %s %dx%d, want h264 320x180", p2.codec, p2.width, p2.height)
	}
	// It lasts from the camera's return (before the status showed it) to
	// the stop.
	if minLen := stopSent.Sub(resumed).Seconds(); p2.duration < minLen-0.3 || p2.duration > stopSent.Sub(pressed).Seconds()+0.5 {
		t.Errorf("second file lasts %.2f s; recorded from the camera's return, at most %.2f s after the disconnect, to the stop %.2f s after it",
			p2.duration, resumed.Sub(pressed).Seconds(), stopSent.Sub(pressed).Seconds())
	}
	checkRate(t, "second file", p2.frames, p2.duration, fps, 2, getRecording(t, addr).Dropped)
}
