package restream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/flv"
	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/pipeline"
)

// Modes of a restream.
const (
	ModeAlways   = "always"    // published whenever camrec runs
	ModeOnDemand = "on_demand" // published while someone asks (Demand), e.g. MediaMTX's runOnDemand
)

// States of a restream, as status shows them.
const (
	StateIdle       = "idle"       // not wanted (on_demand, nobody asks), or camrec stopping
	StateConnecting = "connecting" // waiting for a keyframe and for the server to take the stream
	StateRunning    = "running"    // the server takes the frames
	StateRetrying   = "retrying"   // it failed (error says why); the next try comes after a backoff
)

// Timing of a restream.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
	// healthyRun: a restream that ran this long resets the backoff.
	healthyRun = 30 * time.Second
	// stopGrace: a publisher's ffmpeg gets this long to end after its
	// stdin is closed, then it is killed.
	stopGrace = 2 * time.Second
	// queueFrames: frames waiting for the publisher before the oldest drop
	// (the publisher then waits for the next keyframe).
	queueFrames = 60
)

// Source is what a restream publishes: a hub of H.264 frames (an Encoder,
// or an H.264 camera).
type Source interface {
	FrameHub() *pipeline.Hub
}

// EventSink takes what happens; it must not block (an *events.Bus).
type EventSink interface {
	Publish(events.Event)
}

// Config is what a Restreamer needs besides its source.
type Config struct {
	Camera string
	// URL of the server's path: rtsp://, rtsps://, rtmp://, rtmps:// or
	// srt:// (checked by ParseURL).
	URL    string
	Mode   string // ModeAlways (default) or ModeOnDemand
	FFmpeg string // "" = "ffmpeg" in PATH
	Events EventSink
}

// Status is a restream's state, as the API and metrics show it.
type Status struct {
	State    string
	Error    string    // why the last try failed; "" once one runs again
	Since    time.Time // of State
	Restarts uint64    // failures since camrec started
	Mode     string
	URL      string // without password
	Frames   uint64 // frames handed to the server since camrec started
}

// Restreamer publishes one camera to a media server with an ffmpeg that
// copies H.264 (no encode of its own): always, or while Demand holds. A
// server that goes away or refuses is retried with a backoff; nothing the
// restream does can block the camera, its preview or its recording (it is
// one more subscriber of a hub).
type Restreamer struct {
	cfg    Config
	u      *url.URL
	hide   []string
	src    Source
	log    *slog.Logger
	demand atomic.Int32
	wake   chan struct{}
	frames atomic.Uint64

	mu sync.Mutex
	st Status
}

// New returns a restreamer that is not running yet; the error wraps
// ErrBadURL.
func New(cfg Config, src Source, log *slog.Logger) (*Restreamer, error) {
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Camera, err)
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeAlways
	}
	if cfg.Mode != ModeAlways && cfg.Mode != ModeOnDemand {
		return nil, fmt.Errorf("camera %s: restream_mode %q: want always or on_demand", cfg.Camera, cfg.Mode)
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	r := &Restreamer{cfg: cfg, u: u, hide: secrets(u), src: src, wake: make(chan struct{}, 1),
		log: log.With("camera", cfg.Camera, "part", "restream", "url", Redact(u))}
	r.st = Status{State: StateIdle, Since: time.Now(), Mode: cfg.Mode, URL: Redact(u)}
	return r, nil
}

// Status returns the restream's status.
func (r *Restreamer) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.Frames = r.frames.Load()
	return st
}

// Demand asks for the restream (in mode on_demand) until release is
// called; demands add up. In mode always it changes nothing.
func (r *Restreamer) Demand() (release func()) {
	r.demand.Add(1)
	r.kick()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.demand.Add(-1)
			r.kick()
		})
	}
}

func (r *Restreamer) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Restreamer) wanted() bool {
	return r.cfg.Mode == ModeAlways || r.demand.Load() > 0
}

// set changes the state; an error is kept only with StateRetrying.
func (r *Restreamer) set(state, errText string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.State == state && r.st.Error == errText {
		return
	}
	if state == StateRetrying {
		r.st.Restarts++
	}
	r.st.State, r.st.Error, r.st.Since = state, errText, time.Now()
}

func (r *Restreamer) publish(t events.Type, errText string) {
	if r.cfg.Events != nil {
		r.cfg.Events.Publish(events.Event{Type: t, Camera: r.cfg.Camera, Error: errText})
	}
}

// Run restreams while wanted, until ctx is done.
func (r *Restreamer) Run(ctx context.Context) error {
	wait := defs.Backoff{First: retryFirst, Max: retryMax}
	for {
		if !r.wanted() {
			r.set(StateIdle, "")
			select {
			case <-ctx.Done():
				return nil
			case <-r.wake:
				continue
			}
		}
		started := time.Now()
		err := r.stream(ctx)
		if ctx.Err() != nil {
			r.set(StateIdle, "")
			return nil
		}
		if err == nil {
			wait.Reset()
			continue
		}
		if time.Since(started) > healthyRun {
			wait.Reset()
		}
		d := wait.Next()
		r.set(StateRetrying, err.Error())
		r.log.Warn("restream failed, retrying", "error", err.Error(), "in_s", d.Seconds())
		r.publish(events.RestreamFailed, err.Error())
		t := time.NewTimer(d)
	sleep:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				r.set(StateIdle, "")
				return nil
			case <-t.C:
				break sleep
			case <-r.wake:
				if !r.wanted() {
					t.Stop()
					break sleep
				}
			}
		}
	}
}

// errNewStream ends a restream whose source changed its SPS (a new size):
// the next one starts at once with the new header.
var errNewStream = errors.New("the stream's parameters changed")

// stream runs one publisher from the source's next keyframe until it is not
// wanted (nil), ctx ends (nil) or it fails (the error, without secrets).
func (r *Restreamer) stream(ctx context.Context) error {
	r.set(StateConnecting, "")
	sub := r.src.FrameHub().Subscribe(queueFrames)
	defer sub.Close()
	var first *pipeline.Frame
	var info h264.Info
	for first == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
			if !r.wanted() {
				return nil
			}
		case f := <-sub.Frames():
			if f.Key {
				if in := h264.Inspect(f.Raw); in.SPS != nil && in.PPS != nil {
					first, info = f, in
				}
			}
		}
	}
	sps := bytes.Clone(info.SPS)

	cmd := exec.Command(r.cfg.FFmpeg, publisherArgs(r.u)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	tail := &stderrTail{ready: make(chan struct{})}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", defs.RootCause(err))
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The writer owns stdin's writes; a server that stalls blocks only it.
	wctx, stopWriter := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- r.write(wctx, stdin, sub, first, info, sps) }()

	var result error
	connected := false
	ready := tail.ready
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-r.wake:
			if !r.wanted() {
				break loop
			}
		case <-ready:
			ready = nil
			connected = true
			r.set(StateRunning, "")
			r.log.Info("restream started", "pid", cmd.Process.Pid)
			r.publish(events.RestreamStarted, "")
		case err := <-wdone:
			wdone <- err
			if errors.Is(err, errNewStream) {
				result = err
			} else {
				result = fmt.Errorf("write to ffmpeg: %w", err)
			}
			break loop
		case err := <-exited:
			exited <- err
			result = fmt.Errorf("ffmpeg ended: %v", err)
			break loop
		}
	}
	stopWriter()
	stdin.Close()
	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		exitErr = <-exited
	}
	<-wdone
	switch {
	case errors.Is(result, errNewStream):
		r.log.Info("restream restarts for the stream's new parameters")
		return nil
	case result != nil:
		why := tail.String(r.hide...)
		if why == "" {
			why = fmt.Sprint(exitErr)
		}
		if !connected {
			return fmt.Errorf("the server did not take the stream: %s", why)
		}
		return fmt.Errorf("the stream broke: %s", why)
	}
	r.log.Info("restream stopped")
	r.publish(events.RestreamStopped, "")
	return nil
}

// write feeds ffmpeg the FLV of first and the frames after it, each stamped
// with its capture time, until ctx ends or a write fails. After frames were
// dropped (a slow server) it goes on at the next keyframe.
func (r *Restreamer) write(ctx context.Context, w io.Writer, sub *pipeline.Subscriber,
	first *pipeline.Frame, info h264.Info, sps []byte) error {
	start := first.Time
	last := int64(-1)
	buf := flv.AppendHeader(nil, info.SPS, info.PPS)
	var sei []byte
	dropped := sub.Dropped()
	needKey := false
	f := first
	for {
		if f != nil {
			if d := sub.Dropped(); d != dropped {
				dropped, needKey = d, true
			}
			if f.Key {
				needKey = false
				if in := h264.Inspect(f.Raw); in.SPS != nil && !bytes.Equal(in.SPS, sps) {
					return errNewStream
				}
			}
			if !needKey {
				ms := max(f.Time.Sub(start).Milliseconds(), last+1)
				last = ms
				sei = appendCaptureSEI(sei[:0], f.Time)
				buf = flv.AppendVideo(buf, f.Raw, f.Key, ms, sei)
				if _, err := w.Write(buf); err != nil {
					return err
				}
				r.frames.Add(1)
				buf = buf[:0]
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case f = <-sub.Frames():
		}
	}
}
