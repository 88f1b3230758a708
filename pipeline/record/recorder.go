package record

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// FrameSource is what the recorder needs of a camera (*Camera satisfies it):
// the hub of every captured frame (JPEGs of an MJPEG camera, raw images of a
// YUYV one) and the negotiated format.
type FrameSource interface {
	FrameHub() *pipeline.Hub
	Format() pipeline.Format
}

var _ FrameSource = (*pipeline.Camera)(nil)

// cameraStatuser is implemented by a FrameSource that reports its state
// (*Camera does). A recorder whose source has it finishes the file within a
// fraction of a second of the camera going away (state disconnected or
// error), and tells a camera that restarted its stream (unplugged and back,
// EIO) apart from one that merely slowed down; without it, only the stall
// timeout ends a file.
type cameraStatuser interface {
	Status() pipeline.CameraStatus
}

var _ cameraStatuser = (*pipeline.Camera)(nil)

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
	// stopDeadline bounds how long a stop waits for ffmpeg to take frames
	// and to finish the file after stdin is closed, from the stop or from
	// ffmpeg's last progress (a backlog is worked through; at shutdown,
	// from the stop only); then SIGINT, then after killGrace SIGKILL.
	stopDeadline = 8 * time.Second
	killGrace    = 2 * time.Second
	// motionLatency: in the recording mode "events", the pre-record ring
	// holds this much more than pre_record, so that a recording started
	// by motion begins pre_record before the motion's first frame although
	// detection (min_frames at the detection rate) and the request take
	// some time.
	motionLatency = 3 * time.Second
	// progressPoll: how often a stopping ffmpeg is looked at for progress
	// (see encoder.end); maxStopWait bounds the patience it earns: an
	// ffmpeg that looks busy forever is interrupted that long after the
	// deadline it started with.
	progressPoll = 500 * time.Millisecond
	maxStopWait  = 3 * time.Minute
	// shutdownRemuxGrace: at shutdown the last files are remuxed, so that
	// their hooks get them final, for this long at most; a remux that
	// takes longer (a large file on a slow card) is cut, the file stays as
	// recorded (it plays) and is remuxed at the next start. With the stop
	// (at most stopDeadline + killGrace) and the hooks' grace
	// (hooks.ShutdownGrace, 5 s) it fits systemd's TimeoutStopSec=20s.
	shutdownRemuxGrace = 4 * time.Second
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
	// behindFor: a writer whose queue dropped a frame within this long,
	// and holds frames, is behind the camera: ffmpeg is slower than the
	// camera, and repeats of a frame are left out of a stamped input
	// (session.behind, session.writeSlot).
	behindFor = queueSeconds * time.Second
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
	cat    *store.Catalog
	log    *slog.Logger
	enc    encoders // starts the ffmpeg of each file
	ring   *preRing // nil without pre-record

	reqs chan setRequest
	done chan struct{} // closed when Run returns
	ran  atomic.Bool
	post sync.WaitGroup // remuxes of finished recordings and their events; Run waits for them

	// pubPrev is closed once the event of the file that ended last is
	// published: fileEnded publishes in the order files ended.
	pubMu   sync.Mutex
	pubPrev <-chan struct{}

	pruneMu  sync.Mutex // one retention pass at a time
	restarts atomic.Uint64

	countMu sync.Mutex
	counts  Counters // since camrec started; see Counters

	// drains are the goroutines that wait for stopped sessions to finish
	// their files (see finish); Run waits for them before it returns.
	drains sync.WaitGroup

	mu        sync.Mutex
	cur       *session   // active recording; written by Run only
	finishing []*session // stopped, their ffmpeg finishing the files
	newest    *session   // the last session started: lastErr is its outcome
	lastErr   string
	waiting   bool   // continuous: a retry is scheduled
	trigger   string // why the active recording runs (RecordingStatus.Trigger)
}

type setRequest struct {
	active bool
	motion bool          // from motion detection (SetMotion), not a user
	at     time.Time     // when the caller asked: the start's deadline counts from it
	reply  chan setReply // buffered: Run never blocks on a caller that left
	// motionAt: the capture time of the motion that asks to record; the
	// pre-record counts back from it.
	motionAt time.Time
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

func (e *unavailableErr) Unwrap() error { return defs.ErrUnavailable }

// NewRecorder returns a recorder of src's frames into cat's dir. A config
// that fails Validate makes every start fail with that error.
func NewRecorder(cfg RecorderConfig, src FrameSource, cat *store.Catalog, log *slog.Logger) *Recorder {
	cfg = cfg.withDefaults()
	r := &Recorder{
		cfg:    cfg,
		cfgErr: cfg.Validate(),
		enc:    ffmpegEncoders{path: cfg.FFmpeg},
		src:    src,
		cat:    cat,
		log:    log.With("camera", cfg.Camera),
		reqs:   make(chan setRequest),
		done:   make(chan struct{}),
	}
	switch {
	case cfg.OnMotion:
		r.ring = newPreRing(cfg.PreRecord+motionLatency, cfg.PreRecordMaxBytes, r.log)
	case cfg.PreRecord > 0:
		r.ring = newPreRing(cfg.PreRecord, cfg.PreRecordMaxBytes, r.log)
	}
	return r
}

// Counters are what a recorder has done since camrec started, for metrics:
// each only grows.
type Counters struct {
	Complete, Failed uint64 // files finished, by outcome
	// Bytes of the files finished (their size when ffmpeg was done).
	Bytes uint64
	// Files deleted by retention, by rule.
	DeletedKeep, DeletedMaxDisk, DeletedMinFree uint64
}

// deleted is how many files retention deleted, by any rule.
func (n Counters) deleted() uint64 { return n.DeletedKeep + n.DeletedMaxDisk + n.DeletedMinFree }

// Counters returns the recorder's counters.
func (r *Recorder) Counters() Counters {
	r.countMu.Lock()
	defer r.countMu.Unlock()
	return r.counts
}

// publish tells the event sink, if any, of e (for this camera).
func (r *Recorder) publish(e events.Event) {
	if r.cfg.Events != nil {
		e.Camera = r.cfg.Camera
		r.cfg.Events.Publish(e)
	}
}

// counted counts a finished file of the given catalogue state and size.
func (r *Recorder) counted(state string, size int64) {
	r.countMu.Lock()
	defer r.countMu.Unlock()
	if state == store.RecStateComplete {
		r.counts.Complete++
	} else {
		r.counts.Failed++
	}
	r.counts.Bytes += uint64(size)
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
		r.publish(events.Event{Type: events.RetentionDeleted, RecordingID: p.Recording.ID, Rule: p.Reason, Bytes: p.Recording.Bytes})
		r.countMu.Lock()
		switch p.Reason {
		case store.RuleKeep:
			r.counts.DeletedKeep++
		case store.RuleMaxDisk:
			r.counts.DeletedMaxDisk++
		case store.RuleMinFree:
			r.counts.DeletedMinFree++
		}
		r.countMu.Unlock()
	}
	if err != nil {
		r.log.Warn("retention", "error", err.Error())
	}
	return len(pruned)
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
//
// A stop also ends a recording that motion started (recording mode
// "events"); the next motion starts a new one.
func (r *Recorder) SetActive(ctx context.Context, active bool) (RecordingStatus, error) {
	return r.set(ctx, setRequest{active: active})
}

// SetMotion is motion detection's SetActive (recording mode "events"):
// true starts a recording unless one runs, its pre-record counting back
// from at (the capture time of the motion's first frame, if within
// motionLatency of now); false ends one that motion started unless a
// user's request keeps it. Status says which started the recording
// (Trigger).
func (r *Recorder) SetMotion(ctx context.Context, active bool, at time.Time) error {
	_, err := r.set(ctx, setRequest{active: active, motion: true, motionAt: at})
	return err
}

func (r *Recorder) set(ctx context.Context, req setRequest) (RecordingStatus, error) {
	if req.active && r.cfg.FFmpegErr != nil {
		return r.Status(), fmt.Errorf("camera %q: start recording: %w", r.cfg.Camera, r.cfg.FFmpegErr)
	}
	req.at, req.reply = time.Now(), make(chan setReply, 1)
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
