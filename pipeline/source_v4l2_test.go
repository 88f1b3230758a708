package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/v4l2"
)

// read is one result of ReadFrame.
type read struct {
	data []byte
	err  error
}

// scriptedDevice plays back reads, then blocks until ctx is done, like a
// camera that stopped sending.
type scriptedDevice struct {
	mode   v4l2.Mode
	reads  []read
	mu     sync.Mutex
	closed int
}

func (d *scriptedDevice) Negotiated() v4l2.Mode { return d.mode }

func (d *scriptedDevice) Next(ctx context.Context, idle func()) (v4l2.Frame, error) {
	if len(d.reads) == 0 {
		<-ctx.Done()
		return v4l2.Frame{}, ctx.Err()
	}
	r := d.reads[0]
	d.reads = d.reads[1:]
	return v4l2.Frame{Data: r.data, Time: time.Now()}, r.err
}

func (d *scriptedDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed++
	return nil
}

func (d *scriptedDevice) closes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// recSink records what a source delivers.
type recSink struct {
	mu      sync.Mutex
	formats []Format
	frames  []*Frame
	invalid int
}

func (s *recSink) Negotiated(f Format) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.formats = append(s.formats, f)
}

func (s *recSink) Frame(f *Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, f)
}

func (s *recSink) Invalid() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalid++
}

func (s *recSink) frameCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

func encodeJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// sourceWith returns a V4L2Source whose opens hand out devs in turn.
func sourceWith(t *testing.T, opts SourceOptions, devs ...*scriptedDevice) (*V4L2Source, *[]v4l2.Request) {
	t.Helper()
	s := NewV4L2Source("/dev/v4l/by-id/usb-Test_Cam-video-index0", opts)
	var reqs []v4l2.Request
	s.open = func(path string, req v4l2.Request, log *slog.Logger) (v4l2Device, error) {
		reqs = append(reqs, req)
		if len(devs) == 0 {
			t.Fatal("unexpected open")
		}
		d := devs[0]
		devs = devs[1:]
		return d, nil
	}
	return s, &reqs
}

func TestV4L2SourceDeliversFramesAndFails(t *testing.T) {
	big, small := encodeJPEG(t, 64, 48), encodeJPEG(t, 32, 16)
	dev := &scriptedDevice{
		mode: v4l2.Mode{Format: "mjpeg", FourCC: "MJPG", Width: 640, Height: 480, FPS: 30},
		reads: []read{
			{err: v4l2.ErrInvalidFrame}, // before the first valid one
			{data: big},
			{err: v4l2.ErrInvalidFrame},
			{data: small},
			{err: errors.Join(v4l2.ErrDisconnected, syscall.ENODEV)},
		},
	}
	src, reqs := sourceWith(t, SourceOptions{Width: 640, Height: 480, FPS: 30, Log: discard()}, dev)
	sink := &recSink{}
	err := src.Run(t.Context(), sink)
	if !errors.Is(err, v4l2.ErrDisconnected) || !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Run = %v, want ErrDisconnected wrapping ENODEV", err)
	}
	if got, want := (*reqs)[0], (v4l2.Request{Format: "auto", Width: 640, Height: 480, FPS: 30}); got != want {
		t.Errorf("open request = %+v, want %+v", got, want)
	}
	// The size comes from the first frame's SOF, not from what was set.
	if want := []Format{{Name: "mjpeg", Width: 64, Height: 48, FPS: 30}}; len(sink.formats) != 1 || sink.formats[0] != want[0] {
		t.Errorf("formats = %+v, want %+v", sink.formats, want)
	}
	if len(sink.frames) != 2 || !bytes.Equal(sink.frames[0].Data, big) || !bytes.Equal(sink.frames[1].Data, small) {
		t.Fatalf("got %d frames, want the two valid ones in order", len(sink.frames))
	}
	for i, f := range sink.frames {
		if f.Seq != uint64(i) || f.Time.IsZero() {
			t.Errorf("frame %d: seq %d time %v", i, f.Seq, f.Time)
		}
	}
	if sink.invalid != 2 {
		t.Errorf("invalid = %d, want 2", sink.invalid)
	}
	if dev.closes() != 1 {
		t.Errorf("device closed %d times, want 1", dev.closes())
	}
}

func TestV4L2SourceSeqAcrossReopens(t *testing.T) {
	jpg := encodeJPEG(t, 16, 16)
	fail := read{err: syscall.EIO}
	mode := v4l2.Mode{Format: "mjpeg", Width: 16, Height: 16}
	d1 := &scriptedDevice{mode: mode, reads: []read{{data: jpg}, {data: jpg}, fail}}
	d2 := &scriptedDevice{mode: mode, reads: []read{{data: jpg}, fail}}
	src, reqs := sourceWith(t, SourceOptions{Log: discard()}, d1, d2)
	sink := &recSink{}
	for range 2 {
		if err := src.Run(t.Context(), sink); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Run = %v, want EIO", err)
		}
	}
	var seqs []uint64
	for _, f := range sink.frames {
		seqs = append(seqs, f.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 0 || seqs[1] != 1 || seqs[2] != 2 {
		t.Errorf("seqs = %v, want [0 1 2]", seqs)
	}
	if len(sink.formats) != 2 {
		t.Errorf("Negotiated called %d times, want once per open", len(sink.formats))
	}
	if got, want := (*reqs)[0], (v4l2.Request{Format: "auto", Width: DefaultWidth, Height: DefaultHeight, FPS: DefaultFPS}); got != want {
		t.Errorf("open request with zero options = %+v, want the defaults %+v", got, want)
	}
	if d1.closes() != 1 || d2.closes() != 1 {
		t.Errorf("closes = %d, %d; want 1, 1", d1.closes(), d2.closes())
	}
}

func TestV4L2SourceNoSOFUsesSetSize(t *testing.T) {
	dev := &scriptedDevice{
		mode:  v4l2.Mode{Format: "mjpeg", Width: 320, Height: 240, FPS: 15},
		reads: []read{{data: []byte{0xFF, 0xD8, 0xFF, 0xD9}}, {err: syscall.EIO}},
	}
	src, _ := sourceWith(t, SourceOptions{Log: discard()}, dev)
	sink := &recSink{}
	_ = src.Run(t.Context(), sink)
	if want := (Format{Name: "mjpeg", Width: 320, Height: 240, FPS: 15}); len(sink.formats) != 1 || sink.formats[0] != want {
		t.Errorf("formats = %+v, want %+v", sink.formats, want)
	}
}

func TestV4L2SourceStopsOnCancel(t *testing.T) {
	jpg := encodeJPEG(t, 16, 16)
	dev := &scriptedDevice{mode: v4l2.Mode{Format: "mjpeg"}, reads: []read{{data: jpg}}}
	src, _ := sourceWith(t, SourceOptions{}, dev) // nil Log is allowed
	sink := &recSink{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	deadline := time.Now().Add(5 * time.Second)
	for sink.frameCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if sink.frameCount() != 1 {
		t.Fatal("no frame before cancel")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if dev.closes() != 1 {
		t.Errorf("device closed %d times, want 1", dev.closes())
	}
}

// TestV4L2SourceOpenFails uses the real v4l2.Open: a missing device and a
// file that is not a V4L2 device both fail Run with the cause wrapped, and
// deliver nothing.
func TestV4L2SourceOpenFails(t *testing.T) {
	dir := t.TempDir()
	notDev := filepath.Join(dir, "video0")
	if err := writeEmpty(notDev); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "video7"), fs.ErrNotExist},
		{notDev, syscall.ENOTTY},
	}
	for _, tt := range tests {
		sink := &recSink{}
		err := NewV4L2Source(tt.path, SourceOptions{Width: 640, Height: 480, FPS: 30, Log: discard()}).Run(t.Context(), sink)
		if !errors.Is(err, tt.want) {
			t.Errorf("Run(%s) = %v, want %v", tt.path, err, tt.want)
		}
		if len(sink.formats)+len(sink.frames)+sink.invalid != 0 {
			t.Errorf("Run(%s) delivered something: %+v", tt.path, sink)
		}
	}
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o600) }

// hookRecorder records ControlHook calls.
type hookRecorder struct{ calls []string }

func (h *hookRecorder) Opened(*v4l2.Device) { h.calls = append(h.calls, "opened") }
func (h *hookRecorder) Serve(*v4l2.Device)  { h.calls = append(h.calls, "serve") }
func (h *hookRecorder) Closed()             { h.calls = append(h.calls, "closed") }

// countingSink is a recSink that also counts corrupt buffers.
type countingSink struct {
	recSink
	corrupt int
}

func (s *countingSink) BufferError() { s.corrupt++ }

func TestV4L2SourceYUYVFramesAndHook(t *testing.T) {
	raw := make([]byte, 2*4*2)
	dev := &scriptedDevice{
		mode: v4l2.Mode{Format: "yuyv", FourCC: "YUYV", Width: 4, Height: 2, Stride: 8, FPS: 30},
		reads: []read{
			{data: raw},
			{err: v4l2.ErrCorruptFrame},
			{data: raw},
			{err: syscall.EIO},
		},
	}
	hook := &hookRecorder{}
	src, _ := sourceWith(t, SourceOptions{Format: "yuyv", Controls: hook, Log: discard()}, dev)
	sink := &countingSink{}
	if err := src.Run(t.Context(), sink); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Run = %v, want EIO", err)
	}
	if want := (Format{Name: "yuyv", Width: 4, Height: 2, FPS: 30}); len(sink.formats) != 1 || sink.formats[0] != want {
		t.Errorf("formats = %+v, want %+v", sink.formats, want)
	}
	if len(sink.frames) != 2 {
		t.Fatalf("%d frames, want 2", len(sink.frames))
	}
	for _, f := range sink.frames {
		if f.Data != nil || !bytes.Equal(f.Raw, raw) || f.PixFmt != "yuyv422" || f.Width != 4 || f.Height != 2 {
			t.Errorf("frame %d: data %d bytes, raw %d bytes, %q %dx%d; want raw yuyv422 4x2 only",
				f.Seq, len(f.Data), len(f.Raw), f.PixFmt, f.Width, f.Height)
		}
	}
	if sink.corrupt != 1 || sink.invalid != 0 {
		t.Errorf("corrupt %d invalid %d, want 1 and 0", sink.corrupt, sink.invalid)
	}
	if len(hook.calls) < 2 || hook.calls[0] != "opened" || hook.calls[len(hook.calls)-1] != "closed" {
		t.Errorf("hook calls %v, want opened first and closed last", hook.calls)
	}
}
