package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/v4l2"
)

// PipeSource reads an MJPEG or H.264 (Annex B) byte stream ("pipe:" for
// standard input, "pipe:PATH" for a FIFO), as `ffmpeg -f mjpeg -`,
// `ffmpeg -f h264 -` or `rpicam-vid --codec mjpeg|h264 -o -` write it.
// Which one is told by the stream's first bytes (a start code or FF D8),
// or by the format option ("h264", "mjpeg"). Frames are split with
// mjpeg.Reader or h264.Reader and stamped the moment their last byte has
// arrived (an H.264 access unit: when the next one begins, one frame
// later); there is no pacing, the writer sets the rate.
//
// A FIFO is opened by Run, so a writer may come and go: when it closes its
// end, Run returns an error and the camera opens the FIFO again. Standard
// input ending is final ("stdin closed").
type PipeSource struct {
	name string    // for messages: "stdin", the FIFO's path or the caller's name
	path string    // the FIFO; "" when reading r
	r    io.Reader // standard input or the caller's reader; nil for a FIFO
	opts SourceOptions
	seq  atomic.Uint64 // next frame number; keeps counting across Run calls
}

var _ Source = (*PipeSource)(nil)

// NewPipeSource returns a source reading the FIFO at path, or standard input
// when path is "". For standard input it switches file descriptor 0 to
// non-blocking mode, so that Go's poller can interrupt a read when Run's
// context ends; nothing else in the process may read os.Stdin. A FIFO is
// opened only by Run; NewPipeSource fails if path exists and is not one.
func NewPipeSource(path string, opts SourceOptions) (*PipeSource, error) {
	opts = opts.withDefaults()
	if path == "" {
		if err := syscall.SetNonblock(0, true); err != nil {
			return nil, fmt.Errorf("pipe source: make stdin non-blocking: %w", err)
		}
		return NewReaderSource("stdin", os.NewFile(0, "/dev/stdin"), opts), nil
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Type() != fs.ModeNamedPipe {
		return nil, fmt.Errorf("pipe source: %s is not a FIFO (create one with mkfifo)", path)
	}
	return &PipeSource{name: path, path: path, opts: opts}, nil
}

// NewReaderSource returns a source reading r, which it never closes except
// to interrupt a read when Run's context ends and r has no read deadline.
// When r ends, Run fails with "<name> closed".
func NewReaderSource(name string, r io.Reader, opts SourceOptions) *PipeSource {
	return &PipeSource{name: name, r: r, opts: opts.withDefaults()}
}

// Run reads frames until ctx is done (then it returns nil), the stream ends
// or a read fails. It reports the format on the first frame of each run:
// the size its SOF states, the configured rate as nominal. Data that is not
// a complete frame is counted through sink.Invalid. Run must not be called
// concurrently with itself.
func (s *PipeSource) Run(ctx context.Context, sink Sink) error {
	r := s.r
	if s.path != "" {
		f, err := os.OpenFile(s.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("pipe source: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || st.Mode().Type() != fs.ModeNamedPipe {
			return fmt.Errorf("pipe source: %s is not a FIFO", s.path)
		}
		r = f
	}
	stop := interruptOnDone(ctx, r)
	defer stop()
	if f, ok := r.(*os.File); ok && s.path != "" {
		if err := awaitWriter(f); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pipe source %s: wait for a writer: %w", s.path, err)
		}
		s.opts.Log.Info("pipe source: writer connected", "path", s.path)
	}

	br := bufio.NewReaderSize(r, 64<<10)
	h264, err := s.isH264(br)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return s.readErr(err)
	case h264:
		return s.runH264(ctx, br, sink)
	}
	rd := mjpeg.NewReader(br, MaxFrameBytes)
	negotiated := false
	for {
		data, err := rd.Next()
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, mjpeg.ErrSkipped):
			sink.Invalid()
			continue
		case err != nil:
			return s.readErr(err)
		}
		w, h, err := mjpeg.Size(data)
		if err != nil {
			sink.Invalid()
			continue
		}
		if !negotiated {
			sink.Negotiated(Format{Name: "mjpeg", Width: w, Height: h, FPS: s.opts.FPS})
			negotiated = true
		}
		sink.Frame(&Frame{Data: data, Seq: s.seq.Add(1) - 1, Time: now})
	}
}

// readErr is the error Run returns when reading failed with err.
func (s *PipeSource) readErr(err error) error {
	switch {
	case errors.Is(err, io.EOF) && s.path != "":
		return fmt.Errorf("pipe source %s: the writer closed the FIFO: %w", s.path, io.EOF)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%s closed: %w", s.name, io.EOF)
	}
	return fmt.Errorf("pipe source %s: %w", s.name, err)
}

// isH264 tells what the stream carries: H.264 when the format option says
// "h264", MJPEG when it says "mjpeg"; with "auto", H.264 when the first
// byte that is not zero follows zeros (a start code, 00 00 01), MJPEG
// otherwise (FF D8). It only peeks.
func (s *PipeSource) isH264(br *bufio.Reader) (bool, error) {
	switch s.opts.Format {
	case FormatH264:
		return true, nil
	case v4l2.FormatMJPEG, v4l2.FormatYUYV:
		return false, nil
	}
	for n := 1; n <= 64; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return false, err
		}
		if b[n-1] != 0 {
			return n >= 3 && b[n-1] == 1, nil
		}
	}
	return true, nil
}

// runH264 reads H.264 access units (see h264.Reader) until ctx is done or
// the stream ends. The size it reports is the SPS's; frames before the
// first SPS cannot be decoded and are counted invalid.
func (s *PipeSource) runH264(ctx context.Context, r io.Reader, sink Sink) error {
	rd := h264.NewReader(r, MaxFrameBytes)
	negotiated := false
	var last h264.SPSInfo
	for {
		u, err := rd.Next()
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, h264.ErrSkipped):
			sink.Invalid()
			continue
		case err != nil:
			return s.readErr(err)
		}
		sps, ok := rd.SPS()
		if !ok {
			sink.Invalid()
			continue
		}
		if !negotiated || sps != last {
			sink.Negotiated(Format{Name: FormatH264, Width: sps.Width, Height: sps.Height, FPS: s.opts.FPS})
			negotiated, last = true, sps
		}
		sink.Frame(&Frame{Raw: u.Data, PixFmt: PixFmtH264, Key: u.Key, Width: sps.Width, Height: sps.Height,
			Seq: s.seq.Add(1) - 1, Time: now})
	}
}

// interruptOnDone arranges for a read from r blocked when ctx ends to
// return: through a read deadline when r supports one, else by closing r.
// The returned func cancels the arrangement.
func interruptOnDone(ctx context.Context, r io.Reader) (stop func() bool) {
	type deadliner interface{ SetReadDeadline(time.Time) error }
	if d, ok := r.(deadliner); ok && d.SetReadDeadline(time.Time{}) == nil {
		return context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
	}
	if c, ok := r.(io.Closer); ok {
		return context.AfterFunc(ctx, func() { _ = c.Close() })
	}
	return func() bool { return false }
}

// awaitWriter waits until the FIFO f, opened non-blocking, has data or a
// writer has come and gone. Until a writer opens it, a read would return
// EOF at once; poll reports nothing then, so wait in Go's poller (which a
// read deadline interrupts) until poll reports input or hang-up.
func awaitWriter(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var pollErr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				pollErr = err
				return true
			}
			return n > 0
		}
	})
	if err != nil {
		return err
	}
	return pollErr
}
