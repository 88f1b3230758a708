package detect

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
)

// bus collects the events the stage publishes.
type bus struct {
	mu  sync.Mutex
	evs []events.Event
}

func (b *bus) Publish(e events.Event) {
	b.mu.Lock()
	b.evs = append(b.evs, e)
	b.mu.Unlock()
}

func (b *bus) all() []events.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]events.Event(nil), b.evs...)
}

// camera is a Source whose frames the test publishes.
type camera struct{ hub *pipeline.Hub }

func (c camera) FrameHub() *pipeline.Hub { return c.hub }

// render makes an MJPEG scene with ffmpeg's lavfi graph and returns its
// frames.
func render(t testing.TB, graph string, seconds string) [][]byte {
	t.Helper()
	ff := testutil.RequireTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", graph,
		"-t", seconds, "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", "-")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
	}
	rd := mjpeg.NewReader(&out, 8<<20)
	var frames [][]byte
	for {
		f, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, bytes.Clone(f))
	}
}

// boxScene is 640x360 at 30 fps for 12 s: colour bars with sensor noise, a
// light switched on at 3 s (brightness +0.25), and a white box crossing the
// picture from 7 s to 9 s.
const boxScene = "smptehdbars=s=640x360:r=30[bg];color=c=white:s=80x80:r=30[box];" +
	"[bg][box]overlay=x='if(between(t,7,9),-80+(t-7)*360,-1000)':y=140:eval=frame:shortest=1," +
	"eq=brightness='if(gte(t,3),0.25,0)':eval=frame,noise=alls=8:allf=t,format=yuvj422p"

// TestStageFindsTheBoxOnly feeds the stage's analyser a rendered scene
// with the frames' capture times 1/30 s apart: one event, starting within
// 0.5 s of the box's entry and ending within 0.5 s of its exit (its last
// frame with motion; motion_ended is published event_gap later), none for
// the light switched on; the event's peak frame has the box in it.
func TestStageFindsTheBoxOnly(t *testing.T) {
	frames := render(t, boxScene, "12")
	b := &bus{}
	st, err := New(Config{Camera: "cam0", Motion: motion.Config{Enabled: true, EventGap: 2 * time.Second}, Events: b},
		camera{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a := &analyser{stage: st, interval: time.Second / 5}
	t0 := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / 30) }
	for i, f := range frames {
		a.frame(&pipeline.Frame{Data: f, Seq: uint64(i), Time: at(i)})
	}
	a.flush()
	evs := b.all()
	if len(evs) != 2 || evs[0].Type != events.MotionStarted || evs[1].Type != events.MotionEnded {
		t.Fatalf("events %+v, want one motion_started and one motion_ended", evs)
	}
	entry, exit := t0.Add(7*time.Second), t0.Add(9*time.Second)
	if d := evs[0].Time.Sub(entry); d < 0 || d > 500*time.Millisecond {
		t.Errorf("motion started at %v after the box's entry, want 0 to 0.5 s", d)
	}
	if d := evs[1].Time.Sub(exit); d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("motion's last frame %v from the box's exit, want within 0.5 s", d)
	}
	s := st.Status()
	if s.Events != 1 || s.FramesAnalysed < 55 || s.Error != "" || s.Active {
		t.Errorf("status %+v", s)
	}
	peak := st.PeakFrame()
	if peak == nil || peak.Time.Before(entry) || peak.Time.After(exit) {
		t.Errorf("the event's peak frame %v is not one with the box (entry %v, exit %v)", peak, entry, exit)
	}
	t.Logf("started %v after entry, last motion %v from exit, peak %.2f %% at %v", evs[0].Time.Sub(entry),
		evs[1].Time.Sub(exit), evs[1].Score, peak.Time.Sub(t0))
}

// TestStageRun: the stage subscribes to the camera's frames, publishes an
// event and, at shutdown, ends an open event; a frame it cannot analyse
// (an H.264 access unit) shows in its status.
func TestStageRun(t *testing.T) {
	frames := render(t, boxScene, "9")
	hub := pipeline.NewHub()
	b := &bus{}
	st, err := New(Config{Camera: "cam0", Motion: motion.Config{Enabled: true, EventGap: time.Minute}, Events: b},
		camera{hub}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, "the stage to subscribe", func() bool { return hub.Subscribers() == 1 })
	t0 := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	// Every 6th frame (the stage analyses 5 of 30 a second), each once
	// the one before was analysed: a camera's pace is not what this test
	// is about.
	n := uint64(0)
	for i := 0; i < len(frames); i += 6 {
		hub.Publish(&pipeline.Frame{Data: frames[i], Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second / 30)})
		n++
		testutil.Eventually(t, 10*time.Second, "the stage to analyse the frame", func() bool { return st.Status().FramesAnalysed == n })
	}
	testutil.Eventually(t, 10*time.Second, "motion_started", func() bool { return len(b.all()) == 1 })
	hub.Publish(&pipeline.Frame{Raw: []byte{0, 0, 1, 0x65}, PixFmt: "h264", Time: t0.Add(10 * time.Second)})
	testutil.Eventually(t, 10*time.Second, "the H.264 frame's error in the status", func() bool {
		return st.Status().Error == errH264.Error()
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := b.all()
	if len(evs) != 2 || evs[1].Type != events.MotionEnded {
		t.Fatalf("events after shutdown: %+v, want motion_started then motion_ended", evs)
	}
	if hub.Subscribers() != 0 {
		t.Error("the stage is still subscribed after Run returned")
	}
}

// TestYUYVLuma: the mean Y of each 8x8 block, partial blocks at the edges
// included.
func TestYUYVLuma(t *testing.T) {
	const w, h = 20, 10 // blocks of 8x8, 8x8, 4x8; 8x2, 8x2, 4x2
	raw := make([]byte, 2*w*h)
	for y := range h {
		for x := range w {
			raw[2*(y*w+x)] = byte(10*(x/8) + 100*(y/8)) // Y
			raw[2*(y*w+x)+1] = 0xAB                     // U or V: ignored
		}
	}
	dst := make([]byte, 3*2)
	if err := yuyvLuma(dst, raw, w, h); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 10, 20, 100, 110, 120}; !bytes.Equal(dst, want) {
		t.Fatalf("luma %v, want %v", dst, want)
	}
	if err := yuyvLuma(dst, raw[:10], w, h); err == nil {
		t.Fatal("a short frame was read")
	}
}

// TestIdleCameraEndsTheEvent: an event open when the camera stops sending
// frames ends once no frame has come for event_gap (at its last motion),
// not before.
func TestIdleCameraEndsTheEvent(t *testing.T) {
	frames := render(t, boxScene, "8.5")
	b := &bus{}
	st, err := New(Config{Camera: "cam0", Motion: motion.Config{Enabled: true, EventGap: 2 * time.Second}, Events: b},
		camera{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a := &analyser{stage: st, interval: time.Second / 5}
	t0 := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	for i, f := range frames { // the box is in the picture when the camera stops
		a.frame(&pipeline.Frame{Data: f, Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second / 30)})
	}
	if !st.Status().Active {
		t.Fatal("no event open when the camera stops")
	}
	stopped := time.Now()
	a.lastFrame = stopped
	a.idle(stopped.Add(1900 * time.Millisecond))
	if !st.Status().Active || len(b.all()) != 1 {
		t.Fatalf("the event ended before event_gap without frames: %+v", b.all())
	}
	a.idle(stopped.Add(2 * time.Second))
	evs := b.all()
	if st.Status().Active || len(evs) != 2 || evs[1].Type != events.MotionEnded {
		t.Fatalf("after event_gap without frames: active %v, events %+v", st.Status().Active, evs)
	}
}

// TestYUYVSnapshot: a YUYV frame's snapshot is a JPEG of its size whose
// luma is the frame's.
func TestYUYVSnapshot(t *testing.T) {
	const w, h = 64, 32
	raw := make([]byte, 2*w*h)
	for y := range h {
		for x := range w {
			raw[2*(y*w+x)] = byte(40 + 150*(x/32)) // Y: dark left half, bright right half
			raw[2*(y*w+x)+1] = 128
		}
	}
	jpg, err := snapshotJPEG(&pipeline.Frame{Raw: raw, PixFmt: "yuyv422", Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	ycc, ok := img.(*image.YCbCr)
	if !ok || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Fatalf("snapshot %T %v, want a %dx%d YCbCr JPEG", img, img.Bounds(), w, h)
	}
	for _, p := range []struct{ x, y, want int }{{8, 8, 40}, {56, 20, 190}} {
		if got := int(ycc.Y[ycc.YOffset(p.x, p.y)]); got < p.want-4 || got > p.want+4 {
			t.Errorf("luma at (%d,%d) = %d, want %d ± 4", p.x, p.y, got, p.want)
		}
	}
	if _, err := snapshotJPEG(&pipeline.Frame{Raw: raw[:10], PixFmt: "yuyv422", Width: w, Height: h}); err == nil {
		t.Error("a short frame made a snapshot")
	}
}
