package v4l2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/blackjack/webcam"

	"github.com/camrec/camrec/internal/h264"
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

// Pixel formats a Request may ask for.
const (
	FormatAuto  = "auto"  // MJPEG when offered, else YUYV
	FormatMJPEG = "mjpeg" // compressed; frames are JPEGs
	FormatYUYV  = "yuyv"  // raw YUYV 4:2:2 (yuyv422), two bytes per pixel
	FormatH264  = "h264"  // H.264 access units with start codes; only when asked for
	// FormatAutoH264 is auto for a camera whose recording copies the
	// camera's stream into mp4 or mkv: H.264 when offered (nothing to
	// encode), else MJPEG. The config chooses it (config.Camera.CaptureFormat).
	FormatAutoH264 = "auto-h264"
)

// Request is what the user asks of a camera.
type Request struct {
	// Format is FormatAuto (also ""), FormatMJPEG, FormatYUYV, FormatH264
	// (never chosen by FormatAuto) or FormatAutoH264.
	Format string
	// Width and Height of the frames; 0 asks for the largest size.
	Width, Height int
	// FPS is the frame rate; 0 asks for the highest rate at the chosen size.
	FPS float64
	// Buffers is the number of driver buffers; 0 means DefaultBuffers.
	Buffers int
}

// Mode is what was negotiated with the device.
type Mode struct {
	// Format is FormatMJPEG or FormatYUYV; FourCC the driver's code for it
	// ("MJPG", "JPEG" or "YUYV").
	Format string
	FourCC string
	// Width and Height as the driver reports them (VIDIOC_G_FMT). MJPEG
	// drivers may still deliver another size: the size in each frame's SOF
	// is the truth (mjpeg.Size).
	Width, Height int
	// Stride is the bytes per line of a YUYV frame (at least 2*Width).
	Stride int
	// FPS as the driver reports it after setting it (0 when unknown).
	FPS float64
}

// Frame is one frame read from a device.
type Frame struct {
	// Data is a fresh copy: a JPEG trimmed after its last EOI (MJPEG), or
	// Height rows of 2*Width bytes (YUYV, stride removed).
	Data []byte
	// Time is the driver's capture timestamp (CLOCK_MONOTONIC) converted to
	// wall time, or the time of dequeue when the driver gives none.
	Time time.Time
	// Sequence is the driver's frame counter (gaps are frames the driver
	// dropped); 0 when unknown.
	Sequence uint32
	// Key marks an H.264 keyframe (IDR); Data then holds the SPS and PPS
	// (the last ones seen are put in front when the camera left them out).
	Key bool
}

// Device is an open V4L2 capture device that streams MJPEG or YUYV.
//
// A Device is not safe for concurrent use: one goroutine owns it, calls
// Next (or ReadFrame) and finally Close (closing the fd does not wake a
// goroutine blocked in the driver, and closing unmaps buffers another
// goroutine may be reading). Methods that set controls must run on that
// goroutine too, between reads (see Next's idle callback).
type Device struct {
	path string
	// cam is the library's handle (nil in tests with a fake driver); the
	// controls code (controls*.go) uses it between reads.
	cam    *webcam.Webcam
	drv    driver
	mode   Mode
	closed bool
	eagain int         // consecutive EAGAINs, to pause instead of spinning
	params h264.Params // an H.264 camera's last SPS and PPS
}

// Open opens the capture device at path (a /dev/videoN node or a symlink to
// one, such as /dev/v4l/by-id/...), negotiates the format asked for (auto:
// MJPEG, else YUYV) at the size and rate nearest to req, and starts
// streaming. A device without the format gives an error wrapping
// ErrNoMJPEG (or ErrNoFormat) that names the formats it offers. A path that
// does not exist or a device that is gone gives an error wrapping
// ErrDisconnected. log may be nil.
func Open(path string, req Request, log *slog.Logger) (*Device, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if req.Buffers <= 0 {
		req.Buffers = DefaultBuffers
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Not plugged in (yet): by-id links vanish on unplug.
			return nil, fmt.Errorf("open camera %s: %w: %w", path, ErrDisconnected, err)
		}
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
	wd := &webcamDriver{cam: cam, fd: fd}
	d := &Device{path: path, cam: cam, drv: wd}
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
	if err := wd.mapOwn(); err != nil {
		log.Warn("cannot dequeue buffers beside the library: no driver timestamps, corrupt buffers not detected", "error", err)
	}
	d.actualSize(wd.fd, log)
	log.Info("camera opened",
		"asked_format", req.Format, "asked_width", req.Width, "asked_height", req.Height, "asked_fps", req.FPS,
		"format", d.mode.FourCC, "width", d.mode.Width, "height", d.mode.Height, "fps", d.mode.FPS,
		"buffers", req.Buffers)
	return d, nil
}

// actualSize replaces the size the library reports (the one asked for) by
// the one the driver set.
func (d *Device) actualSize(fd int, log *slog.Logger) {
	if fd < 0 {
		return
	}
	pf, err := getFormat(fd)
	if err != nil {
		log.Debug("cannot read the format back; trusting the size set", "error", err)
		return
	}
	if pf.width == 0 || pf.height == 0 {
		return
	}
	if int(pf.width) != d.mode.Width || int(pf.height) != d.mode.Height {
		log.Info("driver set another size than asked", "set_width", d.mode.Width, "set_height", d.mode.Height,
			"width", pf.width, "height", pf.height)
	}
	d.mode.Width, d.mode.Height = int(pf.width), int(pf.height)
	if d.mode.Format == FormatYUYV {
		d.mode.Stride = max(int(pf.bytesPerLine), 2*d.mode.Width)
	}
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
	code, name, err := pickFormat(d.path, formats, req.Format)
	if err != nil {
		return false, err
	}
	sizes := sizesOf(cam.GetSupportedFrameSizes(webcam.PixelFormat(code)))
	w, h, ok := NearestSize(sizes, req.Width, req.Height)
	if ok && req.Width > 0 && req.Height > 0 && (w != req.Width || h != req.Height) {
		log.Warn("camera does not offer the size asked for; using the nearest",
			"asked_width", req.Width, "asked_height", req.Height, "width", w, "height", h,
			"fourcc", FourCC(code))
	}
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
	if ok && req.FPS > 0 && math.Abs(fps-req.FPS) > 0.01 {
		log.Warn("camera does not offer the rate asked for at this size; using the nearest",
			"asked_fps", req.FPS, "fps", roundFPS(fps), "width", w, "height", h, "rates", formatRates(rates))
	}
	if !ok {
		fps = req.FPS // rates not enumerable (continuous intervals): try it
	}
	fps = roundFPS(fps) // 333333/10000000 s is asked for as 30, not 30.00003
	log.Debug("camera capabilities", "fourcc", FourCC(code), "sizes", len(sizes),
		"rates_at_size", formatRates(rates))

	got, _, _, err := cam.SetImageFormat(webcam.PixelFormat(code), uint32(w), uint32(h))
	if err != nil {
		return false, fmt.Errorf("camera %s: set format %s %dx%d: %w", d.path, FourCC(code), w, h, explainOpenErr(err))
	}
	if name == FormatMJPEG && !isMJPEG(uint32(got)) {
		// The driver swapped in another format (vivid does this for MJPG).
		return false, noMJPEG(d.path, formats)
	}
	if name == FormatYUYV && uint32(got) != PixYUYV {
		return false, fmt.Errorf("camera %s: asked for YUYV, driver set %s: %w", d.path, FourCC(uint32(got)), ErrNoFormat)
	}
	if name == FormatH264 && uint32(got) != PixH264 {
		return false, fmt.Errorf("camera %s: asked for H264, driver set %s: %w", d.path, FourCC(uint32(got)), ErrNoFormat)
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
	d.mode = Mode{Format: name, FourCC: FourCC(uint32(got)), Width: w, Height: h, FPS: fps}
	if name == FormatYUYV {
		d.mode.Stride = 2 * w
	}
	return false, nil
}

// Negotiated returns the mode set on the device.
func (d *Device) Negotiated() Mode { return d.mode }

// Path returns the path the device was opened by.
func (d *Device) Path() string { return d.path }

// ReadFrame is Next without an idle callback, returning the frame's data
// and time.
func (d *Device) ReadFrame(ctx context.Context) ([]byte, time.Time, error) {
	f, err := d.Next(ctx, nil)
	return f.Data, f.Time, err
}

// Next waits for the next frame and returns a fresh copy of it (see Frame).
// Frame timeouts are not errors: it waits until a frame comes, ctx is done
// (it returns ctx.Err()) or the device fails, calling idle (if not nil)
// after every quarter second without a frame; idle runs on the caller's
// goroutine while no buffer is held, so it may use the device (controls).
//
// Errors to count and call again after: ErrInvalidFrame (not a complete
// JPEG, or a YUYV frame shorter than the format) and ErrCorruptFrame (the
// driver flagged the buffer V4L2_BUF_FLAG_ERROR). A gone device gives an
// error wrapping ErrDisconnected and syscall.ENODEV; other device errors
// (EIO: the stream broke) are returned wrapped. After any other error,
// Close the device and reopen it (with backoff).
func (d *Device) Next(ctx context.Context, idle func()) (Frame, error) {
	for {
		if d.closed {
			return Frame{}, fmt.Errorf("read frame from %s: %w", d.path, ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		if err := d.drv.wait(pollSlice); err != nil {
			if _, ok := errors.AsType[*webcam.Timeout](err); ok {
				if idle != nil {
					idle()
				}
				continue
			}
			return Frame{}, d.deviceErr("wait for frame", err)
		}
		buf, err := d.drv.getFrame()
		if errors.Is(err, syscall.EAGAIN) {
			d.eagain++
			if d.eagain > 1 {
				if err := sleepCtx(ctx, eagainPause); err != nil {
					return Frame{}, err
				}
			}
			continue
		}
		d.eagain = 0
		if err != nil {
			return Frame{}, d.deviceErr("dequeue frame", err)
		}
		f := Frame{Time: buf.time, Sequence: buf.sequence}
		if f.Time.IsZero() {
			f.Time = time.Now()
		}
		var frameErr error
		switch {
		case buf.corrupt:
			frameErr = fmt.Errorf("read frame from %s: %w (buffer %d, sequence %d)", d.path, ErrCorruptFrame, buf.index, buf.sequence)
		case d.mode.Format == FormatYUYV:
			f.Data, frameErr = d.copyYUYV(buf.data)
		case d.mode.Format == FormatH264:
			f.Data, f.Key, frameErr = d.copyH264(buf.data)
		default:
			jpeg, trimErr := mjpeg.Trim(buf.data)
			if trimErr == nil {
				f.Data = bytes.Clone(jpeg) // the one copy; buf is the driver's
			} else {
				frameErr = fmt.Errorf("read frame from %s: %w: %w (%d bytes)", d.path, ErrInvalidFrame, trimErr, len(buf.data))
			}
		}
		if err := d.drv.releaseFrame(buf.index); err != nil {
			return Frame{}, d.deviceErr("requeue buffer", err)
		}
		if frameErr != nil {
			return Frame{Time: f.Time, Sequence: f.Sequence}, frameErr
		}
		return f, nil
	}
}

// copyH264 copies one H.264 access unit out of the driver's buffer (the
// one copy), with the last SPS and PPS in front of a keyframe that lacks
// them. Zero bytes at the end are left out (v4l2loopback reports a whole
// buffer for a reader's first frame). A buffer without a slice is invalid.
func (d *Device) copyH264(buf []byte) ([]byte, bool, error) {
	end := len(buf)
	for end > 0 && buf[end-1] == 0 {
		end--
	}
	buf = buf[:end]
	in := h264.Inspect(buf)
	if in.Pictures == 0 && !in.Key {
		return nil, false, fmt.Errorf("read frame from %s: %w: no H.264 slice (%d bytes)", d.path, ErrInvalidFrame, len(buf))
	}
	d.params.Update(in)
	out := d.params.AppendUnit(make([]byte, 0, len(buf)+d.params.Missing(in)), buf, in)
	return out, in.Key, nil
}

// copyYUYV copies one YUYV frame out of the driver's buffer, dropping any
// padding at the end of each line.
func (d *Device) copyYUYV(buf []byte) ([]byte, error) {
	w, h, stride := d.mode.Width, d.mode.Height, d.mode.Stride
	line := 2 * w
	if stride < line {
		stride = line
	}
	if w <= 0 || h <= 0 || len(buf) < stride*(h-1)+line {
		return nil, fmt.Errorf("read frame from %s: %w: %d bytes, want %d for YUYV %dx%d",
			d.path, ErrInvalidFrame, len(buf), stride*h, w, h)
	}
	if stride == line {
		return bytes.Clone(buf[:line*h]), nil
	}
	out := make([]byte, line*h)
	for y := range h {
		copy(out[y*line:(y+1)*line], buf[y*stride:])
	}
	return out, nil
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

// pickFormat chooses the pixel format for the format name asked for.
func pickFormat(path string, formats map[webcam.PixelFormat]string, want string) (uint32, string, error) {
	mj, hasMJPEG := pickMJPEG(formats)
	_, hasYUYV := formats[webcam.PixelFormat(PixYUYV)]
	switch want {
	case FormatMJPEG:
		if hasMJPEG {
			return mj, FormatMJPEG, nil
		}
		return 0, "", noMJPEG(path, formats)
	case FormatYUYV:
		if hasYUYV {
			return PixYUYV, FormatYUYV, nil
		}
		return 0, "", noFormat(path, "YUYV", formats)
	case FormatH264:
		if _, ok := formats[webcam.PixelFormat(PixH264)]; ok {
			return PixH264, FormatH264, nil
		}
		return 0, "", noFormat(path, "H264", formats)
	case FormatAuto, "":
		switch {
		case hasMJPEG:
			return mj, FormatMJPEG, nil
		case hasYUYV:
			return PixYUYV, FormatYUYV, nil
		}
		return 0, "", noFormat(path, "MJPEG or YUYV", formats)
	case FormatAutoH264:
		if _, ok := formats[webcam.PixelFormat(PixH264)]; ok {
			return PixH264, FormatH264, nil
		}
		if hasMJPEG {
			return mj, FormatMJPEG, nil
		}
		return 0, "", noFormat(path, "H264 or MJPEG (the recording copies the camera's stream)", formats)
	}
	return 0, "", fmt.Errorf("camera %s: unknown format %q (want auto, mjpeg, yuyv or h264)", path, want)
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
	return noFormat(path, "MJPEG", formats)
}

func noFormat(path, want string, formats map[webcam.PixelFormat]string) error {
	codes := make([]uint32, 0, len(formats))
	for c := range formats {
		codes = append(codes, uint32(c))
	}
	slices.SortFunc(codes, func(a, b uint32) int { return compareFourCC(a, b) })
	e := &noFormatError{path: path, want: want}
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
	case errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	case err.Error() == "Not a video capture device": // blackjack/webcam's text
		return fmt.Errorf("%w (a metadata or output node, or a loopback without a writer; try the next /dev/video*)", err)
	}
	return err
}

func roundFPS(fps float64) float64 { return float64(int64(fps*100+0.5)) / 100 }
