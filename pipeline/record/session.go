// This file holds one recording (a session): how it starts (waiting for
// the camera and ffmpeg), runs its writer and stops.

package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline"
)

// session is one recording as the user asked for it: one writer goroutine
// feeding a sequence of files (segments, or new files after ffmpeg died).
// Fields without comment are set before the writer starts and not changed
// after.
type session struct {
	r         *Recorder
	fps       float64
	requested time.Time
	sub       *pipeline.Subscriber
	pre       []*pipeline.Frame // pre-record frames, oldest first
	cut       time.Time         // frames in sub captured up to cut are in pre
	log       *slog.Logger
	segSlots  int64 // slots per file; 0 = one file
	maxSlots  int64 // 0 = no limit

	spec inputSpec // what the first file's ffmpeg is started for

	frames     atomic.Uint64 // slots written to ffmpeg, all files
	fedAt      atomic.Int64  // unix nanos of the last write ffmpeg took, 0 before
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

	writer // used by the writer goroutine only

	dropsLogged   uint64 // used by Run only
	dropsLoggedAt time.Time
	hinted        bool // the slow-machine hint was logged; Run only
}

// writer is the state of a session that only its writer goroutine
// (writeLoop and what it calls) uses.
type writer struct {
	rs        *resampler             // capture times → slots of the current run of frames
	queue     <-chan *pipeline.Frame // the session's subscription
	period    time.Duration          // one slot
	lastID    string                 // the newest file's ID, for links
	nextIndex int                    // index of the next file
	failures  int                    // ffmpeg failures in a row
	restart   defs.Backoff           // the pause before restarting ffmpeg after the first failure
	// Slot baseSlot stands for capture time baseTime: the first frame, and
	// again the first frame after the camera was away (see pause).
	baseSlot     int64
	baseTime     time.Time
	away         bool      // the camera went away: no file until frames return
	pausedAfter  time.Time // capture time of the last frame before the pause
	lastRecv     time.Time // when the writer last took a frame
	restartsSeen uint64    // the camera's restart count as last seen
	badFrames    bool      // a raw frame of the wrong size was logged

	// Stamped input (writeSlot): the buffer of each frame's Matroska
	// cluster; the subscription's drop count as behind last saw it, and
	// when it last grew.
	mkvBuf    []byte
	dropsSeen uint64
	droppedAt time.Time

	// H.264 input (writeH264): frames go to ffmpeg unresampled.
	needKey  bool      // skip frames until a keyframe (start, a lost frame, a new file)
	nextCut  time.Time // the next segment boundary; the cut is at the first keyframe from it
	flvBuf   []byte    // reused for each frame's FLV tag
	lastMs   int64     // the last FLV timestamp written in the current file
	dropSeen uint64    // the subscription's drop count as last seen
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
	lastAt        time.Time // capture time of its last frame (H.264 input only)
	width, height int
	frames        int64 // slots written; by the writer only
	final         bool  // the session's last file (set by run before finishing it)
	// A stamped file (see stamped) gets a frame when it changes; shown
	// is the last frame written into it, at slot shownSlot; repeats
	// counts the slots that repeated it without being written.
	stamped   bool
	shown     *pipeline.Frame
	shownSlot int64
	repeats   int64

	*encoder // the process writing it
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
func (r *Recorder) start(ctx context.Context, deadline time.Time, needFrames bool, motionAt time.Time) error {
	if r.cur != nil {
		return nil
	}
	if r.cfgErr != nil {
		return fmt.Errorf("camera %q: start recording: %w", r.cfg.Camera, r.cfgErr)
	}
	if r.cfg.FFmpeg == "" {
		return fmt.Errorf("camera %q: start recording: %w", r.cfg.Camera, missingError("ffmpeg not found in PATH: install it (apt-get install ffmpeg) or set -ffmpeg"))
	}
	requested := time.Now()
	fps := r.src.Format().FPS
	if fps <= 0 {
		fps = pipeline.DefaultFPS
	}
	spec := r.guessSpec()
	if err := copyError(r.cfg, spec); err != nil {
		return fmt.Errorf("camera %q: start recording: %w", r.cfg.Camera, err)
	}
	r.prune()
	s := &session{
		r:          r,
		writer:     writer{restart: defs.Backoff{First: restartBackoff, Max: maxBackoff}, needKey: true},
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
		// The pre-record ends at the request, or, for a recording started
		// by motion, at the motion's first frame (the ring holds
		// motionLatency more for that).
		from := requested
		if !motionAt.IsZero() && motionAt.Before(requested) && requested.Sub(motionAt) <= motionLatency {
			from = motionAt
		}
		s.pre, s.cut = r.ring.preRecordFrames(r.src.FrameHub(), from.Add(-r.cfg.PreRecord))
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
		return fmt.Errorf("camera %q: start recording: %w", r.cfg.Camera, err)
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
			"pre_record_frames", npre, "start_latency_ms", defs.RoundTo(float64(s.latency.Load())/1e6, 1))
		r.publish(events.Event{Type: events.RecordingStarted, RecordingID: f.id, Path: f.path})
		return nil
	case <-s.respecced:
		r.log.Info("recording started; ffmpeg restarted for the camera's format", "fps", fps)
		s.mu.Lock()
		var id string
		if s.file != nil {
			id = s.file.id
		}
		s.mu.Unlock()
		r.publish(events.Event{Type: events.RecordingStarted, RecordingID: id})
		return nil
	case <-s.done:
	case <-timeout.C:
		select {
		case <-s.firstFrame:
			r.log.Warn("recording started, ffmpeg slow to open its output", "recording_id", f.id, "path", f.path)
		default:
			r.log.Warn("recording started, waiting for the camera's first frame", "recording_id", f.id, "path", f.path)
		}
		r.publish(events.Event{Type: events.RecordingStarted, RecordingID: f.id, Path: f.path})
		return nil
	}
	r.ended(s)
	return fmt.Errorf("camera %q: start recording %s: %s", r.cfg.Camera, f.id, s.errText)
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
	if st.State == pipeline.StateStreaming || (st.State == pipeline.StateStalled && recent) {
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
// camera's latest frame, else of its negotiated format, else of its
// format setting. The writer starts a
// new ffmpeg if the frames say otherwise.
func (r *Recorder) guessSpec() inputSpec {
	if f := r.src.FrameHub().Latest(); f != nil {
		return specOf(f)
	}
	if f := r.src.Format(); f.Name == "yuyv" && f.Width > 0 && f.Height > 0 {
		return inputSpec{PixFmt: "yuyv422", Width: f.Width, Height: f.Height}
	}
	if f := r.src.Format(); f.Name == pipeline.FormatH264 || r.cfg.Format == pipeline.FormatH264 {
		// Before the first frame a camera set to h264 reports no format
		// of its own yet.
		return inputSpec{PixFmt: pipeline.PixFmtH264, Width: f.Width, Height: f.Height}
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
	s.mu.Lock()
	last := s.file
	s.mu.Unlock()
	if last != nil {
		s.seal(last) // before wrote: awaitStop unblocks it if ffmpeg takes nothing
	}
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
		f.final = true
		deadline, why := time.Now().Add(stopDeadline), endStop
		if s.stopping() {
			deadline, why = s.lastProgress().Add(stopDeadline), s.why
			if why == endShutdown {
				deadline = s.stopAt.Add(stopDeadline)
			}
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

// awaitStop waits for the writer, asked to stop, to end everything. The
// writer first hands ffmpeg the frames captured before the stop, which
// takes as long as ffmpeg's backlog: an ffmpeg slower than the camera
// works through the frames queued for it. So the wait has no fixed
// length: while ffmpeg takes frames it goes on; when ffmpeg has taken
// none for stopDeadline, its stdin is closed (finishFile then escalates
// to SIGINT and SIGKILL, likewise stopDeadline after ffmpeg's last
// output). At shutdown it is stopDeadline from the stop, whatever the
// backlog (systemd's stop timeout is 20 s).
func (s *session) awaitStop() {
	t := time.NewTimer(stopDeadline)
	defer t.Stop()
	for {
		select {
		case <-s.wrote:
			// ffmpeg has its input's end: finishFile waits for it to finish
			// the file (then SIGINT, SIGKILL).
			<-s.done
			return
		case <-t.C:
		}
		if idle := time.Since(s.lastProgress()); idle < stopDeadline && s.why != endShutdown {
			t.Reset(stopDeadline - idle)
			continue
		}
		s.log.Warn("ffmpeg does not take frames, closing its input", "idle_s", stopDeadline.Seconds())
		s.mu.Lock()
		if s.file != nil {
			s.file.in.Close() // unblocks a writer stuck in Write
		}
		s.mu.Unlock()
		<-s.done
		return
	}
}

// lastProgress is when ffmpeg last took a frame of this session, or the
// stop if later.
func (s *session) lastProgress() time.Time {
	t := s.stopAt
	if n := s.fedAt.Load(); n != 0 && time.Unix(0, n).After(t) {
		t = time.Unix(0, n)
	}
	return t
}

// fed notes that ffmpeg took a write (writer only).
func (s *session) fed() { s.fedAt.Store(time.Now().UnixNano()) }
