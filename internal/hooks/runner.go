// Package hooks runs what the user asked camrec to run when something
// happens: a program per camera event (on_recording_start,
// on_recording_end, on_camera_lost, on_camera_found, like Motion's hooks),
// given the event in CAMREC_* environment variables and as JSON on its
// standard input, and a webhook that receives events as JSON POSTs.
//
// The Runner listens on the event bus and never slows it, nor a camera or
// a recorder: the bus drops events for it when it falls behind (counted,
// logged once per burst), at most a few hooks run at once per camera (the
// ones beyond are skipped, counted, logged), a hook past its timeout is
// killed with its whole process group, and the webhook has a bounded queue.
package hooks

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrec/camrec/internal/events"
)

// Feed is where the runner takes events from (an *events.Bus).
type Feed interface {
	Subscribe(after uint64, depth int) (missed []events.Event, lost bool, sub *events.Sub)
}

// Camera is one camera's hooks. A hook is a program's argv (run without a
// shell); nil runs nothing.
type Camera struct {
	Name             string
	OnRecordingStart []string      // recording_started
	OnRecordingEnd   []string      // segment_closed, recording_stopped, recording_failed: each file that ends (published once the file is final, remuxed)
	OnCameraLost     []string      // camera_lost
	OnCameraFound    []string      // camera_found
	OnMotionStart    []string      // motion_started
	OnMotionEnd      []string      // motion_ended
	Timeout          time.Duration // 0: DefaultTimeout
}

// Config is the runner's configuration.
type Config struct {
	Cameras []Camera
	// WebhookURL receives events as JSON POSTs ("": none). It may hold a
	// secret and is logged as scheme://host/path only.
	WebhookURL string
	// WebhookEvents limits the webhook to these types (empty: all).
	WebhookEvents []events.Type
	// WebhookSnapshot attaches a motion event's snapshot (multipart).
	WebhookSnapshot bool
	// UserAgent of the webhook's requests, e.g. "camrec/1.2.0".
	UserAgent string
	// Getenv reads camrec's environment (os.Getenv): hooks get its PATH,
	// HOME, LANG, LC_ALL and TZ, nothing else of it. nil passes nothing
	// (PATH is then a default).
	Getenv func(string) string
	Log    *slog.Logger
}

// Defaults of the runner's bounds.
const (
	// DefaultTimeout is a hook's timeout when its camera sets none.
	DefaultTimeout = 30 * time.Second
	// MaxRunning is how many hooks may run at once for one camera; an
	// event that finds them all busy runs no hook (counted, logged). Four
	// is room for a start, an end and a camera coming and going.
	MaxRunning = 4
	// ShutdownGrace is how long hooks still running when camrec stops may
	// go on before they are killed (systemd's stop timeout is 20 s, and
	// the recorders use some of it first).
	ShutdownGrace = 5 * time.Second
	// busDepth is the runner's queue on the bus: starting a process takes
	// a millisecond or so; 64 events come at once only from a storm.
	busDepth = 64
	// outputMax is how much of a hook's output is kept for the log.
	outputMax = 4 << 10
	// waitDelay is how long a hook that has exited may leave its output
	// pipe open (a child in the background) before it is closed.
	waitDelay = 500 * time.Millisecond
)

// Runner runs the hooks and the webhook. Make it with New, run it with
// Run.
type Runner struct {
	log     *slog.Logger
	sub     *events.Sub // nil when nothing is configured
	cams    map[string]*camHooks
	web     *webhook // nil without a webhook
	getenv  func(string) string
	grace   time.Duration
	running atomic.Int64
	stats   stats
}

// stats counts what the runner did, for the tests (and metrics, later);
// each count follows the log line of what it counts.
type stats struct {
	started, succeeded, failed, timedOut, killed, skipped, busDropped atomic.Uint64
}

// camHooks is a camera's hooks and its bound on running ones.
type camHooks struct {
	Camera
	slots   chan struct{} // one per running hook
	skipped int           // in the current burst; the Run loop's only
}

// hook returns the name and argv of the hook that event type t runs.
func (c *camHooks) hook(t events.Type) (string, []string) {
	switch t {
	case events.RecordingStarted:
		return "on_recording_start", c.OnRecordingStart
	case events.SegmentClosed, events.RecordingStopped, events.RecordingFailed:
		return "on_recording_end", c.OnRecordingEnd
	case events.CameraLost:
		return "on_camera_lost", c.OnCameraLost
	case events.CameraFound:
		return "on_camera_found", c.OnCameraFound
	case events.MotionStarted:
		return "on_motion_start", c.OnMotionStart
	case events.MotionEnded:
		return "on_motion_end", c.OnMotionEnd
	}
	return "", nil
}

// New returns a runner for cfg. When anything is configured it subscribes
// to feed at once, so that no event published before Run is missed; Run
// ends the subscription.
func New(cfg Config, feed Feed) *Runner {
	r := &Runner{log: cfg.Log, cams: map[string]*camHooks{}, getenv: cfg.Getenv, grace: ShutdownGrace}
	if r.getenv == nil {
		r.getenv = func(string) string { return "" }
	}
	for _, c := range cfg.Cameras {
		if c.OnRecordingStart == nil && c.OnRecordingEnd == nil && c.OnCameraLost == nil && c.OnCameraFound == nil &&
			c.OnMotionStart == nil && c.OnMotionEnd == nil {
			continue
		}
		if c.Timeout <= 0 {
			c.Timeout = DefaultTimeout
		}
		r.cams[c.Name] = &camHooks{Camera: c, slots: make(chan struct{}, MaxRunning)}
	}
	if cfg.WebhookURL != "" {
		r.web = newWebhook(cfg.WebhookURL, cfg.WebhookEvents, cfg.UserAgent, cfg.Log)
		r.web.snapshot = cfg.WebhookSnapshot
	}
	if len(r.cams) > 0 || r.web != nil {
		_, _, r.sub = feed.Subscribe(0, busDepth)
	}
	return r
}

// Run runs hooks for the events until ctx is done, then for the events
// already queued, and returns once every hook it started has finished or,
// past the shutdown grace, been killed, and the webhook's queue is
// delivered or given up. Cancel ctx when nothing publishes any more (after
// the recorders have stopped), so that the last files get their hooks.
func (r *Runner) Run(ctx context.Context) error {
	if r.sub == nil {
		return nil
	}
	// Hooks and webhook requests are cancelled by kill, not by ctx: they
	// get the grace first.
	killCtx, kill := context.WithCancel(context.WithoutCancel(ctx))
	defer kill()
	var wg sync.WaitGroup
	if r.web != nil {
		r.log.Info("webhook", "url", r.web.safeURL, "events", r.web.filterText())
		wg.Go(func() { r.web.run(killCtx) })
	}
	var dropped uint64
	handle := func(e events.Event) {
		if d := r.sub.Dropped(); d > dropped {
			r.stats.busDropped.Store(d)
			r.log.Warn("hooks and webhook fell behind the events: dropped some", "dropped", d-dropped, "dropped_total", d)
			dropped = d
		}
		r.dispatch(killCtx, &wg, e)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case e := <-r.sub.Events():
			handle(e)
		}
	}
	for drained := false; !drained; { // what was published before ctx ended
		select {
		case e := <-r.sub.Events():
			handle(e)
		default:
			drained = true
		}
	}
	r.sub.Close()
	if r.web != nil {
		r.web.close()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(r.grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		r.log.Warn("hooks or webhook still busy at shutdown: killing them", "running", r.running.Load(), "grace", r.grace)
		kill()
		<-done
	}
	return nil
}

// dispatch offers e to the webhook and starts the camera's hook for it,
// if it has one and a free slot.
func (r *Runner) dispatch(ctx context.Context, wg *sync.WaitGroup, e events.Event) {
	if r.web != nil {
		r.web.offer(e)
	}
	c := r.cams[e.Camera]
	if c == nil {
		return
	}
	name, argv := c.hook(e.Type)
	if argv == nil {
		return
	}
	select {
	case c.slots <- struct{}{}:
	default:
		r.stats.skipped.Add(1)
		if c.skipped == 0 {
			r.log.Warn("hook skipped: too many of the camera's hooks are running", "camera", c.Name, "hook", name,
				"event", e.Type, "event_id", e.ID, "running", cap(c.slots))
		}
		c.skipped++
		return
	}
	if c.skipped > 0 {
		r.log.Warn("hooks skipped while too many were running", "camera", c.Name, "skipped", c.skipped)
		c.skipped = 0
	}
	r.running.Add(1)
	wg.Go(func() {
		defer func() { <-c.slots; r.running.Add(-1) }()
		r.runHook(ctx, c.Name, name, argv, c.Timeout, e)
	})
}
