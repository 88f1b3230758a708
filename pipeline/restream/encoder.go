package restream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/flv"
	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/pipeline"
)

// Camera is what the encoder needs of a camera (*pipeline.Camera).
type Camera interface {
	FrameHub() *pipeline.Hub
	Format() pipeline.Format
	Status() pipeline.CameraStatus
}

var _ Camera = (*pipeline.Camera)(nil)

// Timing of the encoder.
const (
	// encoderIdle: the encoder stops when nobody has subscribed for this
	// long (a recorder between two recordings, a restream reconnecting).
	encoderIdle = 2 * time.Second
	// encoderQueue is how many camera frames wait for the encoder; when it
	// is full the oldest are dropped (the encode gets fewer frames, each
	// still stamped with its own capture time).
	encoderQueue = 16
	// maxUnit bounds one encoded frame.
	maxUnit = 8 << 20
	// timesKept: capture times of the frames written to ffmpeg, looked up
	// by the encoded frames coming out (x264 tuned for zero latency
	// returns each frame before the next is written; this is ample).
	timesKept = 256
)

// EncoderConfig is what an Encoder needs besides its camera.
type EncoderConfig struct {
	Camera string
	FFmpeg string // "" = "ffmpeg" in PATH
	// Preset and CRF of x264: the recording's (package record's defaults
	// when empty or nil).
	Preset string
	CRF    *int
	// FPS is the camera's configured rate, ffmpeg's input rate until the
	// camera has negotiated one.
	FPS float64
}

// Encoder encodes a camera's frames (MJPEG, or raw YUYV) to H.264 with one
// ffmpeg, while anyone subscribes to its FrameHub: started for the first
// subscriber, stopped encoderIdle after the last, restarted with a backoff
// when it dies. Its frames are H.264 access units like an H.264 camera's
// (Frame.PixFmt "h264", a keyframe every second carrying SPS and PPS),
// each with the capture time of the camera frame it was made of. It
// implements record.FrameSource.
type Encoder struct {
	cfg EncoderConfig
	cam Camera
	hub *pipeline.Hub
	log *slog.Logger
	// idle is encoderIdle (tests shorten it).
	idle time.Duration

	running atomic.Int32
	starts  atomic.Uint64
	frames  atomic.Uint64
	seq     uint64 // owned by the current encode's reader
}

// NewEncoder returns an encoder that is not running yet.
func NewEncoder(cfg EncoderConfig, cam Camera, log *slog.Logger) *Encoder {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	return &Encoder{cfg: cfg, cam: cam, hub: pipeline.NewHub(), idle: encoderIdle,
		log: log.With("camera", cfg.Camera, "part", "encoder")}
}

// FrameHub is the hub of the encoded frames; subscribing starts the encoder.
func (e *Encoder) FrameHub() *pipeline.Hub { return e.hub }

// Format is the camera's, as H.264.
func (e *Encoder) Format() pipeline.Format {
	f := e.cam.Format()
	f.Name = pipeline.FormatH264
	return f
}

// Status is the camera's: the recorder learns from it that the camera went
// away or restarted.
func (e *Encoder) Status() pipeline.CameraStatus { return e.cam.Status() }

// Running reports whether an encoding ffmpeg is alive, and how many were
// started.
func (e *Encoder) Running() (bool, uint64) { return e.running.Load() > 0, e.starts.Load() }

// Frames counts the encoded frames published.
func (e *Encoder) Frames() uint64 { return e.frames.Load() }

// Run encodes while anyone subscribes, until ctx is done.
func (e *Encoder) Run(ctx context.Context) error {
	wait := defs.Backoff{First: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		if e.hub.Subscribers() == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-e.hub.SubscribersChanged():
				continue
			}
		}
		started := time.Now()
		err := e.encode(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			wait.Reset()
			continue
		}
		if time.Since(started) > 10*time.Second {
			wait.Reset()
		}
		d := wait.Next()
		e.log.Warn("encoder failed, restarting", "error", err.Error(), "in_s", d.Seconds())
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// errNewInput ends an encode whose camera changed format or size; the next
// starts at once.
var errNewInput = errors.New("the camera's format changed")

// encode runs one ffmpeg from the camera's next frame until nobody has
// subscribed for e.idle (nil), ctx ends (nil), the camera's format changes
// (nil) or ffmpeg fails (its error).
func (e *Encoder) encode(ctx context.Context) error {
	sub := e.cam.FrameHub().Subscribe(encoderQueue)
	defer sub.Close()
	var first *pipeline.Frame
	for first == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-e.hub.SubscribersChanged():
			if e.hub.Subscribers() == 0 {
				return nil
			}
		case first = <-sub.Frames():
		}
	}
	in := inputOf(first)
	if in.PixFmt == pipeline.PixFmtH264 {
		return e.passThrough(ctx, sub, first)
	}
	fps := cmp.Or(e.cam.Format().FPS, e.cfg.FPS, pipeline.DefaultFPS)
	cmd := exec.Command(e.cfg.FFmpeg, encoderArgs(e.cfg, in, fps)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr stderrTail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	// Nothing of the encoder's output is worth waiting for at shutdown.
	stopKill := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stopKill()
	e.running.Add(1)
	defer e.running.Add(-1)
	e.starts.Add(1)
	e.log.Info("encoder started", "pid", cmd.Process.Pid, "input", in.String(), "fps", fps)

	times := &captureTimes{}
	readDone := make(chan error, 1)
	go func() { readDone <- e.readUnits(stdout, times, fps) }()

	idle := time.NewTimer(time.Hour)
	idle.Stop()
	var result error
	var n int64
	var hdr []byte
	f := first
loop:
	for {
		if f != nil {
			if inputOf(f) != in {
				result = errNewInput
				break
			}
			times.put(n, f.Time)
			n++
			if err := e.write(stdin, f, &hdr); err != nil {
				result = fmt.Errorf("write to ffmpeg: %w", err)
				break
			}
			f = nil
		}
		select {
		case <-ctx.Done():
			break loop
		case f = <-sub.Frames():
		case <-e.hub.SubscribersChanged():
			e.watchIdle(idle)
		case <-idle.C:
			break loop
		case err := <-readDone:
			readDone <- err
			result = errors.New("ffmpeg ended its output")
			break loop
		}
	}
	stdin.Close()
	var rerr error
	select {
	case rerr = <-readDone:
	case <-time.After(2 * time.Second):
		_ = cmd.Process.Kill()
		rerr = <-readDone
	}
	werr := cmd.Wait()
	e.log.Info("encoder stopped", "pid", cmd.Process.Pid, "frames_in", n)
	switch {
	case ctx.Err() != nil, errors.Is(result, errNewInput):
		return nil
	case result != nil && werr != nil:
		return fmt.Errorf("ffmpeg: %w (%s)", werr, stderr.String())
	case result != nil:
		return fmt.Errorf("%w (%s)", result, stderr.String())
	case rerr != nil && !errors.Is(rerr, io.EOF):
		return fmt.Errorf("ffmpeg's output: %w", rerr)
	}
	return nil
}

// write hands f to the encoder: a raw image as it is, a JPEG as a
// multipart part (its header, then the JPEG: no copy of the frame).
func (e *Encoder) write(w io.Writer, f *pipeline.Frame, hdr *[]byte) error {
	if f.Raw != nil {
		_, err := w.Write(f.Raw)
		return err
	}
	*hdr = partHeader((*hdr)[:0], len(f.Data))
	if _, err := w.Write(*hdr); err != nil {
		return err
	}
	_, err := w.Write(f.Data)
	return err
}

// passThrough forwards an H.264 camera's frames as they are (a pipe:
// source whose stream turned out to be H.264) until nobody has subscribed
// for e.idle, ctx ends, or the camera's frames are no longer H.264.
func (e *Encoder) passThrough(ctx context.Context, sub *pipeline.Subscriber, first *pipeline.Frame) error {
	e.log.Info("the camera delivers H.264: passed through, not encoded")
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	for f := first; ; {
		if f != nil {
			if f.PixFmt != pipeline.PixFmtH264 {
				return nil
			}
			e.frames.Add(1)
			e.hub.Publish(f)
			f = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case f = <-sub.Frames():
		case <-e.hub.SubscribersChanged():
			e.watchIdle(idle)
		case <-idle.C:
			return nil
		}
	}
}

// watchIdle arms idle when the last subscriber has gone, and disarms it
// when one is back (on a change signalled by the hub).
func (e *Encoder) watchIdle(idle *time.Timer) {
	if e.hub.Subscribers() == 0 {
		idle.Reset(e.idle)
	} else {
		idle.Stop()
	}
}

// readUnits publishes ffmpeg's encoded frames until its output ends: each
// with the capture time of the input frame its timestamp counts back to.
func (e *Encoder) readUnits(r io.Reader, times *captureTimes, fps float64) error {
	defer func() { _, _ = io.Copy(io.Discard, r) }()
	rd := flv.NewReader(r, maxUnit)
	var w, h int
	for {
		v, err := rd.Next()
		if err != nil {
			return err
		}
		if v.Key {
			if in := h264.Inspect(v.Data); in.SPS != nil {
				if sps, err := h264.ParseSPS(in.SPS); err == nil {
					w, h = sps.Width, sps.Height
				}
			}
		}
		// ffmpeg counts input frames at fps from 0; the output keeps
		// their timestamps (fps_mode passthrough), in milliseconds.
		i := int64(math.Round(float64(v.MS) * fps / 1000))
		at, ok := times.get(i)
		if !ok {
			at = time.Now()
		}
		e.frames.Add(1)
		e.hub.Publish(&pipeline.Frame{Raw: v.Data, PixFmt: pipeline.PixFmtH264, Width: w, Height: h,
			Key: v.Key, Seq: e.seq, Time: at})
		e.seq++
	}
}

// captureTimes keeps the capture times of the last timesKept frames written
// to ffmpeg, by their index.
type captureTimes struct {
	mu  sync.Mutex
	at  [timesKept]time.Time
	idx [timesKept]int64
}

func (c *captureTimes) put(i int64, t time.Time) {
	c.mu.Lock()
	c.at[i%timesKept], c.idx[i%timesKept] = t, i+1
	c.mu.Unlock()
}

func (c *captureTimes) get(i int64) (time.Time, bool) {
	if i < 0 {
		return time.Time{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx[i%timesKept] != i+1 {
		return time.Time{}, false
	}
	return c.at[i%timesKept], true
}
