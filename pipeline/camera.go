package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Camera states reported in status.
const (
	StateStarting  = "starting"
	StateStreaming = "streaming"
	StateStalled   = "stalled"
	StateError     = "error"
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
}

// CameraStatus is the camera part of GET /api/v1/cameras/{cam}.
type CameraStatus struct {
	Name          string  `json:"name"`
	Device        string  `json:"device"`
	State         string  `json:"state"`
	Error         string  `json:"error"`
	Format        string  `json:"format"`
	Width         int     `json:"width"`
	Height        int     `json:"height"`
	FPSTarget     float64 `json:"fps_target"`
	FPSMeasured   float64 `json:"fps_measured"`
	Frames        uint64  `json:"frames"`
	FramesInvalid uint64  `json:"frames_invalid"`
	Clients       int     `json:"clients"`
}

// Camera runs one Source, publishes its frames to a Hub and keeps the
// counters and state that status reports. It implements Sink.
type Camera struct {
	cfg    CameraConfig
	src    Source
	hub    *Hub
	log    *slog.Logger
	frames atomic.Uint64
	inval  atomic.Uint64
	lastAt atomic.Int64 // unix nanos of the last frame

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
		cfg.StallAfter = 3 * time.Second
	}
	return &Camera{
		cfg:    cfg,
		src:    src,
		hub:    NewHub(),
		log:    log.With("camera", cfg.Name),
		state:  StateStarting,
		format: Format{Name: "mjpeg", FPS: cfg.FPS},
	}
}

// Name returns the camera's name.
func (c *Camera) Name() string { return c.cfg.Name }

// Hub returns the camera's hub.
func (c *Camera) Hub() *Hub { return c.hub }

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

// Frame implements Sink: it publishes f.
func (c *Camera) Frame(f *Frame) {
	c.frames.Add(1)
	c.lastAt.Store(f.Time.UnixNano())
	c.hub.Publish(f)
	c.mu.Lock()
	if c.state != StateStreaming {
		c.setStateLocked(StateStreaming, "")
	}
	c.mu.Unlock()
}

// Invalid implements Sink.
func (c *Camera) Invalid() { c.inval.Add(1) }

// Format returns the negotiated format (size may be 0 before the first frame).
func (c *Camera) Format() Format {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.format
}

func (c *Camera) setStateLocked(state, errText string) {
	if c.state == state && c.err == errText {
		return
	}
	c.state, c.err = state, errText
	if errText != "" {
		c.log.Warn("camera state", "state", state, "error", errText)
	} else {
		c.log.Info("camera state", "state", state)
	}
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watch(ctx)
	}()
	defer wg.Wait()

	backoff := 500 * time.Millisecond
	for {
		started := time.Now()
		err := c.src.Run(ctx, c)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("source ended")
		}
		c.setState(StateError, err.Error())
		if time.Since(started) > 10*time.Second {
			backoff = 500 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// watch measures the frame rate once a second and detects stalls.
func (c *Camera) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.tick(now)
		}
	}
}

func (c *Camera) tick(now time.Time) {
	n := c.frames.Load()
	last := c.lastAt.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.winStart.IsZero() {
		if d := now.Sub(c.winStart).Seconds(); d > 0 {
			c.fpsMeas = float64(n-c.winFrames) / d
		}
	}
	c.winStart, c.winFrames = now, n
	if c.state == StateStreaming && last != 0 && now.Sub(time.Unix(0, last)) > c.cfg.StallAfter {
		c.setStateLocked(StateStalled, "no frame for "+now.Sub(time.Unix(0, last)).Round(time.Second).String())
	}
}

// Status returns the camera's current status.
func (c *Camera) Status() CameraStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CameraStatus{
		Name:          c.cfg.Name,
		Device:        c.cfg.Device,
		State:         c.state,
		Error:         c.err,
		Format:        c.format.Name,
		Width:         c.format.Width,
		Height:        c.format.Height,
		FPSTarget:     c.format.FPS,
		FPSMeasured:   roundTo(c.fpsMeas, 2),
		Frames:        c.frames.Load(),
		FramesInvalid: c.inval.Load(),
		Clients:       c.hub.Clients(),
	}
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
