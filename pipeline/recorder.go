package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// FrameSource is what the recorder needs of a camera (*Camera satisfies it):
// the hub of every captured frame (JPEGs of an MJPEG camera, raw images of a
// YUYV one) and the negotiated format.
type FrameSource interface {
	FrameHub() *Hub
	Format() Format
}

var _ FrameSource = (*Camera)(nil)

// cameraStatuser is implemented by a FrameSource that reports its state
// (*Camera does). A recorder whose source has it finishes the file within a
// fraction of a second of the camera going away (state disconnected or
// error), and tells a camera that restarted its stream (unplugged and back,
// EIO) apart from one that merely slowed down; without it, only the stall
// timeout ends a file.
type cameraStatuser interface {
	Status() CameraStatus
}

var _ cameraStatuser = (*Camera)(nil)

// Timing of a recorder's ffmpeg.
const (
	// startTimeout bounds how long starting waits for the first frame and
	// for ffmpeg to open its output, from the request's arrival: then the
	// start answers with the recording running (state recording, frames
	// 0 if ffmpeg has taken none yet).
	startTimeout = 5 * time.Second
	// answerTimeout bounds how long SetActive waits for the owner loop
	// (which answers a start within startTimeout, a stop at once): past
	// it, the caller gets an error wrapping ErrUnavailable rather than
	// waiting past a typical HTTP client's patience (Home Assistant: 10 s).
	answerTimeout = startTimeout + 2*time.Second
	// stopAnswerGrace: a stop answers as soon as the recording is told to
	// stop, with state finishing while its ffmpeg finishes the file in the
	// background; if that is over within stopAnswerGrace (the usual case:
	// 10-40 ms measured for copy and x264 at 720p30), the answer already
	// says idle (or failed) and the catalogue entry is final, so that a
	// client may delete or fetch it right away.
	stopAnswerGrace = 500 * time.Millisecond
	// stopDeadline bounds how long a stop waits for ffmpeg to finish the
	// file after stdin is closed; then SIGINT, then after killGrace SIGKILL.
	stopDeadline = 8 * time.Second
	killGrace    = 2 * time.Second
	// stallGrace: when the camera delivers nothing, slots older than this
	// are filled with the last frame, so the file keeps growing, until
	// RecorderConfig.StallTimeout ends the file (see session.pause).
	stallGrace = time.Second
	// awayGrace: a camera that reports itself disconnected or in error and
	// has sent nothing for this long is away: its file is finished at once.
	awayGrace = 200 * time.Millisecond
	// maxQueueBytes bounds the recorder's queue of raw frames (two seconds
	// of 1080p YUYV would be 250 MB).
	maxQueueBytes = 64 << 20
	// queueSeconds of frames wait for the writer before the oldest drop.
	queueSeconds = 2
	// pipeSize of ffmpeg's stdin: a few frames of 1080p MJPEG (the default
	// 64 KiB is smaller than one).
	pipeSize = 1 << 20
	// dropLogEvery limits "too slow" warnings to one per interval.
	dropLogEvery = 5 * time.Second
	// Restarts of a dead ffmpeg: the first after a healthy run is immediate
	// (the recording goes on in a new file within the time ffmpeg takes to
	// start, ~0.1 s), the next ones wait restartBackoff, doubling up to
	// maxBackoff; after maxRestarts failures in a row the recording fails.
	// A file is healthy when it ran healthyAfter.
	restartBackoff = 500 * time.Millisecond
	maxBackoff     = 30 * time.Second
	maxRestarts    = 5
	healthyAfter   = 5 * time.Second
)

// Recorder records one camera: it owns the ffmpeg processes of its
// recordings, feeds them the camera's frames resampled to a constant rate,
// cuts segments, restarts a dead ffmpeg into a new file, applies retention
// and keeps the catalogue informed. Run is its owner loop; SetActive and
// Status may be called from any goroutine.
//
// Segments are cut by camrec, not by ffmpeg's segment muxer: every output
// slot (1/fps of time) goes to exactly one file, file n holding the slots
// [n·N, (n+1)·N) with N = segment × fps, so consecutive files neither
// overlap nor leave a gap, each file is a normal recording (crash-safe,
// catalogued with its sidecar, remuxed, linked to its neighbours), and a
// dead ffmpeg costs only the file it was writing. The next file's ffmpeg is
// started before the previous one's input is closed.
type Recorder struct {
	cfg    RecorderConfig
	cfgErr error
	src    FrameSource
	cat    *Catalog
	log    *slog.Logger
	ring   *preRing // nil without pre-record

	reqs chan setRequest
	done chan struct{} // closed when Run returns
	ran  atomic.Bool
	post sync.WaitGroup // remuxes of finished recordings; Run waits for them

	pruneMu  sync.Mutex // one retention pass at a time
	restarts atomic.Uint64
	deleted  atomic.Uint64

	// drains are the goroutines that wait for stopped sessions to finish
	// their files (see finish); Run waits for them before it returns.
	drains sync.WaitGroup

	mu        sync.Mutex
	cur       *session   // active recording; written by Run only
	finishing []*session // stopped, their ffmpeg finishing the files
	newest    *session   // the last session started: lastErr is its outcome
	lastErr   string
	waiting   bool // continuous: a retry is scheduled
}

type setRequest struct {
	active bool
	at     time.Time     // when the caller asked: the start's deadline counts from it
	reply  chan setReply // buffered: Run never blocks on a caller that left
}

type setReply struct {
	status RecordingStatus
	err    error
	// drained is closed when the recording this stop ended has finished
	// its files (nil if the stop ended none).
	drained <-chan struct{}
}

// unavailableErr is an error for the user that wraps ErrUnavailable (HTTP
// 503) without adding to its message.
type unavailableErr struct{ msg string }

func (e *unavailableErr) Error() string { return e.msg }

func (e *unavailableErr) Unwrap() error { return ErrUnavailable }

// NewRecorder returns a recorder of src's frames into cat's dir. A config
// that fails Validate makes every start fail with that error.
func NewRecorder(cfg RecorderConfig, src FrameSource, cat *Catalog, log *slog.Logger) *Recorder {
	cfg = cfg.withDefaults()
	r := &Recorder{
		cfg:    cfg,
		cfgErr: cfg.Validate(),
		src:    src,
		cat:    cat,
		log:    log.With("camera", cfg.Camera),
		reqs:   make(chan setRequest),
		done:   make(chan struct{}),
	}
	if cfg.PreRecord > 0 {
		r.ring = newPreRing(cfg.PreRecord, cfg.PreRecordMaxBytes, r.log)
	}
	return r
}

// Run serves SetActive until ctx is done. A recording still active then is
// finished properly (stdin closed, ffmpeg waited for; at worst SIGINT then
// SIGKILL after ~10 s), and so are stopped recordings still finishing,
// before Run returns nil; a remux in progress is cancelled. Every goroutine and process the recorder started has ended
// when Run returns. Run may be called only once.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("recorder: Run called twice")
	}
	defer close(r.done)
	// Remuxes outlive the request that stopped their recording but not Run:
	// at shutdown they are cancelled (the fragmented original stays).
	bgCtx, cancelBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() {
		cancelBg()
		r.post.Wait()
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
	for id, path := range r.cat.awaitingRemux(r.cfg.Camera) {
		r.remuxLater(bgCtx, id, path)
	}
	r.prune()

	want := r.cfg.Continuous
	var retry *time.Timer
	var retryC <-chan time.Time
	retryWait := backoff{First: restartBackoff, Max: maxBackoff}
	schedule := func() {
		wait := retryWait.Next()
		retry = time.NewTimer(wait)
		retryC = retry.C
		r.mu.Lock()
		r.waiting = true
		r.mu.Unlock()
		r.log.Info("continuous recording: retrying later", "in_s", wait.Seconds())
	}
	unschedule := func() {
		if retry != nil {
			retry.Stop()
		}
		retry, retryC = nil, nil
		r.mu.Lock()
		r.waiting = false
		r.mu.Unlock()
	}
	defer unschedule()
	if want {
		if err := r.start(bgCtx, time.Now().Add(startTimeout), false); err != nil {
			r.log.Error("continuous recording: start failed", "error", err.Error())
			if r.retryable() {
				schedule()
			}
		}
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
			var rep setReply
			want = req.active
			unschedule()
			if req.active {
				// Continuous recording waits for the camera's frames;
				// a recording on request needs a camera that delivers.
				rep.err = r.start(bgCtx, req.at.Add(startTimeout), !r.cfg.Continuous)
			} else if s != nil {
				rep.drained = r.finish(s, endStop)
			}
			rep.status = r.Status()
			req.reply <- rep
		case <-sdone:
			// Ended by itself: max duration reached, or failed.
			r.ended(s)
			if want && r.cfg.Continuous {
				if s.ranFor() > 2*maxBackoff {
					retryWait.Reset()
				}
				schedule()
			}
		case <-retryC:
			unschedule()
			if want && r.cur == nil {
				if err := r.start(bgCtx, time.Now().Add(startTimeout), false); err != nil {
					r.log.Error("continuous recording: start failed", "error", err.Error())
					if r.retryable() {
						schedule()
					}
				}
			}
		}
	}
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

// prune applies the retention rules and counts what they deleted.
func (r *Recorder) prune() int {
	if !r.cfg.Retention.Enabled() {
		return 0
	}
	r.pruneMu.Lock()
	defer r.pruneMu.Unlock()
	pruned, err := r.cat.Prune(r.cfg.Camera, r.cfg.Retention, time.Now())
	for _, p := range pruned {
		r.log.Info("recording deleted by retention", "recording_id", p.Recording.ID, "rule", p.Reason,
			"bytes", p.Recording.Bytes, "started_at", p.Recording.StartedAt)
	}
	if err != nil {
		r.log.Warn("retention", "error", err.Error())
	}
	r.deleted.Add(uint64(len(pruned)))
	return len(pruned)
}

// remuxLater turns a finished fragmented MP4 into a plain one in the
// background (see ffmpegArgs for why). The recording stays listed and
// playable meanwhile, and may be deleted (the remux is then thrown away).
func (r *Recorder) remuxLater(ctx context.Context, id, path string) {
	// The catalogue refuses what needs no remux (a complete MKV or AVI).
	if r.cfg.FFmpeg == "" || !r.cat.beginRemux(id) {
		return
	}
	r.post.Go(func() {
		t0 := time.Now()
		tmp := remuxTemp(path)
		r.remuxEnded(id, path, t0, remuxRecording(ctx, r.cfg.FFmpeg, path, tmp))
	})
}

// remuxEnded hands the outcome of the remux of id (started at t0) to the
// catalogue and logs what became of the recording.
func (r *Recorder) remuxEnded(id, path string, t0 time.Time, remuxErr error) {
	err := r.cat.endRemux(id, remuxTemp(path), remuxErr)
	switch {
	case errors.Is(err, errRemuxDiscarded):
		// A delete (the user's or retention's) won: nothing is left to keep.
		attrs := []any{"recording_id", id, "path", path}
		if remuxErr != nil {
			attrs = append(attrs, "remux_error", remuxErr.Error())
		}
		r.log.Info("recording deleted during remux; remux result discarded", attrs...)
	case err != nil:
		r.log.Warn("remux recording failed: keeping the original file", "recording_id", id, "path", path, "error", err.Error())
	default:
		r.log.Info("recording remuxed", "recording_id", id, "path", path, "took_s", roundTo(time.Since(t0).Seconds(), 3))
	}
}

// SetActive starts (true) or stops (false) recording and returns the state
// after the change. It is idempotent. Every error names the camera. Starting fails when ffmpeg is missing
// (the error wraps ErrFFmpegMissing), the record dir is not writable, or
// ffmpeg exits at once (its stderr is in the error). When the file cannot
// be created (the record dir is read-only, full, or not a directory), the
// error wraps ErrUnavailable and names the cause. Unless recording is
// continuous (which waits for frames), starting also fails, wrapping
// ErrUnavailable and saying the camera's state, when the camera delivers
// nothing (no frame yet, disconnected, in error, stalled) and no
// pre-record holds frames: such a recording would record nothing.
//
// A start answers once ffmpeg has taken the first frame and opened its
// output, or with the recording running after startTimeout. A stop answers
// as soon as the recording is told to stop: Active false, and state
// finishing while its ffmpeg finishes the file in the background (idle or
// failed if that took less than stopAnswerGrace). A recording that failed
// is reported in RecordingStatus.Error, not as an error. Whatever the
// owner loop is doing, SetActive returns within answerTimeout (the error
// then wraps ErrUnavailable).
func (r *Recorder) SetActive(ctx context.Context, active bool) (RecordingStatus, error) {
	if active && r.cfg.FFmpegErr != nil {
		return r.Status(), fmt.Errorf("camera %q: start recording: %w", r.cfg.Camera, r.cfg.FFmpegErr)
	}
	req := setRequest{active: active, at: time.Now(), reply: make(chan setReply, 1)}
	bound := time.NewTimer(answerTimeout)
	defer bound.Stop()
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return r.Status(), fmt.Errorf("camera %q: set recording: %w", r.cfg.Camera, ctx.Err())
	case <-r.done:
		return r.Status(), fmt.Errorf("camera %q: set recording: recorder is not running", r.cfg.Camera)
	case <-bound.C:
		return r.Status(), &unavailableErr{fmt.Sprintf("camera %q: set recording: the recorder is busy (the request was not taken within %s): nothing changed, try again", r.cfg.Camera, answerTimeout)}
	}
	var rep setReply
	select {
	case rep = <-req.reply:
	case <-ctx.Done():
		return r.Status(), fmt.Errorf("camera %q: set recording: %w (the change goes on)", r.cfg.Camera, ctx.Err())
	case <-bound.C:
		return r.Status(), &unavailableErr{fmt.Sprintf("camera %q: set recording: no answer within %s: the change goes on, see the recording's state", r.cfg.Camera, answerTimeout)}
	}
	if rep.drained != nil {
		grace := time.NewTimer(stopAnswerGrace)
		defer grace.Stop()
		select {
		case <-rep.drained:
			rep.status = r.Status()
		case <-grace.C:
		case <-ctx.Done():
		}
	}
	return rep.status, rep.err
}
