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

// serveEvery is how often the capture goroutine lets the ControlHook run
// pending control requests while frames flow (the hook's contract: at least
// every 250 ms).
const serveEvery = 100 * time.Millisecond

// v4l2Device is what V4L2Source needs from an open camera. *v4l2.Device
// implements it.
type v4l2Device interface {
	Negotiated() v4l2.Mode
	Next(ctx context.Context, idle func()) (v4l2.Frame, error)
	Close() error
}

// BufferErrorCounter is implemented by sinks that count frames the driver
// flagged as corrupt (V4L2_BUF_FLAG_ERROR) separately from invalid frames.
// *Camera implements it; V4L2Source falls back to Sink.Invalid.
type BufferErrorCounter interface {
	BufferError()
}

// V4L2Source captures MJPEG or YUYV from a V4L2 device (/dev/videoN or a
// stable /dev/v4l/by-id/... link). Each Run opens the device, streams until
// ctx is done or the device fails, and closes it; Camera reopens it with
// backoff. Frame sequence numbers keep counting across reopens.
//
// MJPEG frames carry the JPEG in Frame.Data; YUYV frames carry the pixels in
// Frame.Raw (PixFmt "yuyv422", Width, Height) and no Data: the Camera
// encodes JPEGs for preview when someone watches.
type V4L2Source struct {
	path string
	opts SourceOptions
	open func(path string, req v4l2.Request, log *slog.Logger) (v4l2Device, error)
	seq  uint64 // next Frame.Seq; only the goroutine in Run touches it
}

var _ Source = (*V4L2Source)(nil)

// NewV4L2Source returns a source for the device at path. Nothing is opened
// until Run. Zero options mean the defaults (1280x720 at 30 fps, format
// auto); the device gets the nearest size and rate it offers.
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
// valid frame, with the size that frame states (SOF for MJPEG; the driver's
// format for YUYV). Frames that are not complete are counted through
// sink.Invalid, frames the driver flagged corrupt through BufferError when
// the sink has it. Run returns nil when ctx is done and an error wrapping
// the cause (v4l2.ErrDisconnected for an unplugged or absent camera) when
// the device fails. Calls to Run must not overlap.
//
// The ControlHook, if any, runs on this goroutine: Opened after the open,
// Serve between frames and while waiting for one, Closed after the close.
func (s *V4L2Source) Run(ctx context.Context, sink Sink) error {
	log := s.opts.Log
	req := v4l2.Request{Format: s.opts.Format, Width: s.opts.Width, Height: s.opts.Height, FPS: s.opts.FPS}
	dev, err := s.open(s.path, req, log)
	if err != nil {
		return fmt.Errorf("v4l2 source: %w", err)
	}
	hook := s.opts.Controls
	hdev, _ := dev.(*v4l2.Device) // nil for test doubles
	defer func() {
		if err := dev.Close(); err != nil {
			log.Warn("closing camera failed", "device", s.path, "error", err)
		}
		if hook != nil {
			hook.Closed()
		}
	}()
	var lastServe time.Time
	serve := func() {}
	if hook != nil {
		hook.Opened(hdev)
		lastServe = time.Now()
		serve = func() {
			if now := time.Now(); now.Sub(lastServe) >= serveEvery {
				lastServe = now
				hook.Serve(hdev)
			}
		}
	}
	errCounter, _ := sink.(BufferErrorCounter)
	mode := dev.Negotiated()
	negotiated := false
	for {
		serve()
		fr, err := dev.Next(ctx, serve)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, v4l2.ErrInvalidFrame):
			sink.Invalid()
			continue
		case errors.Is(err, v4l2.ErrCorruptFrame):
			if errCounter != nil {
				errCounter.BufferError()
			} else {
				sink.Invalid()
			}
			continue
		case err != nil:
			return fmt.Errorf("v4l2 source: %w", err)
		}
		if !negotiated {
			negotiated = true
			sink.Negotiated(s.format(mode, fr.Data, log))
		}
		f := &Frame{Seq: s.seq, Time: fr.Time}
		switch mode.Format {
		case v4l2.FormatYUYV:
			f.Raw, f.PixFmt, f.Width, f.Height = fr.Data, PixFmtYUYV, mode.Width, mode.Height
		case v4l2.FormatH264:
			f.Raw, f.PixFmt, f.Key, f.Width, f.Height = fr.Data, PixFmtH264, fr.Key, mode.Width, mode.Height
		default:
			f.Data = fr.Data
		}
		sink.Frame(f)
		s.seq++
	}
}

// PixFmtH264 is Frame.PixFmt of H.264 access units (ffmpeg's name of the
// raw H.264 format).
const PixFmtH264 = "h264"

// FormatH264 is the format option and Format.Name of an H.264 source.
const FormatH264 = "h264"

// PixFmtYUYV is Frame.PixFmt of YUYV frames (ffmpeg's name).
const PixFmtYUYV = "yuyv422"

// format is the negotiated mode, for MJPEG with the size taken from the
// first frame.
func (s *V4L2Source) format(mode v4l2.Mode, first []byte, log *slog.Logger) Format {
	f := Format{Name: mode.Format, Width: mode.Width, Height: mode.Height, FPS: mode.FPS}
	if mode.Format != v4l2.FormatMJPEG {
		return f
	}
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
