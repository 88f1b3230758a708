package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/v4l2"
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

// rawSource emits YUYV frames every period until ctx ends.
type rawSource struct {
	period time.Duration
	w, h   int
}

func (s *rawSource) Run(ctx context.Context, sink Sink) error {
	sink.Negotiated(Format{Name: "yuyv", Width: s.w, Height: s.h, FPS: 30})
	raw := yuyvFrame(s.w, s.h)
	for seq := uint64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.period):
		}
		sink.Frame(&Frame{Raw: raw, PixFmt: PixFmtYUYV, Width: s.w, Height: s.h, Seq: seq, Time: time.Now()})
	}
}

func TestCameraEncodesRawFramesOnlyForViewers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &rawSource{period: time.Second / 30, w: 32, h: 16}
		cam := NewCamera(CameraConfig{Name: "cam0", PreviewFPS: 5}, src, discardLog())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- cam.Run(ctx) }()

		rec := cam.FrameHub().Subscribe(100)
		defer rec.Close()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st := cam.Status()
		if st.FramesEncoded != 0 || cam.PreviewHub().Latest() != nil {
			t.Fatalf("nobody watching: %d frames encoded, preview latest %v; want none", st.FramesEncoded, cam.PreviewHub().Latest())
		}
		if n := len(rec.Frames()); n < 55 {
			t.Fatalf("frame hub got %d raw frames in 2 s, want all ~60", n)
		}
		if f := <-rec.Frames(); f.Raw == nil || f.Data != nil {
			t.Fatalf("frame hub frame: raw %d bytes, data %d bytes; want raw only", len(f.Raw), len(f.Data))
		}

		// A snapshot encodes the latest raw frame, once.
		snap, err := cam.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(snap.Data)); err != nil || cfg.Width != 32 || cfg.Height != 16 {
			t.Fatalf("snapshot: %v %+v", err, cfg)
		}
		again, _ := cam.Snapshot(t.Context())
		if again != snap || cam.Status().FramesEncoded != 1 {
			t.Fatalf("second snapshot of the same frame encoded again (%d encodes)", cam.Status().FramesEncoded)
		}

		// A viewer gets JPEGs at the preview rate.
		view := cam.PreviewHub().SubscribeClient(100)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		view.Close()
		n := len(view.Frames())
		if n < 9 || n > 11 {
			t.Fatalf("viewer got %d previews in 2 s, want 10 (preview_fps 5)", n)
		}
		f := <-view.Frames()
		if _, err := jpeg.Decode(bytes.NewReader(f.Data)); err != nil {
			t.Fatalf("preview frame: %v", err)
		}
		encoded := cam.Status().FramesEncoded
		time.Sleep(time.Second)
		synctest.Wait()
		if got := cam.Status().FramesEncoded; got != encoded {
			t.Fatalf("%d frames encoded after the viewer left, want 0", got-encoded)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// failSource fails every run with err after delivering frames frames.
type failSource struct {
	err    error
	frames int
	runs   atomic.Int32
}

func (s *failSource) Run(ctx context.Context, sink Sink) error {
	s.runs.Add(1)
	for i := range s.frames {
		sink.Frame(&Frame{Data: []byte{0xff, 0xd8, 0xff, 0xd9}, Seq: uint64(i), Time: time.Now()})
	}
	if s.frames > 0 {
		sink.(BufferErrorCounter).BufferError()
	}
	return s.err
}

func TestCameraDisconnectedRetriesFastAndLogsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gone := fmt.Errorf("v4l2 source: open camera /dev/video0: %w: %w", v4l2.ErrDisconnected, syscall.ENODEV)
		src := &failSource{err: gone}
		var logBuf testutil.SyncBuffer
		cam := NewCamera(CameraConfig{Name: "cam0"}, src, slog.New(slog.NewTextHandler(&logBuf, nil)))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- cam.Run(ctx) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		st := cam.Status()
		if st.State != StateDisconnected || st.Error != gone.Error() {
			t.Fatalf("status %+v, want disconnected with the error", st)
		}
		// 0.25 + 0.5 + 1 + 1 ...: about 11 tries in 10 s, never slower than 1 s.
		if n := src.runs.Load(); n < 10 || n > 12 {
			t.Fatalf("%d tries in 10 s, want about 11 (backoff capped at 1 s)", n)
		}
		if n := strings.Count(logBuf.String(), "state=disconnected"); n != 1 {
			t.Fatalf("%d log lines say disconnected, want 1:\n%s", n, logBuf.String())
		}
		if st.Restarts != 0 {
			t.Fatalf("restarts %d without a stream, want 0", st.Restarts)
		}
		cancel()
		<-done
	})
}

func TestCameraCountsRestartsAndCorruptFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &failSource{err: errors.New("dequeue frame from /dev/video0: input/output error"), frames: 3}
		cam := NewCamera(CameraConfig{Name: "cam0"}, src, discardLog())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- cam.Run(ctx) }()
		time.Sleep(2 * time.Second) // runs at 0, 0.5, 1.5 s
		synctest.Wait()
		st := cam.Status()
		if st.State != StateError || !strings.Contains(st.Error, "input/output error") {
			t.Fatalf("status %+v, want error with the driver's text", st)
		}
		if st.Restarts != 3 || st.FramesCorrupt != 3 || st.Frames != 9 {
			t.Fatalf("restarts %d corrupt %d frames %d, want 3, 3, 9", st.Restarts, st.FramesCorrupt, st.Frames)
		}
		cancel()
		<-done
	})
}

// TestCameraEvents: each change of state is published, with camera_lost
// when the camera fails and camera_found when it streams (again).
func TestCameraEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := events.NewBus(100)
		_, _, sub := bus.Subscribe(0, 100)
		defer sub.Close()
		src := &scriptSource{period: 10 * time.Millisecond, count: 3, failAfter: true}
		cam := NewCamera(CameraConfig{Name: "cam0", Device: "/dev/video9", Events: bus}, src, discardLog())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- cam.Run(ctx) }()
		time.Sleep(700 * time.Millisecond) // each run fails after 3 frames; the second starts after 0.5 s
		synctest.Wait()
		cancel()
		<-done
		var got []string
		for len(sub.Events()) > 0 {
			e := <-sub.Events()
			if e.Camera != "cam0" {
				t.Errorf("event of camera %q", e.Camera)
			}
			got = append(got, string(e.Type)+" "+e.State)
		}
		want := []string{
			"camera_state streaming", "camera_found streaming",
			"camera_state error", "camera_lost error",
			"camera_state streaming", "camera_found streaming",
			"camera_state error", "camera_lost error",
		}
		if !slices.Equal(got, want) {
			t.Errorf("events\n %q\nwant\n %q", got, want)
		}
	})
}
