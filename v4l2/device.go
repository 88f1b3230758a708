package v4l2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/blackjack/webcam"

	"github.com/camrec/camrec/internal/mjpeg"
)

// DefaultBuffers is how many driver buffers Open asks for when the request
// says 0: enough to ride out a scheduling hiccup, few enough to keep
// latency low (the library's default, 256, becomes 32 frames of latency on
// uvcvideo).
const DefaultBuffers = 4

// pollSlice bounds how long ReadFrame waits in one poll, and so how soon it
// notices a cancelled context.
const pollSlice = 250 * time.Millisecond

// eagainPause is how long ReadFrame pauses after a dequeue that said EAGAIN
// although poll reported a frame, so a confused driver cannot make it spin.
const eagainPause = 10 * time.Millisecond

// Request is what the user asks of a camera.
type Request struct {
	// Width and Height of the frames; 0 asks for the largest size.
	Width, Height int
	// FPS is the frame rate; 0 asks for the highest rate at the chosen size.
	FPS float64
	// Buffers is the number of driver buffers; 0 means DefaultBuffers.
	Buffers int
}

// Mode is what was negotiated with the device.
type Mode struct {
	// Format is "mjpeg"; FourCC the driver's code for it ("MJPG" or "JPEG").
	Format string
	FourCC string
	// Width and Height as set on the device. Drivers may deliver another
	// size: the size in each frame's SOF is the truth (mjpeg.Size).
	Width, Height int
	// FPS as the driver reports it after setting it (0 when unknown).
	FPS float64
}

// Device is an open V4L2 capture device that streams MJPEG.
//
// A Device is not safe for concurrent use: one goroutine owns it, calls
// ReadFrame and finally Close (closing the fd does not wake a goroutine
// blocked in the driver, and closing unmaps buffers another goroutine may be
// reading).
type Device struct {
	path   string
	drv    driver
	mode   Mode
	closed bool
	eagain int // consecutive EAGAINs, to pause instead of spinning
}

// Open opens the capture device at path (a /dev/videoN node or a symlink to
// one, such as /dev/v4l/by-id/...), negotiates MJPEG at the size and rate
// nearest to req, and starts streaming. A device without MJPEG gives an
// error wrapping ErrNoMJPEG that names the formats it offers. log may be
// nil.
func Open(path string, req Request, log *slog.Logger) (*Device, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if req.Buffers <= 0 {
		req.Buffers = DefaultBuffers
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("open camera %s: %w", path, err)
	}
	log = log.With("device", path)
	if resolved != path {
		log = log.With("node", resolved)
	}
	cam, fd, markErr, err := openWebcam(path, resolved)
	if err != nil {
		return nil, fmt.Errorf("open camera %s: %w", path, explainOpenErr(err))
	}
	if markErr != nil {
		log.Warn("camera fd not marked close-on-exec: child processes may inherit it", "error", markErr)
	}
	d := &Device{path: path, drv: &webcamDriver{cam: cam, fd: fd}}
	if leaked, err := d.negotiate(cam, req, log); err != nil {
		_ = cam.Close()
		if leaked {
			// REQBUFS made this fd the queue's owner, so the mappings of
			// the node in this process are the leaked ones.
			if n, uerr := unmapLeftovers(procSelfMaps, resolved); uerr != nil {
				log.Warn("unmapping leaked camera buffers failed; reopening may fail with EBUSY", "error", uerr)
			} else if n > 0 {
				log.Debug("unmapped leaked camera buffers", "regions", n)
			}
		}
		return nil, err
	}
	return d, nil
}

// setupCam is the part of *webcam.Webcam that negotiation uses.
type setupCam interface {
	GetSupportedFormats() map[webcam.PixelFormat]string
	GetSupportedFrameSizes(webcam.PixelFormat) []webcam.FrameSize
	GetSupportedFramerates(webcam.PixelFormat, uint32, uint32) []webcam.FrameRate
	SetImageFormat(webcam.PixelFormat, uint32, uint32) (webcam.PixelFormat, uint32, uint32, error)
	SetBufferCount(uint32) error
	SetFramerate(float32) error
	GetFramerate() (float32, error)
	StartStreaming() error
}

var _ setupCam = (*webcam.Webcam)(nil)

// negotiate sets format, size, rate and buffers, then starts streaming.
// leaked reports a StartStreaming that failed after mapping buffers.
func (d *Device) negotiate(cam setupCam, req Request, log *slog.Logger) (leaked bool, err error) {
	formats := cam.GetSupportedFormats()
	code, ok := pickMJPEG(formats)
	if !ok {
		return false, noMJPEG(d.path, formats)
	}
	sizes := sizesOf(cam.GetSupportedFrameSizes(webcam.PixelFormat(code)))
	w, h, ok := NearestSize(sizes, req.Width, req.Height)
	if !ok {
		// No size listed (or only "any size" and none asked for): ask for
		// what the user said, or a size every camera has; the driver adjusts.
		w, h = req.Width, req.Height
		if w <= 0 || h <= 0 {
			w, h = 640, 480
		}
	}
	rates := ratesOf(cam.GetSupportedFramerates(webcam.PixelFormat(code), uint32(w), uint32(h)))
	fps, ok := NearestRate(rates, req.FPS)
	if !ok {
		fps = req.FPS // rates not enumerable (continuous intervals): try it
	}
	fps = roundFPS(fps) // 333333/10000000 s is asked for as 30, not 30.00003
	log.Debug("camera capabilities", "fourcc", FourCC(code), "sizes", len(sizes),
		"rates_at_size", formatRates(rates))

	got, _, _, err := cam.SetImageFormat(webcam.PixelFormat(code), uint32(w), uint32(h))
	if err != nil {
		return false, fmt.Errorf("camera %s: set format %s %dx%d: %w", d.path, FourCC(code), w, h, err)
	}
	if !isMJPEG(uint32(got)) {
		// The driver swapped in another format (vivid does this for MJPG).
		return false, noMJPEG(d.path, formats)
	}
	if err := cam.SetBufferCount(uint32(req.Buffers)); err != nil {
		return false, fmt.Errorf("camera %s: set buffer count %d: %w", d.path, req.Buffers, err)
	}
	// Before StartStreaming: uvcvideo refuses S_PARM while streaming.
	if fps > 0 {
		if err := cam.SetFramerate(float32(fps)); err != nil {
			log.Warn("camera refused frame rate; using its default", "fps", fps, "error", err)
		}
	}
	if actual, err := cam.GetFramerate(); err == nil {
		fps = float64(actual)
	} else if len(rates) == 0 {
		fps = 0
	}
	if err := cam.StartStreaming(); err != nil {
		// The library's errors are plain text. Past REQBUFS it leaves the
		// buffers it mapped behind (upstream #70).
		leaked := !strings.HasPrefix(err.Error(), "Failed to map request buffers")
		return leaked, fmt.Errorf("camera %s: start streaming: %w", d.path, err)
	}
	fps = roundFPS(fps)
	d.mode = Mode{Format: "mjpeg", FourCC: FourCC(uint32(got)), Width: w, Height: h, FPS: fps}
	log.Info("camera opened",
		"asked_width", req.Width, "asked_height", req.Height, "asked_fps", req.FPS,
		"format", d.mode.FourCC, "width", w, "height", h, "fps", fps,
		"buffers", req.Buffers)
	return false, nil
}

// Negotiated returns the mode set on the device.
func (d *Device) Negotiated() Mode { return d.mode }

// Path returns the path the device was opened by.
func (d *Device) Path() string { return d.path }

// ReadFrame waits for the next frame and returns a fresh copy of its JPEG,
// trimmed after the last EOI, with the time it was dequeued. Frame timeouts
// are not errors: it waits until a frame comes, ctx is done (it returns
// ctx.Err()) or the device fails. A frame that is not a complete JPEG gives
// an error wrapping ErrInvalidFrame: count it and call again. A gone device
// gives an error wrapping ErrDisconnected and syscall.ENODEV; other device
// errors (EIO: the stream broke) are returned wrapped. After an error other
// than ErrInvalidFrame, Close the device and reopen it (with backoff).
func (d *Device) ReadFrame(ctx context.Context) ([]byte, time.Time, error) {
	for {
		if d.closed {
			return nil, time.Time{}, fmt.Errorf("read frame from %s: %w", d.path, ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return nil, time.Time{}, err
		}
		if err := d.drv.wait(pollSlice); err != nil {
			if _, ok := errors.AsType[*webcam.Timeout](err); ok {
				continue
			}
			return nil, time.Time{}, d.deviceErr("wait for frame", err)
		}
		buf, index, err := d.drv.getFrame()
		if errors.Is(err, syscall.EAGAIN) {
			d.eagain++
			if d.eagain > 1 {
				if err := sleepCtx(ctx, eagainPause); err != nil {
					return nil, time.Time{}, err
				}
			}
			continue
		}
		d.eagain = 0
		if err != nil {
			return nil, time.Time{}, d.deviceErr("dequeue frame", err)
		}
		ts := time.Now()
		jpeg, trimErr := mjpeg.Trim(buf)
		var out []byte
		if trimErr == nil {
			out = bytes.Clone(jpeg) // the one copy; buf is the driver's
		}
		if err := d.drv.releaseFrame(index); err != nil {
			return nil, time.Time{}, d.deviceErr("requeue buffer", err)
		}
		if trimErr != nil {
			return nil, ts, fmt.Errorf("read frame from %s: %w: %w (%d bytes)", d.path, ErrInvalidFrame, trimErr, len(buf))
		}
		return out, ts, nil
	}
}

// Close stops streaming, unmaps the driver's buffers and closes the device.
// Slices returned by ReadFrame are copies and stay valid. It is idempotent.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if err := d.drv.close(); err != nil {
		return fmt.Errorf("close camera %s: %w", d.path, err)
	}
	return nil
}

func (d *Device) deviceErr(op string, err error) error {
	if errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("%s from %s: %w: %w", op, d.path, ErrDisconnected, err)
	}
	return fmt.Errorf("%s from %s: %w", op, d.path, err)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pickMJPEG returns MJPG if offered, else JPEG.
func pickMJPEG(formats map[webcam.PixelFormat]string) (uint32, bool) {
	for _, c := range []uint32{PixMJPEG, PixJPEG} {
		if _, ok := formats[webcam.PixelFormat(c)]; ok {
			return c, true
		}
	}
	return 0, false
}

func noMJPEG(path string, formats map[webcam.PixelFormat]string) error {
	codes := make([]uint32, 0, len(formats))
	for c := range formats {
		codes = append(codes, uint32(c))
	}
	slices.SortFunc(codes, func(a, b uint32) int { return compareFourCC(a, b) })
	e := &noMJPEGError{path: path}
	for _, c := range codes {
		e.offers = append(e.offers, formatName(c, formats[webcam.PixelFormat(c)]))
		if c == PixYUYV {
			e.yuyv = true
		}
	}
	return e
}

// explainOpenErr adds a hint to the open errors users can fix.
func explainOpenErr(err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w (is the user in group video?)", err)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w (another program is using the camera)", err)
	case errors.Is(err, syscall.ENOTTY):
		return fmt.Errorf("%w (not a V4L2 device)", err)
	case errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	case err.Error() == "Not a video capture device": // blackjack/webcam's text
		return fmt.Errorf("%w (a metadata or output node, or a loopback without a writer; try the next /dev/video*)", err)
	}
	return err
}

func roundFPS(fps float64) float64 { return float64(int64(fps*100+0.5)) / 100 }
