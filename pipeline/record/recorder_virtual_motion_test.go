package record

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestVirtualMotionTrigger, on virtual time: a recording started by motion
// (the recording mode "events") begins pre_record before the motion's
// first frame although it is asked for 0.4 s later, and says trigger
// motion; a user's Record while it runs makes it theirs (motion's end
// does not stop it), their Stop stops it; a user's Stop also ends a
// recording motion started, and motion's late end then changes nothing.
func TestVirtualMotionTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pre = 2 * time.Second
		e := vtStart(t, RecorderConfig{PreRecord: pre, OnMotion: true}, &fakeEncoders{})
		time.Sleep(5 * time.Second)
		ctx := context.Background()
		motionAt := time.Now().Add(-400 * time.Millisecond)
		if err := e.r.SetMotion(ctx, true, motionAt); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := e.r.Status(); !st.Active || st.Trigger != TriggerMotion {
			t.Fatalf("after motion: active %v trigger %q, want a motion recording", st.Active, st.Trigger)
		}
		time.Sleep(time.Second)
		e.set(t, true)
		if st := e.r.Status(); !st.Active || st.Trigger != TriggerManual {
			t.Errorf("after Record: trigger %q, want manual", st.Trigger)
		}
		if err := e.r.SetMotion(ctx, false, time.Time{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := e.r.Status(); !st.Active {
			t.Error("motion's end stopped a recording the user asked for")
		}
		time.Sleep(time.Second)
		e.set(t, false)
		files := e.files()
		if len(files) != 1 {
			t.Fatalf("%d files, want 1", len(files))
		}
		if !files[0].StartedAt.Equal(motionAt.Add(-pre)) {
			t.Errorf("the file starts %v before the motion, want pre_record %v", motionAt.Sub(files[0].StartedAt), pre)
		}

		if err := e.r.SetMotion(ctx, true, time.Now()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		e.set(t, false)
		if st := e.r.Status(); st.Active || st.Trigger != "" {
			t.Errorf("Stop during motion: active %v trigger %q, want stopped", st.Active, st.Trigger)
		}
		if err := e.r.SetMotion(ctx, false, time.Time{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := e.r.Status(); st.Active || len(e.files()) != 2 {
			t.Errorf("after motion's late end: active %v, %d files; want idle, 2 files", st.Active, len(e.files()))
		}
	})
}
