package vmtest

import (
	"errors"
	"testing"
	"time"

	"github.com/camrec/camrec/v4l2"
)

// TestV4L2DeviceVividTimestamps reads vivid through package v4l2 directly:
// YUYV frames of the negotiated size, the driver's sequence numbers, and
// capture times from the driver's buffer timestamps (frames that waited in
// the queue keep the time they were captured); a buffer flagged
// V4L2_BUF_FLAG_ERROR gives ErrCorruptFrame and reading goes on.
func TestV4L2DeviceVividTimestamps(t *testing.T) {
	needVM(t)
	dev, err := v4l2.Open(vividNode, v4l2.Request{Format: v4l2.FormatYUYV, Width: 320, Height: 180, FPS: 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	mode := dev.Negotiated()
	if mode.Format != v4l2.FormatYUYV || mode.Width != 320 || mode.Height != 180 || mode.Stride != 640 {
		t.Fatalf("mode %+v, want yuyv 320x180 stride 640", mode)
	}
	const n = 30
	var frames []v4l2.Frame
	for len(frames) < n {
		f, err := dev.Next(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Data) != 320*180*2 {
			t.Fatalf("frame of %d bytes, want %d", len(f.Data), 320*180*2)
		}
		frames = append(frames, f)
	}
	if age := time.Since(frames[n-1].Time); age < 0 || age > time.Second {
		t.Errorf("last frame's time is %v before now, want a recent past", age)
	}
	for i := 1; i < n; i++ {
		if frames[i].Sequence != frames[i-1].Sequence+1 {
			t.Errorf("sequence %d after %d", frames[i].Sequence, frames[i-1].Sequence)
		}
	}
	// Let the driver fill all its buffers, then dequeue them at once: the
	// times of dequeue are a millisecond apart, the capture times a frame
	// interval apart.
	time.Sleep(300 * time.Millisecond)
	var queued []v4l2.Frame
	var dequeuedAt []time.Time
	for range 3 {
		f, err := dev.Next(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, f)
		dequeuedAt = append(dequeuedAt, time.Now())
	}
	for i := 1; i < len(queued); i++ {
		captured, dequeued := queued[i].Time.Sub(queued[i-1].Time), dequeuedAt[i].Sub(dequeuedAt[i-1])
		t.Logf("queued frame %d: captured %v after the previous one, dequeued %v after it", queued[i].Sequence,
			captured.Round(100*time.Microsecond), dequeued.Round(100*time.Microsecond))
		// The driver's timestamps, not the dequeue's: at 30 fps the frames
		// were captured at least ~33 ms apart (a busy VM may make it more).
		if captured < 15*time.Millisecond {
			t.Errorf("queued frames captured %v apart, want at least about 33 ms (the driver's timestamps)", captured)
		}
	}
	if lag := dequeuedAt[0].Sub(queued[0].Time); lag < 100*time.Millisecond {
		t.Errorf("first queued frame dequeued %v after its capture time, want at least 100 ms (it waited in the queue)", lag)
	}

	pressVividButton(t, vividInjectBufError)
	var corrupt int
	for i := 0; i < 10; i++ {
		_, err := dev.Next(t.Context(), nil)
		switch {
		case errors.Is(err, v4l2.ErrCorruptFrame):
			corrupt++
		case err != nil:
			t.Fatal(err)
		}
	}
	if corrupt != 1 {
		t.Errorf("%d corrupt frames after one injected buffer error, want 1", corrupt)
	}
}
