package pipeline

import (
	"log/slog"

	"github.com/camrec/camrec/v4l2"
)

// Defaults of SourceOptions.
const (
	DefaultWidth  = 1280
	DefaultHeight = 720
	DefaultFPS    = 30.0
)

// SourceOptions configures a source. Zero values mean the defaults:
// 1280x720 at 30 frames per second, format auto.
type SourceOptions struct {
	Width, Height int
	FPS           float64
	// Format is what a V4L2 camera is asked for: "auto" (also ""; MJPEG
	// when offered, else YUYV), "mjpeg", "yuyv" or "h264". A pipe: source
	// takes "h264" or "mjpeg" as what its stream carries (else it looks);
	// other sources ignore it.
	Format string
	// Controls, if not nil, runs camera controls on the goroutine that owns
	// a V4L2 device. Other sources ignore it.
	Controls ControlHook
	// Log receives the source's few log lines; nil discards them.
	Log *slog.Logger
}

// ControlHook lets camera controls run on the goroutine that owns the device.
type ControlHook interface {
	// Opened is called by the capture goroutine right after each (re)open, before streaming frames (apply configured controls).
	Opened(dev *v4l2.Device)
	// Serve is called by the capture goroutine at least every 250 ms while the device is open (between frames or timeouts); it runs pending control requests against dev and returns quickly.
	Serve(dev *v4l2.Device)
	// Closed is called when the device is closed (requests then fail with "camera not connected").
	Closed()
}

// withDefaults returns o with zero fields set to their defaults.
func (o SourceOptions) withDefaults() SourceOptions {
	if o.Width <= 0 {
		o.Width = DefaultWidth
	}
	if o.Height <= 0 {
		o.Height = DefaultHeight
	}
	if o.FPS <= 0 {
		o.FPS = DefaultFPS
	}
	if o.Format == "" {
		o.Format = v4l2.FormatAuto
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}
