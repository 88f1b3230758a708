package v4l2

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/blackjack/webcam"
	"golang.org/x/sys/unix"
)

// testJPEG encodes a small real JPEG.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.Gray{Y: 255})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// step is one thing the fake driver does: fail a wait, or hand out a buffer
// (with data and/or an error from DQBUF or QBUF).
type step struct {
	waitErr    error
	data       []byte
	getErr     error
	releaseErr error
	corrupt    bool      // V4L2_BUF_FLAG_ERROR
	time       time.Time // driver timestamp (zero: none)
	seq        uint32
}

// fakeDriver behaves like a driver with one mmap buffer that it overwrites
// as soon as the buffer is requeued, and unmaps (poisons) on close.
type fakeDriver struct {
	steps    []step
	cur      step
	buf      []byte
	held     bool
	waits    atomic.Int64 // read by the test while the reader runs
	closes   int
	released int
}

func (f *fakeDriver) wait(timeout time.Duration) error {
	f.waits.Add(1)
	if len(f.steps) == 0 {
		time.Sleep(min(timeout, 5*time.Millisecond)) // a poll that times out
		return new(webcam.Timeout)
	}
	f.cur, f.steps = f.steps[0], f.steps[1:]
	if f.cur.waitErr != nil {
		err := f.cur.waitErr
		f.cur = step{}
		return err
	}
	return nil
}

func (f *fakeDriver) getFrame() (dequeued, error) {
	if f.cur.getErr != nil {
		return dequeued{}, f.cur.getErr
	}
	if f.held {
		panic("getFrame with the only buffer still held")
	}
	f.held = true
	n := copy(f.buf, f.cur.data)
	return dequeued{data: f.buf[:n], corrupt: f.cur.corrupt, time: f.cur.time, sequence: f.cur.seq}, nil
}

func (f *fakeDriver) releaseFrame(uint32) error {
	f.held = false
	f.released++
	for i := range f.buf {
		f.buf[i] = 0xEE // the driver fills the buffer with the next frame
	}
	return f.cur.releaseErr
}

func (f *fakeDriver) close() error {
	f.closes++
	for i := range f.buf {
		f.buf[i] = 0xDD // unmapped
	}
	return nil
}

func newFakeDevice(steps ...step) (*Device, *fakeDriver) {
	f := &fakeDriver{steps: steps, buf: make([]byte, 1<<16)}
	return &Device{path: "/dev/video9", drv: f}, f
}

func TestReadFrame(t *testing.T) {
	frame := func(t *testing.T) []byte { return testJPEG(t, 32, 24) }
	junk := func(b []byte) []byte { return append(bytes.Clone(b), 0, 0, 0x12, 0x34, 0, 0) }
	tests := []struct {
		name    string
		steps   func(jpg []byte) []step
		want    bool  // a frame equal to jpg
		wantErr error // errors.Is target
		also    error // a second errors.Is target
	}{
		{"clean frame", func(j []byte) []step { return []step{{data: j}} }, true, nil, nil},
		{"junk after EOI trimmed", func(j []byte) []step { return []step{{data: junk(j)}} }, true, nil, nil},
		{"timeouts are waited out", func(j []byte) []step {
			return []step{{waitErr: new(webcam.Timeout)}, {waitErr: new(webcam.Timeout)}, {data: j}}
		}, true, nil, nil},
		{"EAGAIN is retried", func(j []byte) []step {
			return []step{{getErr: syscall.EAGAIN}, {getErr: syscall.EAGAIN}, {getErr: syscall.EAGAIN}, {data: j}}
		}, true, nil, nil},
		{"no SOI", func(j []byte) []step { return []step{{data: j[2:]}} }, false, ErrInvalidFrame, nil},
		{"no EOI", func(j []byte) []step { return []step{{data: j[:len(j)-2]}} }, false, ErrInvalidFrame, nil},
		{"empty buffer", func(j []byte) []step { return []step{{data: []byte{}}} }, false, ErrInvalidFrame, nil},
		{"unplugged", func(j []byte) []step { return []step{{getErr: syscall.ENODEV}} }, false, ErrDisconnected, syscall.ENODEV},
		{"unplugged on requeue", func(j []byte) []step { return []step{{data: j, releaseErr: syscall.ENODEV}} }, false, ErrDisconnected, syscall.ENODEV},
		{"stream broke", func(j []byte) []step { return []step{{getErr: syscall.EIO}} }, false, syscall.EIO, nil},
		{"poll failed", func(j []byte) []step { return []step{{waitErr: syscall.EBADF}} }, false, syscall.EBADF, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jpg := frame(t)
			d, f := newFakeDevice(tt.steps(jpg)...)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			before := time.Now()
			got, ts, err := d.ReadFrame(ctx)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.also != nil && !errors.Is(err, tt.also) {
					t.Fatalf("err = %v, want it to wrap %v too", err, tt.also)
				}
				if errors.Is(tt.wantErr, ErrDisconnected) || errors.Is(tt.wantErr, ErrInvalidFrame) {
					if !bytes.Contains([]byte(err.Error()), []byte("/dev/video9")) {
						t.Errorf("err %q does not name the device", err)
					}
				}
				if got != nil {
					t.Errorf("got %d bytes with an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !bytes.Equal(got, jpg) {
				t.Fatalf("frame = %d bytes, want the %d-byte JPEG", len(got), len(jpg))
			}
			if ts.Before(before) || ts.After(time.Now()) {
				t.Errorf("timestamp %v not taken during the call", ts)
			}
			if f.held {
				t.Error("buffer not requeued")
			}
			// The driver reuses its buffer and Close unmaps it: the frame
			// handed out must be a copy that outlives both.
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, jpg) {
				t.Fatal("frame changed after requeue/close: it aliases the driver buffer")
			}
		})
	}
}

func TestReadFrameInvalidThenValid(t *testing.T) {
	jpg := testJPEG(t, 16, 16)
	d, _ := newFakeDevice(step{data: jpg[:100]}, step{data: jpg})
	_, _, err := d.ReadFrame(t.Context())
	if !errors.Is(err, ErrInvalidFrame) {
		t.Fatalf("first read: %v, want ErrInvalidFrame", err)
	}
	got, _, err := d.ReadFrame(t.Context())
	if err != nil || !bytes.Equal(got, jpg) {
		t.Fatalf("second read: %d bytes, %v; want the frame", len(got), err)
	}
}

func TestReadFrameContextCancelled(t *testing.T) {
	d, f := newFakeDevice() // never delivers a frame
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := d.ReadFrame(ctx)
		done <- err
	}()
	// Wait until it is really waiting for frames, then cancel.
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("ReadFrame returned before cancel: %v", err)
		default:
		}
		if f.waits.Load() > 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(2 * pollSlice):
		t.Fatal("ReadFrame did not return within two poll slices of cancel")
	}
}

func TestCloseIdempotentAndFinal(t *testing.T) {
	jpg := testJPEG(t, 16, 16)
	d, f := newFakeDevice(step{data: jpg})
	for range 3 {
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if f.closes != 1 {
		t.Errorf("driver closed %d times, want 1", f.closes)
	}
	if _, _, err := d.ReadFrame(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame after Close: %v, want ErrClosed", err)
	}
}

func TestNoMJPEGError(t *testing.T) {
	formats := map[webcam.PixelFormat]string{
		webcam.PixelFormat(PixYUYV):    "YUYV 4:2:2",
		webcam.PixelFormat(0x3231564E): "Y/UV 4:2:0",
	}
	err := noMJPEG("/dev/video0", formats)
	want := "camera /dev/video0 offers no MJPEG (offers: NV12 (Y/UV 4:2:0), YUYV 4:2:2); use format auto or yuyv"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	if !errors.Is(err, ErrNoMJPEG) {
		t.Error("error does not wrap ErrNoMJPEG")
	}
	err = noMJPEG("/dev/video3", map[webcam.PixelFormat]string{webcam.PixelFormat(0x59455247): "8-bit Greyscale"})
	if want := "camera /dev/video3 offers no MJPEG (offers: GREY (8-bit Greyscale))"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestPickMJPEG(t *testing.T) {
	tests := []struct {
		name   string
		codes  []uint32
		want   uint32
		wantOK bool
	}{
		{"MJPG", []uint32{PixYUYV, PixMJPEG}, PixMJPEG, true},
		{"JPEG only", []uint32{PixJPEG, PixYUYV}, PixJPEG, true},
		{"both prefers MJPG", []uint32{PixJPEG, PixMJPEG}, PixMJPEG, true},
		{"none", []uint32{PixYUYV}, 0, false},
	}
	for _, tt := range tests {
		m := map[webcam.PixelFormat]string{}
		for _, c := range tt.codes {
			m[webcam.PixelFormat(c)] = ""
		}
		got, ok := pickMJPEG(m)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: pickMJPEG = %s %v, want %s %v", tt.name, FourCC(got), ok, FourCC(tt.want), tt.wantOK)
		}
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDev := filepath.Join(dir, "video0")
	if err := os.WriteFile(notDev, []byte("not a camera"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "usb-Fake_Cam-video-index0")
	if err := os.Symlink(notDev, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr error
		wantMsg string
	}{
		{"missing", filepath.Join(dir, "video7"), fs.ErrNotExist, "open camera " + filepath.Join(dir, "video7")},
		{"dangling link", filepath.Join(dir, "nolink"), fs.ErrNotExist, ""},
		{"regular file", notDev, syscall.ENOTTY, "(not a V4L2 device)"},
		{"link to regular file", link, syscall.ENOTTY, "open camera " + link},
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "nolink")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(tt.path, Request{Width: 640, Height: 480, FPS: 30}, discardLog())
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.wantMsg)) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
	// A failed Open leaks no descriptor.
	fds, err := os.ReadDir(procSelfFD)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fds {
		if l, _ := os.Readlink(filepath.Join(procSelfFD, e.Name())); l == notDev {
			t.Errorf("fd %s still open on %s", e.Name(), notDev)
		}
	}
}

// TestWebcamDriverWait runs the real poll-based wait on a pipe, which polls
// like a capture fd: readable means a frame is ready.
func TestWebcamDriverWait(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	d := &webcamDriver{fd: p[0]}

	// The timeout has millisecond resolution, not whole seconds: at least
	// 30 ms each time, and below a second at least once in five tries (a
	// busy machine may delay a wake-up, not every one).
	shortest := time.Hour
	for range 5 {
		start := time.Now()
		err := d.wait(30 * time.Millisecond)
		if _, ok := errors.AsType[*webcam.Timeout](err); !ok {
			t.Fatalf("wait on empty pipe = %v, want *webcam.Timeout", err)
		}
		el := time.Since(start)
		if el < 25*time.Millisecond {
			t.Errorf("timeout after %v, want at least 30ms", el)
		}
		shortest = min(shortest, el)
	}
	if shortest >= time.Second {
		t.Errorf("the shortest of five 30 ms timeouts took %v: whole seconds?", shortest)
	}

	if _, err := unix.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(time.Second); err != nil {
		t.Fatalf("wait on readable pipe = %v, want nil", err)
	}

	unix.Close(p[0])
	if err := d.wait(10 * time.Millisecond); !errors.Is(err, unix.EBADF) {
		t.Fatalf("wait on closed fd = %v, want EBADF", err)
	}
}

// pipeTry is a webcamDriver.try over a pipe: a byte in the pipe is a
// buffer the driver has done (its index), reading it is the dequeue (EAGAIN
// when there is none), and a pipe without writer is a failed device. If
// from is not negative it reads from that descriptor whatever it is given.
func pipeTry(tries *int, from int) func(fd int) (dequeued, error) {
	return func(fd int) (dequeued, error) {
		*tries++
		if from >= 0 {
			fd = from
		}
		b := make([]byte, 1)
		n, err := unix.Read(fd, b)
		switch {
		case err != nil:
			return dequeued{}, err
		case n == 0:
			return dequeued{}, io.ErrUnexpectedEOF
		}
		return dequeued{index: uint32(b[0])}, nil
	}
}

func nonBlockingPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

// TestWebcamDriverWaitWatched runs the wait that parks in the runtime's
// poller, on a pipe.
func TestWebcamDriverWaitWatched(t *testing.T) {
	r, w := nonBlockingPipe(t)
	defer unix.Close(r)
	writerOpen := true
	defer func() {
		if writerOpen {
			unix.Close(w)
		}
	}()
	tries := 0
	parking := make(chan struct{}, 1) // a registered wait found nothing: it parks
	base := pipeTry(&tries, -1)
	var d *webcamDriver
	d = &webcamDriver{fd: r, try: func(fd int) (dequeued, error) {
		b, err := base(fd)
		if errors.Is(err, unix.EAGAIN) && d.watched != nil {
			select {
			case parking <- struct{}{}:
			default:
			}
		}
		return b, err
	}}
	defer d.unwatch()

	// A buffer already done: dequeued at once, handed to getFrame, and no
	// registration (it must be made while nothing is done).
	if _, err := unix.Write(w, []byte{7}); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(time.Minute); err != nil {
		t.Fatalf("wait on readable pipe = %v, want nil", err)
	}
	if err := d.wait(time.Minute); err != nil { // still held: no second dequeue
		t.Fatalf("second wait = %v", err)
	}
	if b, err := d.getFrame(); err != nil || b.index != 7 {
		t.Fatalf("getFrame = %d, %v; want buffer 7", b.index, err)
	}
	if tries != 1 || d.watched != nil {
		t.Fatalf("%d tries, watched %v; want 1 and no registration", tries, d.watched != nil)
	}

	// Nothing done: registered, then a timeout.
	if err := d.wait(30 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("wait on empty pipe = %v, want *webcam.Timeout", err)
	}
	if d.watched == nil {
		t.Fatal("no registration after a wait without buffer")
	}
	<-parking

	// A buffer done while the goroutine is parked wakes it, and the
	// registration stays.
	done := make(chan error, 1)
	go func() { done <- d.wait(time.Minute) }()
	<-parking
	if _, err := unix.Write(w, []byte{9}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("parked wait = %v", err)
	}
	if b, err := d.getFrame(); err != nil || b.index != 9 {
		t.Fatalf("getFrame = %d, %v; want buffer 9", b.index, err)
	}
	if d.watched == nil || d.missed != 0 {
		t.Fatalf("after a woken wait: watched %v, missed %d; want the registration kept", d.watched != nil, d.missed)
	}

	// A failed dequeue (not EAGAIN) is handed to getFrame, not retried.
	unix.Close(w)
	writerOpen = false
	before := tries
	if err := d.wait(time.Minute); err != nil {
		t.Fatalf("wait on a pipe without writer = %v, want nil (the error is getFrame's)", err)
	}
	if _, err := d.getFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("getFrame after a failed dequeue = %v, want it", err)
	}
	if tries != before+1 {
		t.Fatalf("%d tries for one failed dequeue, want 1", tries-before)
	}
}

// TestWebcamDriverWaitMissed: a registration that is never woken (as
// v4l2loopback's when made while a buffer was done) is made again after a
// buffer is found done right after a deadline, and after maxMissed such
// misses in a row the driver polls.
func TestWebcamDriverWaitMissed(t *testing.T) {
	frames, fw := nonBlockingPipe(t) // where buffers are dequeued from
	defer unix.Close(frames)
	defer unix.Close(fw)
	silent, sw := nonBlockingPipe(t) // what the poller watches: never written
	defer unix.Close(silent)
	defer unix.Close(sw)
	tries := 0
	d := &webcamDriver{fd: silent, try: pipeTry(&tries, frames)}
	defer d.unwatch()

	for miss := 1; miss <= maxMissed; miss++ {
		if err := d.wait(20 * time.Millisecond); !isTimeout(err) {
			t.Fatalf("miss %d: wait = %v, want a timeout", miss, err)
		}
		if _, err := unix.Write(fw, []byte{byte(miss)}); err != nil {
			t.Fatal(err)
		}
		if err := d.wait(time.Minute); err != nil {
			t.Fatalf("miss %d: wait with a buffer done = %v", miss, err)
		}
		if b, err := d.getFrame(); err != nil || b.index != uint32(miss) {
			t.Fatalf("miss %d: getFrame = %d, %v", miss, b.index, err)
		}
		if d.missed != miss || d.watched != nil {
			t.Fatalf("miss %d: missed %d, watched %v; want %d and the registration dropped", miss, d.missed, d.watched != nil, miss)
		}
	}
	// Polling now: the silent descriptor times out, and no registration
	// is made again.
	if err := d.wait(20 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("wait after %d misses = %v, want a poll timeout", maxMissed, err)
	}
	if d.watched != nil {
		t.Fatal("registered again after giving up on the poller")
	}
}

func isTimeout(err error) bool {
	_, ok := errors.AsType[*webcam.Timeout](err)
	return ok
}
