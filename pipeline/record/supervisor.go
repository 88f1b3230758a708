// This file holds the recorder's owner loop, Run: what it does at start,
// and one method for each event it waits for (a request, a recording that
// ended by itself, the continuous retry); what ends a recording (finish,
// ended).

package record

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// Run serves SetActive until ctx is done. A recording still active then is
// finished properly (stdin closed, ffmpeg waited for; at worst SIGINT then
// SIGKILL after ~10 s), and so are stopped recordings still finishing;
// their files are remuxed (for shutdownRemuxGrace at most, then the remux
// is cancelled and the file stays as recorded) and their events published
// before Run returns nil. Every goroutine and process the recorder started
// has ended when Run returns. Run may be called only once.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("recorder: Run called twice")
	}
	defer close(r.done)
	// Remuxes outlive the request that stopped their recording but not Run:
	// at shutdown they get shutdownRemuxGrace, then they are cancelled (the
	// fragmented original stays, and is remuxed at the next start).
	bgCtx, cancelBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() {
		posted := make(chan struct{})
		go func() { r.post.Wait(); close(posted) }() // Run waits for it below
		grace := time.NewTimer(shutdownRemuxGrace)
		select {
		case <-posted:
		case <-grace.C:
			r.log.Warn("remux still running at shutdown: cancelling it", "grace_s", shutdownRemuxGrace.Seconds())
		}
		grace.Stop()
		cancelBg()
		<-posted
		bg.Wait()
	}()
	// Stopped recordings whose ffmpeg is finishing the file: Run waits for
	// them (at worst SIGINT then SIGKILL, ~10 s after their stop) before
	// it cancels the remuxes they may have started.
	defer r.drains.Wait()
	if r.ring != nil {
		ringCtx, stopRing := context.WithCancel(ctx)
		defer stopRing()
		sub := r.src.FrameHub().Subscribe(r.queueDepth(r.src.Format().FPS, r.guessSpec(), 1) + 8)
		bg.Go(func() { r.ring.fill(ringCtx, sub) })
	}
	// Finish the work a previous run left (found by Catalog.Scan).
	for id, path := range r.cat.AwaitingRemux(r.cfg.Camera) {
		r.remuxLater(bgCtx, id, path)
	}
	r.prune()

	l := &loop{r: r, want: r.cfg.Continuous, retryWait: defs.Backoff{First: restartBackoff, Max: maxBackoff}}
	defer l.unschedule()
	if l.want {
		l.startContinuous(bgCtx)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prune := time.NewTicker(r.cfg.Retention.Interval)
	defer prune.Stop()
	for {
		s := r.cur
		var sdone <-chan struct{}
		if s != nil {
			sdone = s.done
		}
		select {
		case now := <-tick.C:
			if s != nil {
				s.logDrops(now)
			}
		case <-prune.C:
			r.prune()
		case <-ctx.Done():
			if s != nil {
				r.finish(s, endShutdown)
			}
			return nil // the deferred drains.Wait waits for the files
		case req := <-r.reqs:
			req.reply <- l.request(bgCtx, req)
		case <-sdone:
			l.ended(s)
		case <-l.retryC():
			l.retry(bgCtx)
		}
	}
}

// loop is Run's state: whether a recording is wanted, and the continuous
// recording's next try.
type loop struct {
	r         *Recorder
	want      bool        // the user (or continuous mode) wants a recording
	motion    bool        // motion detection wants one (recording mode "events")
	next      *time.Timer // continuous: the next try; nil when none is scheduled
	retryWait defs.Backoff
}

// request serves a SetActive or a SetMotion. ctx is the recordings'
// context. A recording runs while the user (or continuous mode) or motion
// wants one; a user's stop ends it whoever started it.
func (l *loop) request(ctx context.Context, req setRequest) setReply {
	r := l.r
	var rep setReply
	if req.motion {
		l.motion = req.active
	} else {
		l.want = req.active
		l.motion = l.motion && req.active
		l.unschedule()
	}
	switch {
	case l.want || l.motion:
		// Continuous recording waits for the camera's frames; a recording
		// on request needs a camera that delivers.
		if r.cur == nil || l.want {
			var motionAt time.Time
			if req.motion {
				motionAt = req.motionAt
			}
			rep.err = r.start(ctx, req.at.Add(startTimeout), !r.cfg.Continuous, motionAt)
		}
	case r.cur != nil:
		rep.drained = r.finish(r.cur, endStop)
	}
	r.mu.Lock()
	switch {
	case r.cur == nil:
		r.trigger = ""
	case r.cfg.Continuous && l.want:
		r.trigger = TriggerContinuous
	case l.want:
		r.trigger = TriggerManual
	case l.motion:
		r.trigger = TriggerMotion
	}
	r.mu.Unlock()
	rep.status = r.Status()
	return rep
}

// ended handles the active session s ending by itself (maximum duration
// reached, or failed): continuous recording tries again later.
func (l *loop) ended(s *session) {
	l.r.ended(s)
	l.motion = false
	if l.want && l.r.cfg.Continuous {
		if s.ranFor() > 2*maxBackoff {
			l.retryWait.Reset()
		}
		l.schedule()
	}
}

// retry is the continuous recording's next try.
func (l *loop) retry(ctx context.Context) {
	l.unschedule()
	if l.want && l.r.cur == nil {
		l.startContinuous(ctx)
	}
}

// startContinuous starts the continuous recording; when that fails, status
// says why and a retry is scheduled (unless retrying cannot help).
func (l *loop) startContinuous(ctx context.Context) {
	r := l.r
	err := r.start(ctx, time.Now().Add(startTimeout), false, time.Time{})
	if err == nil {
		r.mu.Lock()
		r.trigger = TriggerContinuous
		r.mu.Unlock()
		return
	}
	r.log.Error("continuous recording: start failed", "error", err.Error())
	r.mu.Lock()
	r.lastErr = err.Error()
	r.mu.Unlock()
	if r.retryable() {
		l.schedule()
	}
}

func (l *loop) schedule() {
	wait := l.retryWait.Next()
	l.next = time.NewTimer(wait)
	l.r.mu.Lock()
	l.r.waiting = true
	l.r.mu.Unlock()
	l.r.log.Info("continuous recording: retrying later", "in_s", wait.Seconds())
}

func (l *loop) unschedule() {
	if l.next != nil {
		l.next.Stop()
		l.next = nil
	}
	l.r.mu.Lock()
	l.r.waiting = false
	l.r.mu.Unlock()
}

// retryC is the channel of the next try, nil (never ready) when none is
// scheduled.
func (l *loop) retryC() <-chan time.Time {
	if l.next == nil {
		return nil
	}
	return l.next.C
}

// retryable reports whether trying to record again may succeed: not with a
// bad config or without ffmpeg.
func (r *Recorder) retryable() bool {
	return r.cfgErr == nil && r.cfg.FFmpeg != "" && r.cfg.FFmpegErr == nil
}

// ended takes the finished session s off the recorder. Called by Run.
func (r *Recorder) ended(s *session) {
	r.mu.Lock()
	r.cur = nil
	r.trigger = ""
	if s == r.newest {
		r.lastErr = s.errText
	}
	r.mu.Unlock()
}

// finish tells the active session s to stop and returns at once: s stops
// taking frames (it writes those captured before now) and its ffmpeg's
// stdin is closed; s is then finishing (Status says so) until its ffmpeg
// has finished the file, which a goroutine of r.drains waits for, with
// the usual escalation (stdin closed after stopDeadline if ffmpeg does not
// read, then SIGINT, then SIGKILL). The returned channel is closed when s
// has finished everything and its outcome is in Status. Called by Run.
func (r *Recorder) finish(s *session, why endReason) <-chan struct{} {
	s.requestStop(why)
	r.mu.Lock()
	r.cur = nil
	r.trigger = ""
	r.finishing = append(r.finishing, s)
	r.mu.Unlock()
	drained := make(chan struct{})
	r.drains.Go(func() {
		s.awaitStop()
		r.mu.Lock()
		r.finishing = slices.DeleteFunc(r.finishing, func(x *session) bool { return x == s })
		if s == r.newest {
			r.lastErr = s.errText
		}
		r.mu.Unlock()
		close(drained)
	})
	return drained
}
