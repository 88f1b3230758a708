package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/v4l2"
)

// v4l2Device is what V4L2Source needs from an open camera. *v4l2.Device
// implements it.
type v4l2Device interface {
	Negotiated() v4l2.Mode
	ReadFrame(ctx context.Context) ([]byte, time.Time, error)
	Close() error
}

// V4L2Source captures MJPEG from a V4L2 device (/dev/videoN or a stable
// /dev/v4l/by-id/... link). Each Run opens the device, streams until ctx
// is done or the device fails, and closes it; Camera reopens it with
// backoff. Frame sequence numbers keep counting across reopens.
type V4L2Source struct {
	path string
	opts SourceOptions
	open func(path string, req v4l2.Request, log *slog.Logger) (v4l2Device, error)
	seq  uint64 // next Frame.Seq; only the goroutine in Run touches it
}

var _ Source = (*V4L2Source)(nil)

// NewV4L2Source returns a source for the device at path. Nothing is opened
// until Run. Zero options mean the defaults (1280x720 at 30 fps); the device
// gets the nearest size and rate it offers.
func NewV4L2Source(path string, opts SourceOptions) *V4L2Source {
	return &V4L2Source{
		path: path,
		opts: opts.withDefaults(),
		open: func(path string, req v4l2.Request, log *slog.Logger) (v4l2Device, error) {
			return v4l2.Open(path, req, log)
		},
	}
}

// Run implements Source. It reports the format once per open, on the first
// valid frame, with the size that frame's SOF states (drivers may deliver
// another size than the one set). Frames that are not complete JPEGs are
// counted through sink.Invalid. Run returns nil when ctx is done and an
// error wrapping the cause (v4l2.ErrDisconnected for an unplugged camera)
// when the device fails. Calls to Run must not overlap.
func (s *V4L2Source) Run(ctx context.Context, sink Sink) error {
	log := s.opts.Log
	dev, err := s.open(s.path, v4l2.Request{Width: s.opts.Width, Height: s.opts.Height, FPS: s.opts.FPS}, log)
	if err != nil {
		return fmt.Errorf("v4l2 source: %w", err)
	}
	defer func() {
		if err := dev.Close(); err != nil {
			log.Warn("closing camera failed", "device", s.path, "error", err)
		}
	}()
	mode := dev.Negotiated()
	negotiated := false
	for {
		data, ts, err := dev.ReadFrame(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, v4l2.ErrInvalidFrame) {
			sink.Invalid()
			continue
		}
		if err != nil {
			return fmt.Errorf("v4l2 source: %w", err)
		}
		if !negotiated {
			negotiated = true
			sink.Negotiated(s.format(mode, data, log))
		}
		sink.Frame(&Frame{Data: data, Seq: s.seq, Time: ts})
		s.seq++
	}
}

// format is the negotiated mode with the size taken from the first frame.
func (s *V4L2Source) format(mode v4l2.Mode, first []byte, log *slog.Logger) Format {
	f := Format{Name: mode.Format, Width: mode.Width, Height: mode.Height, FPS: mode.FPS}
	w, h, err := mjpeg.Size(first)
	switch {
	case err != nil:
		log.Warn("first frame states no size; reporting the size set on the device",
			"device", s.path, "width", mode.Width, "height", mode.Height, "error", err)
	case w != mode.Width || h != mode.Height:
		log.Info("camera delivers another size than it was set to",
			"device", s.path, "set_width", mode.Width, "set_height", mode.Height, "width", w, "height", h)
		f.Width, f.Height = w, h
	}
	return f
}
