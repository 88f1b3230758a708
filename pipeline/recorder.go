package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RecorderConfig is what a Recorder needs to know about one camera's
// recordings.
type RecorderConfig struct {
	// Camera is the camera name: files go to Dir/<Camera>/<Camera>-YYYYMMDD-HHMMSS.<ext>
	// (local time), never overwriting (-2, -3 ... are appended).
	Camera string
	// Dir is the record dir root.
	Dir string
	// Container is "mp4" (default), "mkv" or "avi".
	Container string
	// Codec is "libx264" (default), "copy" (mkv and avi only: stores the
	// camera's MJPEG as is) or another ffmpeg encoder such as h264_v4l2m2m.
	// Hardware encoders that need a device or hwupload filter (h264_vaapi)
	// are passed through as is and fail at start with ffmpeg's message.
	Codec string
	// Preset is the x264 preset. Default ultrafast: measured on 2 cores,
	// 1080p30 costs ~77% of one core with ultrafast and ~160% with superfast.
	Preset string
	// CRF is the x264 quality, 0 (lossless) to 51; nil means the
	// default 23.
	CRF *int
	// FFmpeg is the path of ffmpeg (from LookFFmpeg), or "" when missing.
	FFmpeg string
	// FFmpegErr is non-nil when ffmpeg is missing: starting a recording
	// fails with it (it wraps ErrFFmpegMissing).
	FFmpegErr error

	// PreRecord keeps the last PreRecord of frames in memory; a recording
	// starts with them. 0 = off.
	PreRecord time.Duration
	// PreRecordMaxBytes bounds that memory (default 64 MiB).
	PreRecordMaxBytes int64
	// MaxDuration stops a recording by itself after that long. 0 = none.
	MaxDuration time.Duration
	// Segment splits a recording into files of that length (at least 1 s),
	// with no gap or overlap. 0 = one file (except with Continuous).
	Segment time.Duration
	// Continuous records all the time, in segments (default 10 min), from
	// Run's start; SetActive(false) pauses it, SetActive(true) resumes.
	Continuous bool
	// FsyncInterval is how often the file being written is flushed to the
	// disk (default 2 s; negative = never, only at close).
	FsyncInterval time.Duration
	// Retention deletes old recordings of this camera.
	Retention Retention
	// StallTimeout: when the camera delivers no frame for that long (or
	// reports itself disconnected or in error), the file being written is
	// finished; the recording goes on in a new file when frames return.
	// Default DefaultStallAfter, the camera's own stall timeout.
	StallTimeout time.Duration
}

const (
	defaultContainer         = "mp4"
	defaultCodec             = "libx264"
	defaultPreset            = "ultrafast"
	defaultCRF               = 23
	defaultFPS               = 30
	defaultPreRecordMaxBytes = 64 << 20
	defaultContinuousSegment = 10 * time.Minute
	defaultFsyncInterval     = 2 * time.Second
	minSegment               = time.Second
)

var (
	x264Presets    = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	encoderPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]{0,63}$`)
)

func (c RecorderConfig) withDefaults() RecorderConfig {
	if c.Container == "" {
		c.Container = defaultContainer
	}
	if c.Codec == "" {
		c.Codec = defaultCodec
	}
	if c.Preset == "" {
		c.Preset = defaultPreset
	}
	if c.CRF == nil {
		crf := defaultCRF
		c.CRF = &crf
	}
	if c.PreRecordMaxBytes == 0 {
		c.PreRecordMaxBytes = defaultPreRecordMaxBytes
	}
	if c.Continuous && c.Segment == 0 {
		c.Segment = defaultContinuousSegment
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = defaultFsyncInterval
	}
	if c.Retention.Interval == 0 {
		c.Retention.Interval = defaultRetentionInterval
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallAfter
	}
	return c
}

// ValidateEncoding checks how a recording is to be encoded: the container
// (mp4, mkv, avi), the codec (an ffmpeg encoder name, or copy for mkv/avi),
// the x264 preset (for libx264) and the CRF. Its errors name the setting;
// the config loader and Validate share it.
func ValidateEncoding(container, codec, preset string, crf int) error {
	var errs []error
	switch container {
	case "mp4", "mkv", "avi":
	default:
		errs = append(errs, fmt.Errorf("container %q: want mp4, mkv or avi", container))
	}
	switch {
	case !encoderPattern.MatchString(codec):
		errs = append(errs, fmt.Errorf("codec %q: want copy or an ffmpeg encoder name such as libx264 or h264_v4l2m2m", codec))
	case codec == "copy" && container == "mp4":
		errs = append(errs, errors.New(`codec "copy": container mp4 cannot store MJPEG as is; use container mkv or avi, or an encoder such as libx264`))
	}
	if codec == "libx264" && !slices.Contains(x264Presets, preset) {
		errs = append(errs, fmt.Errorf("preset %q: want one of %s", preset, strings.Join(x264Presets, ", ")))
	}
	if crf < 0 || crf > 51 {
		errs = append(errs, fmt.Errorf("crf %d: want 0-51", crf))
	}
	return errors.Join(errs...)
}

// Validate checks the settings (after defaults). Its errors name the setting.
func (c RecorderConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if !cameraNamePattern.MatchString(c.Camera) {
		errs = append(errs, fmt.Errorf("camera %q: want 1-64 letters, digits, '-' or '_', starting with a letter or digit", c.Camera))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("record dir: must be set"))
	}
	if err := ValidateEncoding(c.Container, c.Codec, c.Preset, *c.CRF); err != nil {
		errs = append(errs, err)
	}
	if c.PreRecord < 0 {
		errs = append(errs, fmt.Errorf("pre-record %s: must not be negative", c.PreRecord))
	}
	if c.PreRecordMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("pre-record max bytes %d: must not be negative", c.PreRecordMaxBytes))
	}
	if c.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("max duration %s: must not be negative", c.MaxDuration))
	}
	if c.Segment != 0 && c.Segment < minSegment {
		errs = append(errs, fmt.Errorf("segment %s: want at least %s", c.Segment, minSegment))
	}
	if c.Continuous && c.MaxDuration > 0 {
		errs = append(errs, errors.New("max duration: cannot be combined with continuous recording (use segment)"))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("stall timeout %s: must not be negative", c.StallTimeout))
	}
	if err := c.Retention.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

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

// copyRawError is why copy mode cannot record a raw camera.
func copyRawError(camera string, in inputSpec) error {
	return fmt.Errorf("codec copy stores the camera's MJPEG; camera %s delivers raw %s: use an encoder such as libx264", camera, in.PixFmt)
}

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

// Recorder states in RecordingStatus.State.
const (
	RecorderIdle      = "idle"
	RecorderRecording = "recording"
	RecorderFailed    = "failed"  // the last recording failed; not recording
	RecorderWaiting   = "waiting" // continuous: waiting to retry after a failure
	// RecorderFinishing: not recording; a stopped recording's ffmpeg is
	// still finishing its file (then idle, or failed).
	RecorderFinishing = "finishing"
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
	postCtx, cancelPost := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() {
		cancelPost()
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
	for id, path := range r.cat.fragmented(r.cfg.Camera) {
		r.remuxLater(postCtx, id, path)
	}
	r.prune()

	want := r.cfg.Continuous
	var retry *time.Timer
	var retryC <-chan time.Time
	backoff := time.Duration(0)
	schedule := func() {
		backoff = min(max(2*backoff, time.Second), maxBackoff)
		retry = time.NewTimer(backoff)
		retryC = retry.C
		r.mu.Lock()
		r.waiting = true
		r.mu.Unlock()
		r.log.Info("continuous recording: retrying later", "in_s", backoff.Seconds())
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
		if err := r.start(postCtx, time.Now().Add(startTimeout), false); err != nil {
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
				rep.err = r.start(postCtx, req.at.Add(startTimeout), !r.cfg.Continuous)
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
					backoff = 0
				}
				schedule()
			}
		case <-retryC:
			unschedule()
			if want && r.cur == nil {
				if err := r.start(postCtx, time.Now().Add(startTimeout), false); err != nil {
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
// after the change. It is idempotent. Starting fails when ffmpeg is missing
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
		return r.Status(), fmt.Errorf("start recording: %w", r.cfg.FFmpegErr)
	}
	req := setRequest{active: active, at: time.Now(), reply: make(chan setReply, 1)}
	bound := time.NewTimer(answerTimeout)
	defer bound.Stop()
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return r.Status(), fmt.Errorf("set recording: %w", ctx.Err())
	case <-r.done:
		return r.Status(), errors.New("set recording: recorder is not running")
	case <-bound.C:
		return r.Status(), &unavailableErr{fmt.Sprintf("set recording: the recorder is busy (the request was not taken within %s): nothing changed, try again", answerTimeout)}
	}
	var rep setReply
	select {
	case rep = <-req.reply:
	case <-ctx.Done():
		return r.Status(), fmt.Errorf("set recording: %w (the change goes on)", ctx.Err())
	case <-bound.C:
		return r.Status(), &unavailableErr{fmt.Sprintf("set recording: no answer within %s: the change goes on, see the recording's state", answerTimeout)}
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

// Status reports the active recording; else finishing while a stopped
// recording's ffmpeg finishes its file, waiting while continuous recording
// waits to retry, or failed (with why) when the last recording failed. It
// is cheap and safe from any goroutine.
func (r *Recorder) Status() RecordingStatus {
	r.mu.Lock()
	s, lastErr, waiting, finishing := r.cur, r.lastErr, r.waiting, len(r.finishing) > 0
	r.mu.Unlock()
	st := RecordingStatus{Restarts: r.restarts.Load(), RetentionDeleted: r.deleted.Load(), State: RecorderIdle}
	if s == nil {
		if lastErr == "" && r.cfg.FFmpegErr != nil {
			lastErr = r.cfg.FFmpegErr.Error()
		}
		st.Error = lastErr
		switch {
		case finishing:
			st.State = RecorderFinishing
		case waiting:
			st.State = RecorderWaiting
		case lastErr != "":
			st.State = RecorderFailed
		}
		return st
	}
	started := s.startedAt()
	st.Active, st.State, st.StartedAt = true, RecorderRecording, &started
	st.Frames = s.frames.Load()
	st.Dropped = s.sub.Dropped()
	if l := s.latency.Load(); l > 0 {
		st.StartLatencyMS = roundTo(float64(l)/1e6, 1)
	}
	if n := s.syncedAt.Load(); n > 0 {
		t := time.Unix(0, n)
		st.SyncedAt = &t
	}
	s.mu.Lock()
	f := s.file
	st.Error = s.lastErr
	s.mu.Unlock()
	if f != nil {
		st.ID, st.Segment = f.id, f.index
		if fi, err := os.Stat(f.path); err == nil {
			st.Bytes = fi.Size()
		}
	}
	return st
}

// ffmpegPID returns the pid of the active ffmpeg, 0 if none (for tests).
func (r *Recorder) ffmpegPID() int {
	r.mu.Lock()
	s := r.cur
	r.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return 0
	}
	return s.file.cmd.Process.Pid
}

// session is one recording as the user asked for it: one writer goroutine
// feeding a sequence of files (segments, or new files after ffmpeg died).
// Fields without comment are set before the writer starts and not changed
// after.
type session struct {
	r         *Recorder
	fps       float64
	requested time.Time
	sub       *Subscriber
	pre       []*Frame  // pre-record frames, oldest first
	cut       time.Time // frames in sub captured up to cut are in pre
	log       *slog.Logger
	segSlots  int64 // slots per file; 0 = one file
	maxSlots  int64 // 0 = no limit

	spec inputSpec // what the first file's ffmpeg is started for

	frames     atomic.Uint64 // slots written to ffmpeg, all files
	firstNanos atomic.Int64  // capture time of the first frame, 0 before
	latency    atomic.Int64  // request → first slot written to ffmpeg, ns
	syncedAt   atomic.Int64  // unix nanos of the last flush to disk, 0 before
	firstFrame chan struct{} // closed by the writer at the first frame
	respecced  chan struct{} // closed by the writer if the first file was replaced for the frames' format

	mu      sync.Mutex
	file    *segFile // the file being written; nil between files
	lastErr string   // why the previous file ended badly, while recording

	stopAt time.Time     // set by stop before closing stopCh
	why    endReason     // idem
	stopCh chan struct{} // asks the writer to fill up to stopAt and end
	wrote  chan struct{} // closed when the writer has written its last frame

	done    chan struct{} // closed when the writer has ended everything
	errText string        // why the session failed, "" if not; after done
	endedAt time.Time     // after done

	finals sync.WaitGroup // files being finished in the background

	// Used by the writer only.
	lastID    string // the newest file's ID, for links
	nextIndex int    // index of the next file
	failures  int    // ffmpeg failures in a row
	// Slot baseSlot stands for capture time baseTime: the first frame, and
	// again the first frame after the camera was away (see pause).
	baseSlot     int64
	baseTime     time.Time
	away         bool      // the camera went away: no file until frames return
	pausedAfter  time.Time // capture time of the last frame before the pause
	lastRecv     time.Time // when the writer last took a frame
	restartsSeen uint64    // the camera's restart count as last seen
	badFrames    bool      // a raw frame of the wrong size was logged

	dropsLogged   uint64 // used by Run only
	dropsLoggedAt time.Time
}

// segFile is one file of a session and the ffmpeg writing it.
type segFile struct {
	id, path  string
	index     int   // position in the session, from 0
	firstSlot int64 // session slot index of its first frame
	prevID    string
	spec      inputSpec // what its ffmpeg reads
	// Set by the writer with the first slot written; read by finishFile,
	// which runs after the writer is done with the file.
	startAt       time.Time // capture time of its first slot
	width, height int
	launched      time.Time
	cmd           *exec.Cmd
	stdin         *os.File
	tail          *tailWriter
	frames        int64 // slots written; by the writer only

	exited  chan struct{} // closed when ffmpeg has exited
	waitErr error         // read after exited
}

func (f *segFile) ready() bool {
	select {
	case <-f.tail.Ready():
		return true
	default:
		return false
	}
}

func (s *session) startedAt() time.Time {
	if n := s.firstNanos.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return s.requested
}

// slotTime is the capture time slot k stands for (writer only).
func (s *session) slotTime(k int64) time.Time {
	base := s.baseTime
	if base.IsZero() {
		base = s.requested
	}
	return base.Add(time.Duration(float64(k-s.baseSlot) / s.fps * float64(time.Second)))
}

func (s *session) ranFor() time.Duration { return s.endedAt.Sub(s.requested) }

// start launches a recording unless one is active, and waits until
// deadline at most for ffmpeg to take the first frame and open its output.
// With needFrames, a camera that delivers nothing (see cameraAbsent) and no
// pre-record frames make it fail, wrapping ErrUnavailable, before any file
// or ffmpeg is made. Called by Run.
func (r *Recorder) start(ctx context.Context, deadline time.Time, needFrames bool) error {
	if r.cur != nil {
		return nil
	}
	if r.cfgErr != nil {
		return fmt.Errorf("start recording: %w", r.cfgErr)
	}
	if r.cfg.FFmpeg == "" {
		return fmt.Errorf("start recording: %w", missingError("ffmpeg not found in PATH: install it (apt-get install ffmpeg) or set -ffmpeg"))
	}
	requested := time.Now()
	fps := r.src.Format().FPS
	if fps <= 0 {
		fps = defaultFPS
	}
	spec := r.guessSpec()
	if spec.Raw() && r.cfg.Codec == "copy" {
		return fmt.Errorf("start recording: %w", copyRawError(r.cfg.Camera, spec))
	}
	r.prune()
	s := &session{
		r:          r,
		fps:        fps,
		requested:  requested,
		spec:       spec,
		firstFrame: make(chan struct{}),
		respecced:  make(chan struct{}),
		stopCh:     make(chan struct{}),
		wrote:      make(chan struct{}),
		done:       make(chan struct{}),
	}
	if cs, ok := r.src.(cameraStatuser); ok {
		s.restartsSeen = cs.Status().Restarts
	}
	if r.cfg.Segment > 0 {
		s.segSlots = max(1, int64(math.Round(r.cfg.Segment.Seconds()*fps)))
	}
	if r.cfg.MaxDuration > 0 {
		s.maxSlots = max(1, int64(math.Round(r.cfg.MaxDuration.Seconds()*fps)))
	}
	// Subscribe before ffmpeg starts: the first frame after the request
	// must not be missed.
	s.sub = r.src.FrameHub().Subscribe(r.queueDepth(fps, spec, queueSeconds))
	if r.ring != nil {
		s.pre, s.cut = r.ring.preRecordFrames(r.src.FrameHub(), requested)
	}
	if needFrames && len(s.pre) == 0 {
		if why := r.cameraAbsent(requested); why != "" {
			s.sub.Close()
			r.log.Warn("recording refused: the camera delivers nothing", "reason", why)
			return &unavailableErr{why + ": nothing to record"}
		}
	}
	f, err := r.openFile(s, 0, 0, requested, "", spec)
	if err != nil {
		s.sub.Close()
		return fmt.Errorf("start recording: %w", err)
	}
	s.setFile(f)
	s.log = r.log
	npre := len(s.pre)
	r.mu.Lock()
	r.cur, r.newest, r.lastErr = s, s, ""
	r.mu.Unlock()
	// The writer's exit is s.done, which Run waits for: at once when the
	// start fails below, else when s ends by itself or through finish.
	go s.run(ctx)

	// Wait until ffmpeg has taken the first frame and opened its output, so
	// that a bad encoder or option fails the request with ffmpeg's words;
	// the deadline counts from the request, so that the caller has an
	// answer within startTimeout however long Run took to get to it.
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	select {
	case <-f.tail.Ready():
		r.log.Info("recording started", "recording_id", f.id, "path", f.path, "fps", fps,
			"pre_record_frames", npre, "start_latency_ms", roundTo(float64(s.latency.Load())/1e6, 1))
		return nil
	case <-s.respecced:
		r.log.Info("recording started; ffmpeg restarted for the camera's format", "fps", fps)
		return nil
	case <-s.done:
	case <-timeout.C:
		select {
		case <-s.firstFrame:
			r.log.Warn("recording started, ffmpeg slow to open its output", "recording_id", f.id, "path", f.path)
		default:
			r.log.Warn("recording started, waiting for the camera's first frame", "recording_id", f.id, "path", f.path)
		}
		return nil
	}
	r.ended(s)
	return fmt.Errorf("start recording %s: %s", f.id, s.errText)
}

// cameraAbsent says, for the user, why the camera has nothing to record at
// now: it reports a state other than streaming (starting, disconnected,
// error; stalled, unless its last frame is more recent than StallTimeout),
// or, for a source without a state, it has delivered no frame yet or none
// for StallTimeout. "" when it delivers.
func (r *Recorder) cameraAbsent(now time.Time) string {
	latest := r.src.FrameHub().Latest()
	// A frame without a capture time (none of a Camera's) counts as recent.
	recent := latest != nil && (latest.Time.IsZero() || now.Sub(latest.Time) < r.cfg.StallTimeout)
	cs, ok := r.src.(cameraStatuser)
	if !ok {
		switch {
		case latest == nil:
			return fmt.Sprintf("camera %q has delivered no frame yet", r.cfg.Camera)
		case !recent:
			return fmt.Sprintf("camera %q has delivered no frame for %s", r.cfg.Camera, now.Sub(latest.Time).Round(time.Second))
		}
		return ""
	}
	st := cs.Status()
	if st.State == StateStreaming || (st.State == StateStalled && recent) {
		return ""
	}
	state := st.State
	if state == "" {
		state = "not streaming"
	}
	why := st.Error
	if why == "" && latest == nil {
		why = "no frame yet"
	}
	if why == "" {
		return fmt.Sprintf("camera %q is %s", r.cfg.Camera, state)
	}
	return fmt.Sprintf("camera %q is %s (%s)", r.cfg.Camera, state, why)
}

// guessSpec is what ffmpeg will most likely read: the format of the
// camera's latest frame, else of its negotiated format. The writer starts a
// new ffmpeg if the frames say otherwise.
func (r *Recorder) guessSpec() inputSpec {
	if f := r.src.FrameHub().Latest(); f != nil {
		return specOf(f)
	}
	if f := r.src.Format(); f.Name == "yuyv" && f.Width > 0 && f.Height > 0 {
		return inputSpec{PixFmt: "yuyv422", Width: f.Width, Height: f.Height}
	}
	return inputSpec{}
}

// queueDepth is how many frames a queue of seconds of frames at fps holds,
// bounded by maxQueueBytes for raw frames.
func (r *Recorder) queueDepth(fps float64, spec inputSpec, seconds int) int {
	n := int(float64(seconds)*fps) + 1
	if spec.Raw() {
		if size := 2 * spec.Width * spec.Height; size > 0 {
			n = min(n, max(4, maxQueueBytes/size))
		}
	}
	return n
}

// openFile reserves the next file of s (its first slot is slot, standing
// for time t) and starts its ffmpeg reading in.
func (r *Recorder) openFile(s *session, index int, slot int64, t time.Time, prevID string, in inputSpec) (*segFile, error) {
	id, path, err := r.cat.reserve(r.cfg.Camera, r.cfg.Container, t)
	if err != nil {
		return nil, err
	}
	f, err := r.launch(id, path, s.fps, in)
	if err != nil {
		r.cat.forget(id, path)
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	f.index, f.firstSlot, f.prevID, f.spec = index, slot, prevID, in
	meta := sidecar{
		StartedAt:  t,
		State:      RecStateRecording,
		Codec:      videoCodecName(r.cfg.Codec),
		Container:  r.cfg.Container,
		FPS:        s.fps,
		Fragmented: r.cfg.Container == "mp4",
		PrevID:     prevID,
	}
	if err := r.cat.put(r.cfg.Camera, id, path, meta, 0); err != nil {
		r.log.Warn("write sidecar", "recording_id", id, "error", err.Error())
	}
	if prevID != "" {
		if err := r.cat.link(prevID, id); err != nil {
			r.log.Warn("link recordings", "recording_id", prevID, "next_id", id, "error", err.Error())
		}
	}
	syncDir(filepath.Dir(path))
	return f, nil
}

// launch starts ffmpeg reading in and writing path.
func (r *Recorder) launch(id, path string, fps float64, in inputSpec) (*segFile, error) {
	args := ffmpegArgs(r.cfg, fps, in, path)
	r.log.Debug("ffmpeg command", "recording_id", id, "args", strings.Join(args, " "))
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if err := setPipeSize(pw, pipeSize); err != nil {
		r.log.Debug("raise pipe size", "error", err.Error())
	}
	tail := newTailWriter()
	cmd := exec.Command(r.cfg.FFmpeg, args...)
	cmd.Stdin = pr
	cmd.Stderr = tail
	// Own process group: Ctrl-C or systemd's SIGTERM to camrec must not
	// reach ffmpeg before camrec has closed its stdin. If camrec dies
	// (kill -9), the kernel closes its end of the pipe: ffmpeg reads EOF
	// and finishes the file, then exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = killGrace
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("run %s: %w", r.cfg.FFmpeg, err)
	}
	pr.Close() // ffmpeg has its copy
	f := &segFile{id: id, path: path, launched: time.Now(), cmd: cmd, stdin: pw, tail: tail, exited: make(chan struct{})}
	go func() {
		f.waitErr = cmd.Wait()
		close(f.exited)
	}()
	return f, nil
}

func setPipeSize(f *os.File, size int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size)
	}); err != nil {
		return err
	}
	return serr
}

// errMaxDuration ends a session that reached its maximum duration.
var errMaxDuration = errors.New("maximum duration reached")

// sessionFailure ends a session: Text is for the user.
type sessionFailure struct{ text string }

func (e *sessionFailure) Error() string { return e.text }

// run is the session's writer goroutine: it feeds the files, then finishes
// them. It closes s.done when everything it started has ended.
func (s *session) run(ctx context.Context) {
	defer close(s.done)
	var syncWG sync.WaitGroup
	syncStop := make(chan struct{})
	if s.r.cfg.FsyncInterval > 0 {
		syncWG.Go(func() { s.syncLoop(syncStop) })
	}
	err := s.writeLoop(ctx)
	// The writer takes no more frames: leave the hub now, not once ffmpeg
	// has finished the file (which may take seconds after a stop).
	s.sub.Close()
	close(s.wrote)
	close(syncStop)
	syncWG.Wait()

	var fail *sessionFailure
	switch {
	case err == nil, errors.Is(err, errMaxDuration):
		if err != nil {
			s.log.Info("recording reached its maximum duration", "max_duration_s", s.r.cfg.MaxDuration.Seconds())
		}
	case errors.As(err, &fail):
		s.errText = fail.text
	default:
		if !s.stopping() {
			s.errText = err.Error()
		}
	}
	s.mu.Lock()
	f := s.file
	s.mu.Unlock()
	if f != nil {
		deadline, why := time.Now().Add(stopDeadline), endStop
		if s.stopping() {
			deadline, why = s.stopAt.Add(stopDeadline), s.why
		}
		if text := s.finishFile(ctx, f, why, deadline, s.errText); text != "" && s.errText == "" {
			s.errText = text
		}
		s.mu.Lock()
		s.file = nil
		s.mu.Unlock()
	}
	s.finals.Wait()
	s.endedAt = time.Now()
}

func (s *session) stopping() bool {
	select {
	case <-s.stopCh:
		return true
	default:
		return false
	}
}

// requestStop asks the writer to end, filling up to now: it writes the
// frames captured until now, then closes its ffmpeg's stdin and waits for
// it to finish the file (see run). Called by Run, once.
func (s *session) requestStop(why endReason) {
	s.stopAt, s.why = time.Now(), why
	close(s.stopCh)
}

// awaitStop waits for the writer, asked to stop, to end everything. If
// ffmpeg does not take its input, its stdin is closed after stopDeadline
// (finishFile then escalates to SIGINT and SIGKILL).
func (s *session) awaitStop() {
	t := time.NewTimer(stopDeadline)
	defer t.Stop()
	select {
	case <-s.wrote:
		// ffmpeg has its input's end: finishFile waits for it to finish
		// the file (then SIGINT, SIGKILL).
	case <-t.C:
		s.log.Warn("ffmpeg does not take frames, closing its input")
		s.mu.Lock()
		if s.file != nil {
			s.file.stdin.Close() // unblocks a writer stuck in Write
		}
		s.mu.Unlock()
	}
	<-s.done
}

// writeLoop feeds ffmpeg: it resamples the frames from the hub to the output
// rate and writes them until asked to stop, the maximum duration is reached,
// or it gives up.
//
// A camera that goes away (unplugged, stalled, its stream restarted) ends
// the file being written, and the recording goes on in a new file, linked
// to it, when frames return (see pause). How the writer knows:
//   - the camera reports itself disconnected or in error (cameraStatuser)
//     and nothing came for awayGrace: checked every tick, so the file is
//     finished within ~0.5 s of an unplug, while the camera is still away;
//   - a frame arrives after a gap and the camera's restart count moved: the
//     stream was interrupted in between, however short the interruption
//     (vivid's Disconnect is back within 0.3 s, faster than a tick may see
//     the state);
//   - nothing came for StallTimeout (any source): until then the slots are
//     filled with the last frame (stallGrace), as for a camera that slows
//     down, so a file never holds more than StallTimeout of frozen picture.
//
// A camera that merely slows down (low light, dropped buffers) changes
// neither its state nor its restart count: its frames are resampled into
// the same file.
func (s *session) writeLoop(ctx context.Context) error {
	rs := newResampler(s.fps)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	frames := s.sub.Frames()
	period := time.Duration(float64(time.Second) / s.fps)
	gapCheck := max(3*period, 100*time.Millisecond)
	pause := func(why string) error {
		err := s.pause(ctx, rs, period, why)
		rs = newResampler(s.fps)
		return err
	}
	accept := func(f *Frame) error {
		s.lastRecv = time.Now()
		if f.Raw != nil && !rawSizeOK(f) {
			if !s.badFrames {
				s.badFrames = true
				s.log.Warn("raw frames of the wrong size are left out of the recording",
					"pix_fmt", f.PixFmt, "width", f.Width, "height", f.Height, "bytes", len(f.Raw))
			}
			return nil
		}
		if rs.Started() && !s.away && f.Time.Sub(rs.LastTime()) > gapCheck && s.cameraRestarted() {
			if err := pause("the camera's stream was interrupted"); err != nil {
				return err
			}
		}
		if !rs.Started() {
			if !s.away && len(s.pre) == 0 && f.Time.Before(s.requested) {
				return nil // captured before the request
			}
			if s.away && !f.Time.After(s.pausedAfter) {
				return nil // older than what is recorded already
			}
			rs.Push(f)
			s.baseSlot, s.baseTime = int64(s.frames.Load()), f.Time
			if s.away {
				return s.resume(ctx, f)
			}
			s.firstNanos.Store(f.Time.UnixNano())
			close(s.firstFrame)
			return nil
		}
		return s.write(ctx, rs.Push(f))
	}
	for _, f := range s.pre {
		if err := accept(f); err != nil {
			return err
		}
	}
	s.pre = nil
	fromSub := func(f *Frame) error {
		if !s.cut.IsZero() && !f.Time.After(s.cut) {
			return nil // already in the pre-record
		}
		return accept(f)
	}
	drain := func(until time.Time) error {
		for {
			select {
			case f := <-frames:
				if !until.IsZero() && f.Time.After(until) {
					continue
				}
				if err := fromSub(f); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	for {
		var exited <-chan struct{}
		if s.file != nil {
			exited = s.file.exited
		}
		select {
		case f := <-frames:
			if err := fromSub(f); err != nil {
				return err
			}
		case now := <-tick.C:
			// Frames already queued come first, then the camera's absence,
			// then the stall filler.
			if err := drain(time.Time{}); err != nil {
				return err
			}
			if rs.Started() && !s.away {
				idle := now.Sub(s.lastRecv)
				if state := s.cameraGone(); state != "" && idle > awayGrace {
					if err := pause("camera " + state); err != nil {
						return err
					}
					continue
				}
				if idle >= s.r.cfg.StallTimeout {
					if err := pause("no frame for " + idle.Round(100*time.Millisecond).String()); err != nil {
						return err
					}
					continue
				}
			}
			if err := s.write(ctx, rs.Flush(now.Add(-stallGrace))); err != nil {
				return err
			}
		case <-exited:
			// ffmpeg died on its own: go on in a new file right away.
			if err := s.replace(ctx, int64(s.frames.Load())); err != nil {
				return err
			}
		case <-s.stopCh:
			if err := drain(s.stopAt); err != nil {
				return err
			}
			return s.write(ctx, rs.Finish(s.stopAt))
		}
	}
}

// rawSizeOK reports whether f's raw image has the size its fields say (a
// frame of another size would shift every later frame in ffmpeg's input).
func rawSizeOK(f *Frame) bool {
	if f.Width <= 0 || f.Height <= 0 || f.PixFmt == "" {
		return false
	}
	return f.PixFmt != "yuyv422" || len(f.Raw) == 2*f.Width*f.Height
}

// cameraGone returns the camera's state when it says it is away
// (disconnected, error), else "".
func (s *session) cameraGone() string {
	cs, ok := s.r.src.(cameraStatuser)
	if !ok {
		return ""
	}
	switch st := cs.Status().State; st {
	case StateDisconnected, StateError:
		return st
	}
	return ""
}

// cameraRestarted reports whether the camera restarted its stream since the
// last call (or the session's start).
func (s *session) cameraRestarted() bool {
	cs, ok := s.r.src.(cameraStatuser)
	if !ok {
		return false
	}
	n := cs.Status().Restarts
	changed := n != s.restartsSeen
	s.restartsSeen = n
	return changed
}

// pause finishes the file being written because the camera stopped
// delivering (why says how the writer knows): its last slot carries the
// last frame. The session stays active without a file; the next frame opens
// a new one (resume). Filling the camera's absence with its last picture
// would make a file of a frozen image; two files say what happened.
func (s *session) pause(ctx context.Context, rs *resampler, period time.Duration, why string) error {
	if err := s.write(ctx, rs.Finish(rs.LastTime().Add(period))); err != nil {
		return err
	}
	old := s.file
	s.setFile(nil)
	s.away, s.pausedAfter = true, rs.LastTime()
	s.mu.Lock()
	s.lastErr = "camera stopped delivering frames (" + why + "): the recording goes on in a new file when they return"
	s.mu.Unlock()
	if old != nil {
		s.log.Warn("camera stopped delivering frames: recording file finished; the recording goes on in a new file when frames return",
			"recording_id", old.id, "why", why)
		s.finishLater(ctx, old, endStop, "")
	}
	return nil
}

// resume opens the file that follows a pause, starting with f.
func (s *session) resume(ctx context.Context, f *Frame) error {
	s.away = false
	s.cameraRestarted() // count from now
	k := int64(s.frames.Load())
	in := specOf(f)
	if in.Raw() && s.r.cfg.Codec == "copy" {
		return &sessionFailure{copyRawError(s.r.cfg.Camera, in).Error()}
	}
	s.spec = in
	s.mu.Lock()
	s.lastErr = ""
	s.mu.Unlock()
	nf, err := s.r.openFile(s, s.nextIndex, k, f.Time, s.lastID, in)
	if err != nil {
		s.log.Error("camera delivers again, but the next file could not be started", "error", err.Error())
		return s.replace(ctx, k)
	}
	s.setFile(nf)
	s.log.Info("camera delivers again: the recording goes on in a new file", "recording_id", nf.id, "prev_id", nf.prevID, "path", nf.path)
	return nil
}

// respec goes on from slot k in a new file whose ffmpeg reads in: the
// frames changed format (the camera came back in another size), or the
// first file's ffmpeg was started, before the first frame, for another
// format than the camera's. A file that got no frame yet is discarded.
func (s *session) respec(ctx context.Context, k int64, in inputSpec) error {
	if in.Raw() && s.r.cfg.Codec == "copy" {
		return &sessionFailure{copyRawError(s.r.cfg.Camera, in).Error()}
	}
	s.spec = in
	old := s.file
	if old == nil {
		return nil // the next file is opened for s.spec
	}
	s.log.Info("the camera's frames changed format: the recording goes on in a new file", "from", old.spec.String(), "to", in.String())
	s.setFile(nil)
	if old.frames == 0 {
		s.nextIndex, s.lastID = old.index, old.prevID
		s.discardLater(old)
		if old.index == 0 {
			close(s.respecced)
		}
	} else {
		s.finishLater(ctx, old, endStop, "")
	}
	nf, err := s.r.openFile(s, s.nextIndex, k, s.slotTime(k), s.lastID, in)
	if err != nil {
		s.log.Error("start ffmpeg for the new format", "error", err.Error())
		return s.replace(ctx, k)
	}
	s.setFile(nf)
	return nil
}

// discardLater ends the ffmpeg of f, which got no frame, and removes f.
func (s *session) discardLater(f *segFile) {
	f.stdin.Close()
	s.finals.Go(func() {
		select {
		case <-f.exited:
		case <-time.After(killGrace):
			_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
			<-f.exited
		}
		s.r.cat.forget(f.id, f.path)
	})
}

// write writes the slots of rn, cutting files at segment boundaries and
// replacing a dead ffmpeg.
func (s *session) write(ctx context.Context, rn run) error {
	if rn.n == 0 {
		return nil
	}
	in := specOf(rn.f)
	payload := framePayload(rn.f)
	for range rn.n {
		k := int64(s.frames.Load())
		if s.maxSlots > 0 && k >= s.maxSlots {
			return errMaxDuration
		}
		if s.segSlots > 0 && (k-s.baseSlot)%s.segSlots == 0 && s.file != nil && s.file.firstSlot < k {
			if err := s.rotate(ctx, k); err != nil {
				return err
			}
		}
		if in != s.spec || (s.file != nil && s.file.spec != in) {
			if err := s.respec(ctx, k, in); err != nil {
				return err
			}
		}
		for {
			if s.file == nil {
				if err := s.replace(ctx, k); err != nil {
					return err
				}
			}
			_, err := s.file.stdin.Write(payload)
			if err == nil {
				break
			}
			if s.stopping() {
				return fmt.Errorf("write to ffmpeg: %w", err)
			}
			// EPIPE: ffmpeg is gone. The slot goes to the next file.
			if err := s.replace(ctx, k); err != nil {
				return err
			}
		}
		if s.file.frames == 0 {
			s.file.startAt = s.slotTime(k)
			s.file.width, s.file.height = in.Width, in.Height
			if !in.Raw() {
				if cfg, err := jpeg.DecodeConfig(bytes.NewReader(rn.f.Data)); err == nil {
					s.file.width, s.file.height = cfg.Width, cfg.Height
				}
			}
		}
		s.file.frames++
		if s.frames.Add(1) == 1 {
			s.latency.Store(int64(time.Since(s.requested)))
		}
	}
	return nil
}

// rotate starts the next segment at slot k, then lets the previous file
// finish in the background.
func (s *session) rotate(ctx context.Context, k int64) error {
	old := s.file
	nf, err := s.r.openFile(s, s.nextIndex, k, s.slotTime(k), s.lastID, s.spec)
	if err != nil {
		// Keep writing the current file rather than lose frames; try again
		// at the next boundary.
		s.log.Error("start next segment: continuing in the current file", "error", err.Error())
		return nil
	}
	s.setFile(nf)
	s.finishLater(ctx, old, endStop, "")
	return nil
}

func (s *session) setFile(f *segFile) {
	s.mu.Lock()
	s.file = f
	s.mu.Unlock()
	if f != nil {
		s.lastID, s.nextIndex = f.id, f.index+1
	}
}

func (s *session) finishLater(ctx context.Context, f *segFile, why endReason, errText string) {
	f.stdin.Close()
	s.finals.Go(func() {
		s.finishFile(ctx, f, why, time.Now().Add(stopDeadline), errText)
		s.r.prune()
	})
}

// replace ends the current file, whose ffmpeg died (or is dying), and goes
// on in a new file from slot k: at once after a healthy file, else after a
// growing pause. It gives up after maxRestarts failures in a row, when the
// disk is full (unless retention frees room in continuous mode), and when
// the very first ffmpeg of the session fails (a bad option: the start
// request gets the error).
func (s *session) replace(ctx context.Context, k int64) error {
	var lastText string
	if s.stopping() {
		// Stopping anyway: run finishes the file with ffmpeg's outcome.
		return errors.New("ffmpeg exited while the recording was stopping")
	}
	if old := s.file; old != nil {
		s.setFile(nil)
		old.stdin.Close()
		select {
		case <-old.exited:
		case <-time.After(killGrace):
			_ = syscall.Kill(-old.cmd.Process.Pid, syscall.SIGKILL)
			<-old.exited
		}
		text := fileFailure(old, "")
		lastText = text
		noSpace := isNoSpace(old)
		if noSpace {
			text = fmt.Sprintf("record dir %s: no space left on device; %s", s.r.cfg.Dir, text)
			lastText = text
		}
		healthy := old.ready() && time.Since(old.launched) >= healthyAfter
		s.log.Error("ffmpeg died", "recording_id", old.id, "path", old.path, "error", text, "stderr", old.tail.Tail(8))
		s.finishFile(ctx, old, endFailed, time.Now().Add(killGrace), text)
		if old.index == 0 && !old.ready() {
			return &sessionFailure{text}
		}
		if noSpace && (!s.r.cfg.Continuous || s.r.prune() == 0) {
			return &sessionFailure{text}
		}
		if healthy {
			s.failures = 0
		}
		s.failures++
		s.mu.Lock()
		s.lastErr = text
		s.mu.Unlock()
	}
	for {
		if s.failures > maxRestarts {
			return &sessionFailure{fmt.Sprintf("ffmpeg failed %d times in a row, giving up: %s", s.failures, lastText)}
		}
		if s.failures > 1 {
			wait := min(restartBackoff<<(s.failures-2), maxBackoff)
			s.log.Warn("restarting ffmpeg after a pause", "in_s", wait.Seconds(), "failures", s.failures)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.stopCh:
				t.Stop()
				return errors.New("stopped while restarting ffmpeg")
			}
		}
		nf, err := s.r.openFile(s, s.nextIndex, k, s.slotTime(k), s.lastID, s.spec)
		if err != nil {
			lastText = err.Error()
			if errors.Is(err, syscall.ENOSPC) && (!s.r.cfg.Continuous || s.r.prune() == 0) {
				return &sessionFailure{lastText}
			}
			s.failures++
			continue
		}
		s.r.restarts.Add(1)
		s.setFile(nf)
		s.log.Info("recording continues in a new file", "new_recording_id", nf.id, "path", nf.path,
			"restarts", s.r.restarts.Load())
		return nil
	}
}

// syncLoop flushes the file being written to the disk every FsyncInterval,
// so that a power cut loses at most that much (plus what ffmpeg holds: up
// to one fragment of an MP4).
func (s *session) syncLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.r.cfg.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.mu.Lock()
			f := s.file
			s.mu.Unlock()
			if f != nil {
				if err := syncFile(f.path); err != nil {
					s.log.Debug("fsync recording", "path", f.path, "error", err.Error())
				} else {
					s.syncedAt.Store(time.Now().UnixNano())
				}
			}
		}
	}
}

// syncFile flushes path's data to the disk (fsync on any descriptor of a
// file flushes all of it).
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// logDrops reports frames lost to the full queue, at most once per
// dropLogEvery, never per frame. Called by Run (so it works even while the
// writer is stuck in a write).
func (s *session) logDrops(now time.Time) {
	d := s.sub.Dropped()
	if d > s.dropsLogged && now.Sub(s.dropsLoggedAt) >= dropLogEvery {
		s.log.Warn("recorder is too slow, discarding frames", "dropped", d-s.dropsLogged, "dropped_total", d)
		s.dropsLogged, s.dropsLoggedAt = d, now
	}
}

type endReason int

const (
	endStop     endReason = iota // SetActive(false), a segment's end
	endShutdown                  // Run's ctx is done: no remux
	endFailed                    // ffmpeg or the writer gave up
)

// finishFile waits (until deadline, then SIGINT, then SIGKILL) for f's
// ffmpeg to finish the file after its stdin was closed, then records the
// outcome in the catalogue and remuxes an MP4 (except at shutdown). errText
// is a failure already known; the returned text is f's failure, "" if none.
func (s *session) finishFile(ctx context.Context, f *segFile, why endReason, deadline time.Time, errText string) string {
	r := s.r
	f.stdin.Close()
	var stopErr string
	select {
	case <-f.exited:
	case <-time.After(time.Until(deadline)):
		stopErr = fmt.Sprintf("ffmpeg did not finish within %s", stopDeadline)
		s.log.Warn(stopErr + ", sending SIGINT")
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-f.exited:
		case <-time.After(killGrace):
			s.log.Warn("ffmpeg ignored SIGINT, killing it")
			_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
			<-f.exited
		}
	}
	if errText == "" && (why == endFailed || f.waitErr != nil || stopErr != "") {
		errText = fileFailure(f, stopErr)
		if isNoSpace(f) {
			errText = fmt.Sprintf("record dir %s: no space left on device; %s", r.cfg.Dir, errText)
		}
	}
	var size int64
	if fi, err := os.Stat(f.path); err == nil {
		size = fi.Size()
	}
	if f.frames == 0 || size == 0 {
		// ffmpeg never got a frame or never opened its output (a bad
		// encoder): there is no recording to keep, only our empty file.
		gotFrame := false
		select {
		case <-s.firstFrame:
			gotFrame = true
		default:
		}
		if errText == "" || (!gotFrame && why != endFailed) {
			// ffmpeg's complaint about an empty input is a consequence.
			errText = "no frame arrived from the camera: nothing was recorded"
		}
		r.cat.forget(f.id, f.path)
		s.log.Warn("recording discarded", "recording_id", f.id, "path", f.path, "error", errText)
		return errText
	}
	if err := syncFile(f.path); err != nil {
		s.log.Warn("fsync recording", "path", f.path, "error", err.Error())
	}
	started := f.startAt
	dur := float64(f.frames) / s.fps
	ended := started.Add(time.Duration(dur * float64(time.Second)))
	meta := sidecar{
		StartedAt: started,
		EndedAt:   &ended,
		State:     RecStateComplete,
		Error:     errText,
		Codec:     videoCodecName(r.cfg.Codec),
		Container: r.cfg.Container,
		Width:     f.width,
		Height:    f.height,
		Frames:    uint64(f.frames),
		FPS:       s.fps,
		DurationS: dur,
		// Fragmented until remuxLater has made it a plain MP4.
		Fragmented: r.cfg.Container == "mp4",
		PrevID:     f.prevID,
	}
	if errText != "" {
		meta.State = RecStateFailed
		if f.waitErr != nil && r.cfg.FFmpeg != "" && r.cat.ffprobe != "" {
			// ffmpeg died: what is in the file is what ffprobe reads.
			if p, err := ffprobe(ctx, r.cat.ffprobe, f.path); err == nil && p.DurationS > 0 {
				meta.DurationS = p.DurationS
			}
		}
	}
	if err := r.cat.put(r.cfg.Camera, f.id, f.path, meta, size); err != nil {
		s.log.Warn("write sidecar", "recording_id", f.id, "error", err.Error())
	}
	attrs := []any{"recording_id", f.id, "path", f.path, "frames", f.frames,
		"duration_s", roundTo(meta.DurationS, 3), "bytes", size, "dropped", s.sub.Dropped()}
	if errText != "" {
		s.log.Debug("ffmpeg output", "recording_id", f.id, "stderr", f.tail.Tail(0))
		s.log.Error("recording failed", append(attrs, "error", errText)...)
	} else {
		s.log.Info("recording stopped", attrs...)
	}
	if why != endShutdown {
		r.remuxLater(ctx, f.id, f.path)
	}
	return errText
}

// fileFailure describes why f's ffmpeg failed, with its last words.
func fileFailure(f *segFile, stopErr string) string {
	var parts []string
	switch {
	case stopErr != "":
		parts = append(parts, stopErr)
	case f.waitErr != nil:
		parts = append(parts, "ffmpeg exited: "+f.waitErr.Error())
	default:
		parts = append(parts, "ffmpeg exited unexpectedly")
	}
	if t := f.tail.Problems(6); t != "" {
		parts = append(parts, "ffmpeg said: "+t)
	}
	return strings.Join(parts, "; ")
}

// isNoSpace reports whether f's ffmpeg failed for want of disk space.
func isNoSpace(f *segFile) bool {
	return strings.Contains(f.tail.Tail(0), "No space left on device")
}
