package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/v4l2"
)

// Camera states reported in status.
const (
	StateStarting  = "starting"
	StateStreaming = "streaming"
	StateStalled   = "stalled"
	StateError     = "error"
	// StateDisconnected: the device is gone or not there (unplugged, or
	// absent at start-up); the camera retries about every second.
	StateDisconnected = "disconnected"
)

// Defaults of CameraConfig.
const (
	DefaultStallAfter  = 3 * time.Second
	DefaultPreviewFPS  = 10.0
	DefaultJPEGQuality = 80
)

// Retry delays after the source failed: a disconnected camera is retried
// quickly (it should resume within 2 s of coming back), other errors
// (busy, driver refusing to stream) with exponential backoff.
const (
	reconnectFirst = 250 * time.Millisecond
	reconnectMax   = time.Second
	retryFirst     = 500 * time.Millisecond
	retryMax       = 10 * time.Second
	// A run that lasted this long resets the backoff.
	backoffReset = 10 * time.Second
)

// CameraConfig is what a Camera needs besides its source.
type CameraConfig struct {
	Name   string
	Device string // as the user gave it: "/dev/video0", "test:", "file:x.mjpeg", "pipe:"
	// StallAfter is how long without a frame makes a streaming camera stalled.
	StallAfter time.Duration
	// FPS is the requested rate, reported as fps_target until the source
	// negotiates one.
	FPS float64
	// PreviewFPS caps the rate at which frames of a raw (YUYV) camera are
	// JPEG-encoded for live preview; 0 means DefaultPreviewFPS. MJPEG
	// cameras need no encoding and are previewed at their full rate.
	PreviewFPS float64
	// JPEGQuality (1-100) of those preview and snapshot JPEGs; 0 means
	// DefaultJPEGQuality.
	JPEGQuality int
	// Events, if set, is told of every change of state (and of the camera
	// lost or found).
	Events EventSink
	// FFmpeg is the ffmpeg that decodes an H.264 camera's previews; ""
	// means "ffmpeg" in PATH.
	FFmpeg string
}

// EventSink takes what happens; it must not block (an *events.Bus).
type EventSink interface {
	Publish(events.Event)
}

// Camera runs one Source, publishes its frames and keeps the counters and
// state that status reports. It implements Sink.
//
// It has two hubs. Hub carries JPEG frames for live preview and snapshots:
// every frame of an MJPEG camera; for a raw (YUYV) camera, frames encoded in
// Go at up to PreviewFPS, and only while a preview client is subscribed
// (Hub.Clients > 0): nobody watching costs no encoding; for an H.264
// camera, frames decoded by an ffmpeg at PreviewFPS that runs only while a
// preview client is subscribed or a snapshot was asked for in the last
// seconds (see h264Preview). FrameHub carries
// every captured frame (raw ones with Frame.Raw): the recorder's hub.
//
// When the camera is unplugged or stalls, nothing is published: subscribers
// stay subscribed, Latest keeps the last frame (preview clients keep showing
// it), and frames flow again to the same subscribers once the device is
// back.
type Camera struct {
	cfg     CameraConfig
	src     Source
	hub     *Hub // JPEG frames: preview, snapshots
	all     *Hub // every frame: recorder
	log     *slog.Logger
	frames  atomic.Uint64
	inval   atomic.Uint64
	corrupt atomic.Uint64
	encoded atomic.Uint64
	restart atomic.Uint64
	lastAt  atomic.Int64 // unix nanos of the last frame

	// Preview encoding of raw frames: Frame (the capture goroutine) parks
	// the frame to encode in pending and kicks the encoder goroutine.
	pending     atomic.Pointer[Frame]
	kick        chan struct{}
	nextPreview time.Time // capture goroutine only
	snapMu      sync.Mutex
	snapEnc     yuyvEncoder // guarded by snapMu
	snap        *Frame      // last snapshot encoded, guarded by snapMu
	h264        *h264Preview

	mu      sync.Mutex
	state   string
	err     string
	format  Format
	fpsMeas float64
	// rate window
	winStart  time.Time
	winFrames uint64
}

// NewCamera returns a camera that is not running yet.
func NewCamera(cfg CameraConfig, src Source, log *slog.Logger) *Camera {
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.PreviewFPS <= 0 {
		cfg.PreviewFPS = DefaultPreviewFPS
	}
	if cfg.JPEGQuality <= 0 || cfg.JPEGQuality > 100 {
		cfg.JPEGQuality = DefaultJPEGQuality
	}
	c := &Camera{
		cfg:     cfg,
		src:     src,
		hub:     NewHub(),
		all:     NewHub(),
		log:     log.With("camera", cfg.Name),
		kick:    make(chan struct{}, 1),
		snapEnc: yuyvEncoder{quality: cfg.JPEGQuality},
		state:   StateStarting,
		format:  Format{Name: "mjpeg", FPS: cfg.FPS},
	}
	c.h264 = newH264Preview(cfg, c.hub, &c.encoded, c.log)
	return c
}

// Name returns the camera's name.
func (c *Camera) Name() string { return c.cfg.Name }

// PreviewHub returns the camera's preview hub: JPEG frames only (see Camera).
func (c *Camera) PreviewHub() *Hub { return c.hub }

// FrameHub returns the hub of every captured frame: JPEGs in Data for an
// MJPEG camera, raw images in Raw (PixFmt, Width, Height) for a raw one.
// Recorders subscribe here.
func (c *Camera) FrameHub() *Hub { return c.all }

// Snapshot returns the latest frame as a JPEG: for a raw camera the latest
// raw frame is encoded on demand (once; repeated calls for the same frame
// share the result). The error wraps ErrUnavailable before the first frame.
func (c *Camera) Snapshot(ctx context.Context) (*Frame, error) {
	f := c.all.Latest()
	if f == nil {
		return nil, fmt.Errorf("camera %q has no frame yet: %w", c.cfg.Name, defs.ErrUnavailable)
	}
	if f.Data != nil {
		return f, nil
	}
	if p := c.hub.Latest(); p != nil && p.Seq == f.Seq {
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.PixFmt == PixFmtH264 {
		return c.h264Snapshot(ctx, f)
	}
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	if c.snap != nil && c.snap.Seq == f.Seq {
		return c.snap, nil
	}
	jf, err := c.snapEnc.encode(f)
	if err != nil {
		return nil, fmt.Errorf("camera %q: snapshot: %w", c.cfg.Name, err)
	}
	c.encoded.Add(1)
	c.snap = jf
	return jf, nil
}

// h264Snapshot returns a preview JPEG of the H.264 camera whose latest
// unit is f: the newest preview if it is less than a preview interval
// older than f, else the next one the decoder makes (started if need be,
// and kept for snapshotWatch). It waits until ctx is done, at most 5 s.
func (c *Camera) h264Snapshot(ctx context.Context, f *Frame) (*Frame, error) {
	const wait = 5 * time.Second
	c.h264.watchSnapshot(wait) // while this waits
	defer c.h264.watchSnapshot(c.h264.snapWatch)
	interval := time.Duration(float64(time.Second) / c.cfg.PreviewFPS)
	if p := c.hub.Latest(); p != nil && f.Time.Sub(p.Time) <= interval {
		return p, nil
	}
	sub := c.hub.Subscribe(1)
	defer sub.Close()
	if p := c.hub.Latest(); p != nil && f.Time.Sub(p.Time) <= interval {
		return p, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case p := <-sub.Frames():
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("camera %q: snapshot: no picture decoded within 5 s: %w", c.cfg.Name, defs.ErrUnavailable)
	}
}

// PreviewDecoders reports how many preview decoders (ffmpeg) run now, and
// how many were started in all: an H.264 camera runs one while watched.
func (c *Camera) PreviewDecoders() (running int, started uint64) {
	return int(c.h264.running.Load()), c.h264.starts.Load()
}

// Negotiated implements Sink.
func (c *Camera) Negotiated(f Format) {
	c.mu.Lock()
	if f.FPS == 0 {
		f.FPS = c.cfg.FPS
	}
	c.format = f
	c.mu.Unlock()
	c.log.Info("camera format", "format", f.Name, "width", f.Width, "height", f.Height, "fps", f.FPS)
}

// Frame implements Sink: it publishes f to FrameHub, and to Hub when it is
// a JPEG; a raw frame is handed to the preview encoder when a preview
// client watches and the preview rate allows.
func (c *Camera) Frame(f *Frame) {
	c.frames.Add(1)
	c.lastAt.Store(f.Time.UnixNano())
	c.all.Publish(f)
	switch {
	case f.Data != nil:
		c.hub.Publish(f)
	case f.PixFmt == PixFmtH264:
		c.h264.offer(f)
	case f.Raw != nil && c.hub.Clients() > 0 && !f.Time.Before(c.nextPreview):
		// A fixed grid keeps the average at PreviewFPS; a gap banks no
		// credit for a burst.
		interval := time.Duration(float64(time.Second) / c.cfg.PreviewFPS)
		c.nextPreview = c.nextPreview.Add(interval)
		if c.nextPreview.Before(f.Time) {
			c.nextPreview = f.Time.Add(interval)
		}
		c.pending.Store(f)
		select {
		case c.kick <- struct{}{}:
		default: // the encoder is busy; it takes the newest pending frame next
		}
	}
	c.mu.Lock()
	if c.state != StateStreaming {
		c.setStateLocked(StateStreaming, "")
	}
	c.mu.Unlock()
}

// Invalid implements Sink.
func (c *Camera) Invalid() { c.inval.Add(1) }

// BufferError implements BufferErrorCounter.
func (c *Camera) BufferError() { c.corrupt.Add(1) }

var _ BufferErrorCounter = (*Camera)(nil)

// encodePreviews JPEG-encodes the raw frames Frame parks in pending and
// publishes them to the preview hub, until ctx is done.
func (c *Camera) encodePreviews(ctx context.Context) {
	enc := yuyvEncoder{quality: c.cfg.JPEGQuality}
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		f := c.pending.Swap(nil)
		if f == nil {
			continue
		}
		jf, err := enc.encode(f)
		if err != nil {
			if err.Error() != lastErr { // once per kind of failure, not per frame
				lastErr = err.Error()
				c.log.Warn("preview encoding failed", "error", err)
			}
			continue
		}
		c.encoded.Add(1)
		c.hub.Publish(jf)
	}
}

// Format returns the negotiated format (size may be 0 before the first frame).
func (c *Camera) Format() Format {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.format
}

// setStateLocked sets state and error text and logs the change: one line
// per state change, plus one when an error's text changes (a different
// failure), but not for every retry of a disconnected camera.
func (c *Camera) setStateLocked(state, errText string) {
	if c.state == state && c.err == errText {
		return
	}
	sameState, was := c.state == state, c.state
	c.state, c.err = state, errText
	if !sameState {
		c.announce(was, state, errText)
	}
	if sameState && state == StateDisconnected {
		return
	}
	if errText != "" {
		c.log.Warn("camera state", "state", state, "error", errText)
	} else {
		c.log.Info("camera state", "state", state)
	}
}

// announce publishes a change of state from was: camera_state, and
// camera_lost when it goes away or camera_found when it streams (again).
func (c *Camera) announce(was, state, errText string) {
	if c.cfg.Events == nil {
		return
	}
	e := events.Event{Camera: c.cfg.Name, State: state, Error: errText}
	c.cfg.Events.Publish(withType(e, events.CameraState))
	switch {
	case (state == StateDisconnected || state == StateError) && was != StateDisconnected && was != StateError:
		c.cfg.Events.Publish(withType(e, events.CameraLost))
	case state == StateStreaming && was != StateStalled:
		c.cfg.Events.Publish(withType(e, events.CameraFound))
	}
}

func withType(e events.Event, t events.Type) events.Event {
	e.Type = t
	return e
}

func (c *Camera) setState(state, errText string) {
	c.mu.Lock()
	c.setStateLocked(state, errText)
	c.mu.Unlock()
}

// Run runs the source until ctx is done, restarting it with backoff when it
// fails, and watches for stalls. It returns nil when ctx is done.
func (c *Camera) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		c.watch(ctx)
	}()
	go func() {
		defer wg.Done()
		c.h264.run(ctx)
	}()
	go func() {
		defer wg.Done()
		c.encodePreviews(ctx)
	}()
	defer wg.Wait()

	var wait defs.Backoff
	for {
		started, before := time.Now(), c.frames.Load()
		err := c.src.Run(ctx, c)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("source ended")
		}
		streamed := c.frames.Load() > before
		if streamed {
			c.restart.Add(1)
		}
		if time.Since(started) > backoffReset {
			wait.Reset()
		}
		wait.First, wait.Max = retryFirst, retryMax
		if errors.Is(err, v4l2.ErrDisconnected) {
			wait.First, wait.Max = reconnectFirst, reconnectMax
			c.setState(StateDisconnected, err.Error())
		} else {
			c.setState(StateError, err.Error())
		}
		t := time.NewTimer(wait.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
