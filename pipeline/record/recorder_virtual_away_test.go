// The camera going away and coming back, on virtual time (see
// recorder_virtual_test.go).

package record

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// TestVirtualCameraAway: a camera that goes away for a while and comes
// back. Depending on how it goes away, its file is finished and the
// recording goes on in a new file linked to it, or (a camera that only
// slowed down) the same file goes on; each file lasts as long as the
// camera delivered into it (a camera without a state stalls for
// StallTimeout, within stallGrace: no filler is kept).
func TestVirtualCameraAway(t *testing.T) {
	const before, after = time.Second, time.Second
	const frame = time.Second / vtFPS
	tests := []struct {
		name    string
		status  bool          // the source reports a state
		state   string        // its state while away
		restart bool          // its restart count moves
		gap     time.Duration // how long it is away
		stall   time.Duration // StallTimeout
		// the files' durations; one file when the same file goes on
		want []time.Duration
	}{
		{name: "disconnected", status: true, state: pipeline.StateDisconnected, restart: true, gap: 3 * time.Second,
			want: []time.Duration{before, after}},
		{name: "replugged faster than a tick", status: true, state: pipeline.StateStreaming, restart: true, gap: 300 * time.Millisecond,
			want: []time.Duration{before, after}},
		{name: "stalled without a state", gap: 1800 * time.Millisecond, stall: time.Second,
			want: []time.Duration{before, after}},
		{name: "slowed down", status: true, state: pipeline.StateStreaming, gap: 400 * time.Millisecond,
			want: []time.Duration{before + 400*time.Millisecond + after}},
	}
	frames := rtFrames(t)
	mk := func(seq uint64) *pipeline.Frame { return &pipeline.Frame{Data: frames[seq%uint64(len(frames))]} }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := rtSource{hub: pipeline.NewHub(), fps: vtFPS}
				cam := &rtCamSource{rtSource: base, st: pipeline.CameraStatus{State: pipeline.StateStreaming}}
				var src FrameSource = &base
				if tt.status {
					src = cam
				}
				e := vtRun(t, RecorderConfig{StallTimeout: tt.stall}, &fakeEncoders{}, src)
				base.hub.Publish(rtNow(mk(0)))
				published := rtGoPublishFor(base.hub, vtFPS, before, 1, mk)
				e.set(t, true)
				seq := <-published
				cam.set(tt.state, tt.restart)
				time.Sleep(tt.gap)
				cam.set(pipeline.StateStreaming, false)
				rtPublishFor(base.hub, vtFPS, after, seq, mk)
				e.set(t, false)

				files := e.files()
				var got []time.Duration
				for i, f := range files {
					got = append(got, time.Duration(f.DurationS*float64(time.Second)).Round(time.Millisecond))
					if f.State != store.RecStateComplete {
						t.Errorf("file %d: %s (%s)", i, f.State, f.Error)
					}
					if i > 0 && (files[i-1].NextID != f.ID || f.PrevID != files[i-1].ID) {
						t.Errorf("files %d and %d not linked", i-1, i)
					}
				}
				if len(got) != len(tt.want) {
					t.Fatalf("files of %v, want %v", got, tt.want)
				}
				for i := range got {
					if d := got[i] - tt.want[i]; d < -frame || d > frame {
						t.Errorf("file %d lasts %v, want %v (± one frame)", i, got[i], tt.want[i])
					}
				}
			})
		})
	}
}
