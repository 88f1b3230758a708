package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// scriptSource emits frames every period for count frames, then blocks
// until ctx ends (a stalled camera) or, if failAfter, returns an error.
type scriptSource struct {
	period    time.Duration
	count     int
	invalid   int
	failAfter bool
	runs      atomic.Int32
}

func (s *scriptSource) Run(ctx context.Context, sink Sink) error {
	s.runs.Add(1)
	sink.Negotiated(Format{Name: "mjpeg", Width: 64, Height: 48})
	for i := range s.count {
		wait := s.period
		if i == 0 {
			wait /= 2 // keep frames off the camera's one-second ticks
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if i < s.invalid {
			sink.Invalid()
			continue
		}
		sink.Frame(&Frame{Data: []byte{0xff, 0xd8, 0xff, 0xd9}, Seq: uint64(i), Time: time.Now()})
	}
	if s.failAfter {
		return errors.New("device went away")
	}
	<-ctx.Done()
	return nil
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestCameraStatesAndCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scriptSource{period: 100 * time.Millisecond, count: 50, invalid: 2}
		cam := NewCamera(CameraConfig{Name: "cam0", Device: "test:", FPS: 10, StallAfter: 3 * time.Second}, src, discardLog())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- cam.Run(ctx) }()

		if st := cam.Status(); st.State != StateStarting {
			t.Fatalf("state %q before the first frame, want starting", st.State)
		}
		time.Sleep(2520 * time.Millisecond)
		synctest.Wait()
		st := cam.Status()
		if st.State != StateStreaming || st.Width != 64 || st.FPSTarget != 10 {
			t.Fatalf("status %+v, want streaming 64 wide at fps_target 10", st)
		}
		if st.FramesInvalid != 2 || st.Frames != 23 {
			t.Fatalf("frames %d invalid %d, want 23 and 2", st.Frames, st.FramesInvalid)
		}
		if st.FPSMeasured < 9.5 || st.FPSMeasured > 10.5 {
			t.Fatalf("fps_measured %v, want 10", st.FPSMeasured)
		}
		// 50 frames end at 5 s; 3 s later the camera is stalled.
		time.Sleep(5*time.Second + 3*time.Second)
		synctest.Wait()
		if st := cam.Status(); st.State != StateStalled {
			t.Fatalf("state %q 3 s after the last frame, want stalled", st.State)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v after cancel, want nil", err)
		}
	})
}

func TestCameraRestartsFailedSourceWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scriptSource{period: 10 * time.Millisecond, count: 1, failAfter: true}
		cam := NewCamera(CameraConfig{Name: "cam0", Device: "/dev/video9"}, src, discardLog())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- cam.Run(ctx) }()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if st := cam.Status(); st.State != StateError || st.Error != "device went away" {
			t.Fatalf("status %+v, want error with the source's message", st)
		}
		// Backoff 0.5, 1, 2, 4, 8 s: 6 runs within 16 s, not hundreds.
		time.Sleep(16 * time.Second)
		if n := src.runs.Load(); n < 5 || n > 7 {
			t.Fatalf("%d runs in 16 s, want about 6 (exponential backoff)", n)
		}
		cancel()
		<-done
	})
}
