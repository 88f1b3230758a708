package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
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
	// CRF is the x264 quality, 1..51; 0 means the default 23.
	CRF int
	// FFmpeg is the path of ffmpeg (from LookFFmpeg), or "" when missing.
	FFmpeg string
	// FFmpegErr is non-nil when ffmpeg is missing: starting a recording
	// fails with it (it wraps ErrFFmpegMissing).
	FFmpegErr error
}

const (
	defaultContainer = "mp4"
	defaultCodec     = "libx264"
	defaultPreset    = "ultrafast"
	defaultCRF       = 23
	defaultFPS       = 30
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
	if c.CRF == 0 {
		c.CRF = defaultCRF
	}
	return c
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
	switch c.Container {
	case "mp4", "mkv", "avi":
	default:
		errs = append(errs, fmt.Errorf("container %q: want mp4, mkv or avi", c.Container))
	}
	switch {
	case !encoderPattern.MatchString(c.Codec):
		errs = append(errs, fmt.Errorf("codec %q: want copy or an ffmpeg encoder name such as libx264 or h264_v4l2m2m", c.Codec))
	case c.Codec == "copy" && c.Container == "mp4":
		errs = append(errs, errors.New(`codec "copy": container mp4 cannot store MJPEG as is; use container mkv or avi, or an encoder such as libx264`))
	}
	if c.Codec == "libx264" && !slices.Contains(x264Presets, c.Preset) {
		errs = append(errs, fmt.Errorf("preset %q: want one of %s", c.Preset, strings.Join(x264Presets, ", ")))
	}
	if c.CRF < 0 || c.CRF > 51 {
		errs = append(errs, fmt.Errorf("crf %d: want 1..51", c.CRF))
	}
	return errors.Join(errs...)
}

// FrameSource is what the recorder needs of a camera (*Camera satisfies it).
type FrameSource interface {
	Hub() *Hub
	Format() Format
}

var _ FrameSource = (*Camera)(nil)

// Timing of a recorder's ffmpeg.
const (
	// startTimeout bounds how long starting waits for the first frame and
	// for ffmpeg to open its output.
	startTimeout = 5 * time.Second
	// stopDeadline bounds how long a stop waits for ffmpeg to finish the
	// file after stdin is closed; then SIGINT, then after killGrace SIGKILL.
	stopDeadline = 8 * time.Second
	killGrace    = 2 * time.Second
	// stallGrace: when the camera delivers nothing, slots older than this
	// are filled with the last frame, so the file keeps growing.
	stallGrace = time.Second
	// queueSeconds of frames wait for the writer before the oldest drop.
	queueSeconds = 2
	// pipeSize of ffmpeg's stdin: a few frames of 1080p MJPEG (the default
	// 64 KiB is smaller than one).
	pipeSize = 1 << 20
	// dropLogEvery limits "too slow" warnings to one per interval.
	dropLogEvery = 5 * time.Second
)

// Recorder records one camera: it owns at most one ffmpeg process at a time,
// feeds it the camera's frames resampled to a constant rate, and keeps the
// catalogue informed. Run is its owner loop; SetActive and Status may be
// called from any goroutine.
type Recorder struct {
	cfg    RecorderConfig
	cfgErr error
	src    FrameSource
	cat    *Catalog
	log    *slog.Logger

	reqs chan setRequest
	done chan struct{} // closed when Run returns
	ran  atomic.Bool
	post sync.WaitGroup // remuxes of finished recordings; Run waits for them

	mu      sync.Mutex
	cur     *session // active recording; written by Run only
	lastErr string
}

type setRequest struct {
	active bool
	reply  chan setReply // buffered: Run never blocks on a caller that left
}

type setReply struct {
	status RecordingStatus
	err    error
}

// NewRecorder returns a recorder of src's frames into cat's dir. A config
// that fails Validate makes every start fail with that error.
func NewRecorder(cfg RecorderConfig, src FrameSource, cat *Catalog, log *slog.Logger) *Recorder {
	cfg = cfg.withDefaults()
	return &Recorder{
		cfg:    cfg,
		cfgErr: cfg.Validate(),
		src:    src,
		cat:    cat,
		log:    log.With("camera", cfg.Camera),
		reqs:   make(chan setRequest),
		done:   make(chan struct{}),
	}
}

// Run serves SetActive until ctx is done. A recording still active then is
// finished properly (stdin closed, ffmpeg waited for; at worst SIGINT then
// SIGKILL after ~10 s) before Run returns nil; a remux in progress is
// cancelled. Every goroutine and process the recorder started has ended
// when Run returns. Run may be called only once.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("recorder: Run called twice")
	}
	defer close(r.done)
	// Remuxes outlive the request that stopped their recording but not Run:
	// at shutdown they are cancelled (the fragmented original stays).
	postCtx, cancelPost := context.WithCancel(context.Background())
	defer func() {
		cancelPost()
		r.post.Wait()
	}()
	end := func(s *session, why endReason) {
		if r.finish(s, why) == "" && why != endShutdown {
			r.remuxLater(postCtx, s.id, s.path)
		}
	}
	// Finish the work a previous run left (found by Catalog.Scan).
	for id, path := range r.cat.fragmented(r.cfg.Camera) {
		r.remuxLater(postCtx, id, path)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s := r.cur
		var exited, writerDone <-chan struct{}
		var tickC <-chan time.Time
		if s != nil {
			exited, writerDone, tickC = s.exited, s.writerDone, tick.C
		}
		select {
		case now := <-tickC:
			s.logDrops(now)
		case <-ctx.Done():
			if s != nil {
				end(s, endShutdown)
			}
			return nil
		case req := <-r.reqs:
			var rep setReply
			if req.active {
				rep.err = r.start()
			} else if s != nil {
				end(s, endStop)
			}
			rep.status = r.Status()
			req.reply <- rep
		case <-exited:
			end(s, endFailed)
		case <-writerDone:
			end(s, endFailed)
		}
	}
}

// remuxLater turns a finished fragmented MP4 into a plain one in the
// background (see ffmpegArgs for why). The recording stays listed and
// playable meanwhile; Delete answers ErrConflict until it is done.
func (r *Recorder) remuxLater(ctx context.Context, id, path string) {
	if !strings.HasSuffix(path, ".mp4") || r.cfg.FFmpeg == "" || !r.cat.beginRemux(id) {
		return
	}
	r.post.Add(1)
	go func() {
		defer r.post.Done()
		t0 := time.Now()
		tmp := remuxTemp(path)
		err := r.cat.endRemux(id, tmp, remuxMP4(ctx, r.cfg.FFmpeg, path, tmp))
		if err != nil {
			r.log.Warn("remux recording: keeping the fragmented MP4", "recording_id", id, "path", path, "error", err.Error())
			return
		}
		r.log.Info("recording remuxed", "recording_id", id, "path", path, "took_s", roundTo(time.Since(t0).Seconds(), 3))
	}()
}

// SetActive starts (true) or stops (false) recording and returns the state
// after the change. It is idempotent. Starting fails when ffmpeg is missing
// (the error wraps ErrFFmpegMissing), the record dir is not writable, or
// ffmpeg exits at once (its stderr is in the error). Stopping returns once
// ffmpeg has finished the file; a recording that failed is reported in
// RecordingStatus.Error, not as an error.
func (r *Recorder) SetActive(ctx context.Context, active bool) (RecordingStatus, error) {
	if active && r.cfg.FFmpegErr != nil {
		return r.Status(), fmt.Errorf("start recording: %w", r.cfg.FFmpegErr)
	}
	req := setRequest{active: active, reply: make(chan setReply, 1)}
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return r.Status(), fmt.Errorf("set recording: %w", ctx.Err())
	case <-r.done:
		return r.Status(), errors.New("set recording: recorder is not running")
	}
	select {
	case rep := <-req.reply:
		return rep.status, rep.err
	case <-ctx.Done():
		return r.Status(), fmt.Errorf("set recording: %w (the change goes on)", ctx.Err())
	}
}

// Status reports the active recording, or why the last one failed. It is
// cheap and safe from any goroutine.
func (r *Recorder) Status() RecordingStatus {
	r.mu.Lock()
	s, lastErr := r.cur, r.lastErr
	r.mu.Unlock()
	if s == nil {
		if lastErr == "" && r.cfg.FFmpegErr != nil {
			lastErr = r.cfg.FFmpegErr.Error()
		}
		return RecordingStatus{Error: lastErr}
	}
	started := s.startedAt()
	st := RecordingStatus{
		Active:    true,
		ID:        s.id,
		StartedAt: &started,
		Frames:    s.frames.Load(),
		Dropped:   s.sub.Dropped(),
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.Bytes = fi.Size()
	}
	return st
}

// ffmpegPID returns the pid of the active ffmpeg, 0 if none (for tests).
func (r *Recorder) ffmpegPID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return 0
	}
	return r.cur.cmd.Process.Pid
}

// session is one recording: one ffmpeg process and the goroutines that
// serve it. Fields without comment are set before the goroutines start and
// not changed after.
type session struct {
	id, path  string
	fps       float64
	requested time.Time
	cmd       *exec.Cmd
	stdin     *os.File
	sub       *Subscriber
	tail      *tailWriter
	log       *slog.Logger

	frames     atomic.Uint64 // slots written to ffmpeg
	firstNanos atomic.Int64  // capture time of the first frame, 0 before

	firstFrame    chan struct{} // closed by the writer at the first frame
	width, height int           // of the first frame; read after firstFrame

	stopAt time.Time     // set by finish before closing stopCh
	stopCh chan struct{} // asks the writer to fill up to stopAt and end

	writerDone chan struct{} // closed when the writer has ended
	writerErr  error         // read after writerDone

	exited  chan struct{} // closed when ffmpeg has exited
	waitErr error         // read after exited

	dropsLogged   uint64 // used by Run only
	dropsLoggedAt time.Time
}

func (s *session) startedAt() time.Time {
	if n := s.firstNanos.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return s.requested
}

// start launches a recording unless one is active. Called by Run.
func (r *Recorder) start() error {
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
	id, path, err := r.cat.reserve(r.cfg.Camera, r.cfg.Container, requested)
	if err != nil {
		return fmt.Errorf("start recording: %w", err)
	}
	s, err := r.launch(id, path, fps, requested)
	if err != nil {
		r.cat.forget(id, path)
		return fmt.Errorf("start recording %s: %w", id, err)
	}
	meta := sidecar{
		StartedAt:  requested,
		State:      RecStateRecording,
		Codec:      videoCodecName(r.cfg.Codec),
		Container:  r.cfg.Container,
		FPS:        fps,
		Fragmented: r.cfg.Container == "mp4",
	}
	if err := r.cat.put(r.cfg.Camera, id, path, meta, 0); err != nil {
		r.log.Warn("write sidecar", "recording_id", id, "error", err.Error())
	}
	r.mu.Lock()
	r.cur, r.lastErr = s, ""
	r.mu.Unlock()

	// Wait until ffmpeg has taken the first frame and opened its output, so
	// that a bad encoder or option fails the request with ffmpeg's words.
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	select {
	case <-s.tail.Ready():
		r.log.Info("recording started", "recording_id", id, "path", path, "fps", fps)
		return nil
	case <-s.exited:
	case <-s.writerDone:
	case <-timeout.C:
		select {
		case <-s.firstFrame:
			r.log.Warn("recording started, ffmpeg slow to open its output", "recording_id", id, "path", path)
		default:
			r.log.Warn("recording started, waiting for the camera's first frame", "recording_id", id, "path", path)
		}
		return nil
	}
	errText := r.finish(s, endFailed)
	return fmt.Errorf("start recording %s: %s", id, errText)
}

// launch starts ffmpeg writing path and the goroutines that serve it.
func (r *Recorder) launch(id, path string, fps float64, requested time.Time) (*session, error) {
	args := ffmpegArgs(r.cfg, fps, path)
	r.log.Debug("ffmpeg command", "recording_id", id, "args", strings.Join(args, " "))
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if err := setPipeSize(pw, pipeSize); err != nil {
		r.log.Debug("raise pipe size", "error", err.Error())
	}
	// Subscribe before ffmpeg starts: the first frame after the request
	// must not be missed.
	sub := r.src.Hub().Subscribe(int(queueSeconds*fps) + 1)
	tail := newTailWriter()
	cmd := exec.Command(r.cfg.FFmpeg, args...)
	cmd.Stdin = pr
	cmd.Stderr = tail
	// Own process group: Ctrl-C or systemd's SIGTERM to camrec must not
	// reach ffmpeg before camrec has closed its stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = killGrace
	if err := cmd.Start(); err != nil {
		sub.Close()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("run %s: %w", r.cfg.FFmpeg, err)
	}
	pr.Close() // ffmpeg has its copy
	s := &session{
		id:         id,
		path:       path,
		fps:        fps,
		requested:  requested,
		cmd:        cmd,
		stdin:      pw,
		sub:        sub,
		tail:       tail,
		log:        r.log.With("recording_id", id),
		firstFrame: make(chan struct{}),
		stopCh:     make(chan struct{}),
		writerDone: make(chan struct{}),
		exited:     make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	go func() {
		s.writerErr = s.writeLoop()
		close(s.writerDone)
	}()
	return s, nil
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

// writeLoop feeds ffmpeg: it resamples the frames from the hub to the output
// rate and writes them to stdin until asked to stop or a write fails. It
// closes stdin when it returns, which makes ffmpeg finish the file.
func (s *session) writeLoop() error {
	defer s.stdin.Close()
	rs := newResampler(s.fps)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	frames := s.sub.Frames()
	accept := func(f *Frame) error {
		if !rs.Started() {
			if f.Time.Before(s.requested) {
				return nil // captured before the request
			}
			rs.Push(f)
			if cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.Data)); err == nil {
				s.width, s.height = cfg.Width, cfg.Height
			}
			s.firstNanos.Store(f.Time.UnixNano())
			close(s.firstFrame)
			return nil
		}
		return s.write(rs.Push(f))
	}
	drain := func(until time.Time) error {
		for {
			select {
			case f := <-frames:
				if !until.IsZero() && f.Time.After(until) {
					continue
				}
				if err := accept(f); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}

	for {
		select {
		case f := <-frames:
			if err := accept(f); err != nil {
				return err
			}
		case now := <-tick.C:
			// Frames already queued come first, then the stall filler.
			if err := drain(time.Time{}); err != nil {
				return err
			}
			if err := s.write(rs.Flush(now.Add(-stallGrace))); err != nil {
				return err
			}
		case <-s.stopCh:
			if err := drain(s.stopAt); err != nil {
				return err
			}
			return s.write(rs.Finish(s.stopAt))
		}
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

func (s *session) write(rn run) error {
	for range rn.n {
		if _, err := s.stdin.Write(rn.f.Data); err != nil {
			return fmt.Errorf("write to ffmpeg: %w", err)
		}
		s.frames.Add(1)
	}
	return nil
}

type endReason int

const (
	endStop     endReason = iota // SetActive(false)
	endShutdown                  // Run's ctx is done
	endFailed                    // ffmpeg or the writer gave up
)

// finish ends s: the writer fills up to now and closes stdin, ffmpeg
// finishes the file (SIGINT, then SIGKILL past the deadlines), then the
// catalogue gets the outcome. It returns the error text, "" on success.
// Called by Run only.
func (r *Recorder) finish(s *session, why endReason) string {
	s.stopAt = time.Now()
	close(s.stopCh)
	deadline := time.Now().Add(stopDeadline)
	select {
	case <-s.writerDone:
	case <-time.After(time.Until(deadline)):
		s.log.Warn("ffmpeg does not take frames, closing its input")
	}
	s.stdin.Close() // unblocks a writer stuck in Write
	<-s.writerDone
	s.sub.Close()

	var stopErr string
	select {
	case <-s.exited:
	case <-time.After(time.Until(deadline)):
		stopErr = fmt.Sprintf("ffmpeg did not finish within %s", stopDeadline)
		s.log.Warn(stopErr + ", sending SIGINT")
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(killGrace):
			s.log.Warn("ffmpeg ignored SIGINT, killing it")
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}

	frames := s.frames.Load()
	dropped := s.sub.Dropped()
	var errText string
	if why == endFailed || s.waitErr != nil || s.writerErr != nil || stopErr != "" {
		errText = s.failure(stopErr)
	}
	var size int64
	if fi, err := os.Stat(s.path); err == nil {
		size = fi.Size()
	}
	if frames == 0 || size == 0 {
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
		r.cat.forget(s.id, s.path)
		r.log.Warn("recording discarded", "recording_id", s.id, "path", s.path, "error", errText)
		r.setEnded(errText)
		return errText
	}

	ended := s.stopAt
	meta := sidecar{
		StartedAt: s.startedAt(),
		EndedAt:   &ended,
		State:     RecStateComplete,
		Error:     errText,
		Codec:     videoCodecName(r.cfg.Codec),
		Container: r.cfg.Container,
		Width:     s.width,
		Height:    s.height,
		Frames:    frames,
		FPS:       s.fps,
		DurationS: float64(frames) / s.fps,
		// Fragmented until remuxLater has made it a plain MP4.
		Fragmented: r.cfg.Container == "mp4",
	}
	if errText != "" {
		meta.State = RecStateFailed
	}
	if err := r.cat.put(r.cfg.Camera, s.id, s.path, meta, size); err != nil {
		r.log.Warn("write sidecar", "recording_id", s.id, "error", err.Error())
	}
	attrs := []any{"recording_id", s.id, "path", s.path, "frames", frames,
		"duration_s", roundTo(meta.DurationS, 3), "bytes", size, "dropped", dropped}
	if errText != "" {
		r.log.Debug("ffmpeg output", "recording_id", s.id, "stderr", s.tail.Tail(0))
		r.log.Error("recording failed", append(attrs, "error", errText)...)
	} else {
		r.log.Info("recording stopped", attrs...)
	}
	r.setEnded(errText)
	return errText
}

// failure describes why s failed, with ffmpeg's last words.
func (s *session) failure(stopErr string) string {
	var parts []string
	switch {
	case stopErr != "":
		parts = append(parts, stopErr)
	case s.waitErr != nil:
		parts = append(parts, "ffmpeg exited: "+s.waitErr.Error())
	default:
		parts = append(parts, "ffmpeg exited unexpectedly")
	}
	if s.writerErr != nil && !errors.Is(s.writerErr, os.ErrClosed) {
		parts = append(parts, s.writerErr.Error())
	}
	if t := s.tail.Problems(6); t != "" {
		parts = append(parts, "ffmpeg said: "+t)
	}
	return strings.Join(parts, "; ")
}

func (r *Recorder) setEnded(errText string) {
	r.mu.Lock()
	r.cur, r.lastErr = nil, errText
	r.mu.Unlock()
}
