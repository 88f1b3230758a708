package pipeline

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
)

// srcSink collects what a source delivers. The helpers in this file serve
// the tests of all sources in source_*_test.go.
type srcSink struct {
	mu       sync.Mutex
	formats  []Format
	frames   []*Frame
	invalid  int
	notified chan struct{} // gets a token per event, never blocks
}

func newSrcSink() *srcSink { return &srcSink{notified: make(chan struct{}, 1)} }

func (s *srcSink) poke() {
	select {
	case s.notified <- struct{}{}:
	default:
	}
}

func (s *srcSink) Negotiated(f Format) {
	s.mu.Lock()
	s.formats = append(s.formats, f)
	s.mu.Unlock()
	s.poke()
}

func (s *srcSink) Frame(f *Frame) {
	s.mu.Lock()
	s.frames = append(s.frames, f)
	s.mu.Unlock()
	s.poke()
}

func (s *srcSink) Invalid() {
	s.mu.Lock()
	s.invalid++
	s.mu.Unlock()
	s.poke()
}

func (s *srcSink) snapshot() (formats []Format, frames []*Frame, invalid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Format(nil), s.formats...), append([]*Frame(nil), s.frames...), s.invalid
}

// waitFrames waits until the sink holds n frames and returns them.
func (s *srcSink) waitFrames(t testing.TB, n int, within time.Duration) []*Frame {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		if _, frames, _ := s.snapshot(); len(frames) >= n {
			return frames
		}
		select {
		case <-s.notified:
		case <-deadline.C:
			_, frames, invalid := s.snapshot()
			t.Fatalf("got %d frames (%d invalid) within %v, want %d", len(frames), invalid, within, n)
		}
	}
}

// runSource runs src in a goroutine; stop cancels it and returns Run's
// result and how long Run took to return after the cancel.
func runSource(t testing.TB, src Source, sink Sink) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	stopped := false
	stop = func() error {
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return within 20 s of the cancel")
			return nil
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return stop
}

// srcNeedFFmpeg returns the path of ffmpeg. Without it the test is skipped,
// or fails when env CI is set.
func srcNeedFFmpeg(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ffmpeg is required in CI: %v", err)
		}
		t.Skipf("ffmpeg not found: %v", err)
	}
	return path
}

// ffmpegDecodeErrors decodes an MJPEG stream with real ffmpeg and returns
// what it printed at level error.
func ffmpegDecodeErrors(t testing.TB, stream []byte) string {
	t.Helper()
	cmd := exec.Command(srcNeedFFmpeg(t), "-hide_banner", "-nostdin", "-v", "error",
		"-f", "mjpeg", "-i", "pipe:0", "-f", "null", "-")
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	return stderr.String()
}

func srcDiscardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func decodeJPEG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

func TestTestSourceFrames(t *testing.T) {
	for _, size := range []image.Point{{1280, 720}, {1920, 1080}, {642, 362}, {100, 40}} {
		t.Run(size.String(), func(t *testing.T) {
			src, err := NewPatternSource(SourceOptions{Width: size.X, Height: size.Y, FPS: 100, Log: srcDiscardLog()})
			if err != nil {
				t.Fatal(err)
			}
			sink := newSrcSink()
			stop := runSource(t, src, sink)
			frames := sink.waitFrames(t, 5, 20*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run = %v", err)
			}
			formats, _, invalid := sink.snapshot()
			want := Format{Name: "mjpeg", Width: size.X, Height: size.Y, FPS: 100}
			if len(formats) != 1 || formats[0] != want || invalid != 0 {
				t.Fatalf("negotiated %v, %d invalid; want [%v], 0", formats, invalid, want)
			}
			var prev image.Image
			for i, f := range frames {
				img := decodeJPEG(t, f.Data)
				if img.Bounds().Size() != size {
					t.Fatalf("frame %d decodes to %v", i, img.Bounds().Size())
				}
				if w, h, err := mjpeg.Size(f.Data); err != nil || w != size.X || h != size.Y {
					t.Fatalf("frame %d: mjpeg.Size = %d, %d, %v", i, w, h, err)
				}
				com, _ := mjpeg.Comment(f.Data)
				seq, ts, ok := mjpeg.ParseCamrecComment(com)
				if !ok || seq != uint64(i) || f.Seq != uint64(i) || ts != f.Time.UnixNano() {
					t.Fatalf("frame %d: comment %q, Seq %d, Time %d", i, com, f.Seq, f.Time.UnixNano())
				}
				if i > 0 && !f.Time.After(frames[i-1].Time) {
					t.Fatalf("frame %d: time %v not after %v", i, f.Time, frames[i-1].Time)
				}
				if prev != nil && samePixels(prev, img) {
					t.Fatalf("frame %d looks like frame %d: the picture does not move", i, i-1)
				}
				prev = img
			}
		})
	}
}

func samePixels(a, b image.Image) bool {
	ya, yb := a.(*image.YCbCr), b.(*image.YCbCr)
	return bytes.Equal(ya.Y, yb.Y) && bytes.Equal(ya.Cb, yb.Cb) && bytes.Equal(ya.Cr, yb.Cr)
}

// TestTestSourceDecodesWithFFmpeg feeds a few hundred frames to real
// ffmpeg, which must decode them without a word at level error.
func TestTestSourceDecodesWithFFmpeg(t *testing.T) {
	srcNeedFFmpeg(t)
	for _, size := range []image.Point{{1280, 720}, {642, 362}} {
		pat, err := newTestPattern(size.X, size.Y)
		if err != nil {
			t.Fatal(err)
		}
		var stream []byte
		at := time.Date(2026, 11, 25, 10, 53, 26, 0, time.Local)
		for seq := range uint64(300) {
			stream = pat.appendFrame(stream, seq, at.Add(time.Duration(seq)*33*time.Millisecond))
		}
		if out := ffmpegDecodeErrors(t, stream); out != "" {
			t.Fatalf("%v: ffmpeg reported errors:\n%s", size, out)
		}
	}
}

// TestTestSourceShowsFrameNumber checks the caption crudely: the text box
// changes with the frame number and not with anything else, and the picture
// writes to /tmp/testframe.png for a look by eye.
func TestTestSourceShowsFrameNumber(t *testing.T) {
	pat, err := newTestPattern(1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 53, 26, 123e6, time.Local)
	box := image.Rect(0, 0, 16*(2+50), 16*4)
	frameDigits := image.Rect(16*(1+19), 16, 16*(1+25), 48) // "000123"
	timeDigits := image.Rect(16*(1+27), 16, 16*(1+50), 48)
	decodeAt := func(seq uint64, when time.Time) *image.YCbCr {
		return decodeJPEG(t, pat.appendFrame(nil, seq, when)).(*image.YCbCr)
	}
	a := decodeAt(123, at)
	b := decodeAt(124, at)
	c := decodeAt(123+huePeriod, at) // same background as a, other number
	d := decodeAt(123, at.Add(time.Second))
	if sameLuma(a, b, frameDigits) || sameLuma(a, c, frameDigits) {
		t.Error("the frame number area does not change with the frame number")
	}
	if !sameLuma(a, c, timeDigits) {
		t.Error("the time area changes with the frame number alone")
	}
	if sameLuma(a, d, timeDigits) || !sameLuma(a, d, frameDigits) {
		t.Error("the time area does not follow the time, or the number area does")
	}
	if sameLuma(a, b, image.Rect(0, 16*6, 1280, 720)) {
		t.Error("the background does not move")
	}
	if !sameLuma(a, c, image.Rect(0, 16*6, 1280, 720)) {
		t.Errorf("the background does not repeat every %d frames", huePeriod)
	}
	if lumaMean(a, box) > 96 {
		t.Errorf("text box mean luma %d: want dark", lumaMean(a, box))
	}
	f, err := os.Create("/tmp/testframe.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, a); err != nil {
		t.Fatal(err)
	}
}

func sameLuma(a, b *image.YCbCr, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		if !bytes.Equal(a.Y[a.YOffset(r.Min.X, y):a.YOffset(r.Max.X, y)], b.Y[b.YOffset(r.Min.X, y):b.YOffset(r.Max.X, y)]) {
			return false
		}
	}
	return true
}

func lumaMean(a *image.YCbCr, r image.Rectangle) int {
	sum := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += int(a.Y[a.YOffset(x, y)])
		}
	}
	return sum / (r.Dx() * r.Dy())
}

func TestTestSourcePacing(t *testing.T) {
	src, err := NewPatternSource(SourceOptions{Width: 320, Height: 240, FPS: 50, Log: srcDiscardLog()})
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		sink := newSrcSink()
		stop := runSource(t, src, sink)
		frames := sink.waitFrames(t, 26, 20*time.Second)
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
		// 25 periods of 20 ms: at 50 fps the span is at least 500 ms (a
		// busy machine may make it longer, never shorter).
		if span := frames[25].Time.Sub(frames[0].Time); span < 480*time.Millisecond {
			t.Errorf("run %d: 25 periods took %v, want at least 500ms", run, span)
		}
		if run == 1 && frames[0].Seq < 26 {
			t.Errorf("second Run started at seq %d: seq must keep increasing", frames[0].Seq)
		}
		for i := 1; i < len(frames); i++ {
			if frames[i].Seq != frames[i-1].Seq+1 {
				t.Fatalf("seq %d after %d", frames[i].Seq, frames[i-1].Seq)
			}
		}
	}
}

func TestTestSourceCaption(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 53, 26, 123e6, time.Local)
	tests := []struct {
		width int
		seq   uint64
		want  []string
	}{
		{1280, 123, []string{"camrec test  frame 000123  2026-11-25 10:53:26.123"}},
		{1280, 12345678, []string{"camrec test  frame 12345678  2026-11-25 10:53:26.123"}},
		{642, 7, []string{"camrec test  frame 000007", "2026-11-25 10:53:26.123"}},
		{200, 7, []string{"camrec test", "2026-11-25 "}},
	}
	for _, tt := range tests {
		pat, err := newTestPattern(tt.width, 200)
		if err != nil {
			t.Fatal(err)
		}
		lines, n := pat.text(nil, tt.seq, at)
		var got []string
		for _, l := range lines[:n] {
			got = append(got, string(l))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("width %d: caption %q, want %q", tt.width, got, tt.want)
		}
	}
}

func BenchmarkTestSourceFrame(b *testing.B) {
	pat, err := newTestPattern(1280, 720)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var scratch []byte
	now := time.Now()
	var seq uint64
	for b.Loop() {
		// What Run does per frame: build, then one copy the frame owns.
		scratch = pat.appendFrame(scratch[:0], seq, now)
		_ = bytes.Clone(scratch)
		seq++
	}
	b.ReportMetric(float64(len(scratch)), "frame_bytes")
}
