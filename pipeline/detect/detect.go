// Package detect runs a camera's motion detection: one more subscriber of
// the camera's frame hub, at a rate of its own (motion.Config.FPS, 5 by
// default), never on the capture path. Its queue holds one frame, the
// newest: a detector slower than the camera analyses fewer frames, it
// never slows capture, preview or recording.
//
// Each analysed frame is made into a small luma image at 1/8 scale — for
// an MJPEG camera from the JPEG's DC coefficients (internal/jpegdc: no
// IDCT), for a YUYV camera from the raw picture's Y samples (the mean of
// every 8x8 block) — and handed to internal/motion's Detector and Tracker.
// An event's start and end go out on the event bus (motion_started,
// motion_ended: SSE, MQTT, hooks, the webhook); the stage keeps the state
// (active, score, counts) for the API and /metrics, and the frame with the
// most motion of the last event. H.264 cameras are not analysed yet.
package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/jpegdc"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/pipeline"
)

// Source is the camera the stage watches (*pipeline.Camera).
type Source interface {
	FrameHub() *pipeline.Hub
}

// Publisher takes the stage's events without blocking (an *events.Bus).
type Publisher interface {
	Publish(events.Event)
}

// Config is what New needs.
type Config struct {
	Camera string
	// Motion is the camera's motion section; detection runs only when
	// Motion.Enabled. Validated by the caller (config.Load).
	Motion motion.Config
	// Location is the schedule's time zone; nil means time.Local.
	Location *time.Location
	Events   Publisher
}

// Status is the stage's state for the API and /metrics.
type Status struct {
	Enabled bool
	// Armed: detection runs now (enabled, and the schedule, if any, says
	// so).
	Armed bool
	// Active: an event is open (motion now, or within event_gap).
	Active bool
	// Score is the last analysed frame's changed area, in percent of the
	// unmasked picture.
	Score float64
	// Events counts the events since camrec started.
	Events uint64
	// LastEvent is when the last event started (zero: none yet).
	LastEvent time.Time
	// FramesAnalysed and FramesSkipped count the frames analysed and
	// those the detector did not keep up with (dropped from its queue).
	FramesAnalysed, FramesSkipped uint64
	// AnalysisSeconds is the time spent decoding and analysing frames.
	AnalysisSeconds float64
	// Error says why frames cannot be analysed ("" when they can).
	Error string
}

// Stage is one camera's motion detection.
type Stage struct {
	cfg   Config
	src   Source
	log   *slog.Logger
	sched *motion.Schedule // nil: always armed

	mu   sync.Mutex
	st   Status
	peak *pipeline.Frame // the open or last event's frame with the most motion
}

// New returns the stage; Run runs it.
func New(cfg Config, src Source, log *slog.Logger) (*Stage, error) {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	cfg.Motion = cfg.Motion.WithDefaults()
	s := &Stage{cfg: cfg, src: src, log: log.With("camera", cfg.Camera)}
	if len(cfg.Motion.Schedule) > 0 {
		sched, err := motion.ParseSchedule(cfg.Motion.Schedule, cfg.Location)
		if err != nil {
			return nil, fmt.Errorf("motion: schedule: %w", err)
		}
		s.sched = sched
	}
	s.st.Enabled = cfg.Motion.Enabled
	return s, nil
}

// Status returns the stage's state.
func (s *Stage) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if st.Enabled {
		st.Armed = s.armedAt(time.Now())
	}
	return st
}

func (s *Stage) armedAt(t time.Time) bool {
	return s.sched == nil || s.sched.Armed(t)
}

// PeakFrame returns the frame with the most motion of the open or the last
// event, or nil.
func (s *Stage) PeakFrame() *pipeline.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// errH264 is the status error of an H.264 camera.
var errH264 = errors.New("motion detection of H.264 cameras is not supported yet")

// Run analyses frames until ctx is done. Without motion.enabled it returns
// at once.
func (s *Stage) Run(ctx context.Context) error {
	if !s.cfg.Motion.Enabled {
		return nil
	}
	sub := s.src.FrameHub().Subscribe(1)
	defer sub.Close()
	a := &analyser{stage: s, interval: time.Duration(float64(time.Second) / s.cfg.Motion.FPS)}
	defer a.flush()
	s.log.Info("motion detection on", "fps", s.cfg.Motion.FPS, "threshold_pct", s.cfg.Motion.Threshold,
		"masks", len(s.cfg.Motion.Masks), "zones", len(s.cfg.Motion.Zones), "schedule", len(s.cfg.Motion.Schedule) > 0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-sub.Frames():
			a.frame(f)
			s.mu.Lock()
			s.st.FramesSkipped = sub.Dropped()
			s.mu.Unlock()
		}
	}
}

// analyser is Run's state: it belongs to Run's goroutine.
type analyser struct {
	stage    *Stage
	interval time.Duration
	next     time.Time // the capture time from which the next frame is analysed

	dec     jpegdc.Decoder
	img     jpegdc.Image
	det     *motion.Detector
	tracker *motion.Tracker
	armed   bool
	seen    bool // a frame came: arming changes are logged from then on
	// candidate is the frame with the highest score of the frames that
	// may start an event (and of the open event).
	candidate *pipeline.Frame
	errText   string
}

// frame analyses f if its time has come.
func (a *analyser) frame(f *pipeline.Frame) {
	if f.Time.Before(a.next) {
		return
	}
	a.next = f.Time.Add(a.interval)
	s := a.stage
	armed := s.armedAt(f.Time)
	if armed != a.armed {
		if !armed {
			a.flush()
			a.det = nil // learn the picture afresh when armed again
		}
		if s.sched != nil && (a.seen || !armed) {
			s.log.Info("motion detection "+map[bool]string{true: "armed", false: "disarmed"}[armed], "by", "schedule",
				"next_change", s.sched.Next(f.Time).Format(time.RFC3339))
		}
		a.armed = armed
	}
	a.seen = true
	if !armed {
		return
	}
	t0 := time.Now()
	luma, w, h, err := a.luma(f)
	if err == nil {
		err = a.ensureDetector(w, h)
	}
	var r motion.Result
	if err == nil {
		r, err = a.det.Detect(luma, f.Time)
	}
	spent := time.Since(t0)
	a.setError(err)
	if err != nil {
		return
	}
	u := a.tracker.Observe(r)
	// The ended event first (its peak frame is the one kept), then this
	// frame's peak: of the open event, or of the frames that may start
	// the next one.
	if u.Ended {
		a.ended(u.EndedEvent)
	}
	if u.NewPeak {
		a.candidate = f
	}
	s.mu.Lock()
	s.st.FramesAnalysed++
	s.st.AnalysisSeconds += spent.Seconds()
	s.st.Score = r.Score
	s.st.Active = u.Open
	if u.Open && u.NewPeak || u.Started {
		s.peak = a.candidate
	}
	if u.Started {
		s.st.Events++
		s.st.LastEvent = u.Event.Start
	}
	s.mu.Unlock()
	if u.Started {
		a.started(u.Event)
	}
}

// luma returns f's luma at 1/8 scale.
func (a *analyser) luma(f *pipeline.Frame) ([]byte, int, int, error) {
	switch {
	case f.PixFmt == "h264":
		return nil, 0, 0, errH264
	case f.PixFmt == "yuyv422" && f.Raw != nil:
		w, h := (f.Width+7)/8, (f.Height+7)/8
		a.img.W, a.img.H = w, h
		if cap(a.img.Pix) < w*h {
			a.img.Pix = make([]byte, w*h)
		}
		a.img.Pix = a.img.Pix[:w*h]
		if err := yuyvLuma(a.img.Pix, f.Raw, f.Width, f.Height); err != nil {
			return nil, 0, 0, err
		}
		return a.img.Pix, w, h, nil
	case f.Data != nil:
		err := a.dec.Decode(&a.img, f.Data)
		if errors.Is(err, jpegdc.ErrUnsupported) {
			err = fullDecodeLuma(&a.img, f.Data)
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("decode frame: %w", err)
		}
		return a.img.Pix, a.img.W, a.img.H, nil
	}
	return nil, 0, 0, fmt.Errorf("frame of pixel format %q: nothing to analyse", f.PixFmt)
}

// ensureDetector makes the detector for a w x h luma image (again when the
// camera's size changed).
func (a *analyser) ensureDetector(w, h int) error {
	if a.det != nil {
		if dw, dh := a.det.Size(); dw == w && dh == h {
			return nil
		}
		a.flush()
	}
	det, err := motion.NewDetector(a.stage.cfg.Motion, w, h)
	if err != nil {
		return fmt.Errorf("motion detector for %dx%d: %w", w, h, err)
	}
	a.det = det
	a.tracker = motion.NewTracker(a.stage.cfg.Motion, det.ZoneNames())
	return nil
}

// setError records why frames cannot be analysed, logging each change.
func (a *analyser) setError(err error) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	if text == a.errText {
		return
	}
	a.errText = text
	s := a.stage
	s.mu.Lock()
	s.st.Error = text
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("motion detection cannot analyse frames", "error", text)
	} else {
		s.log.Info("motion detection analyses frames again")
	}
}

// flush ends an open event (camera gone, disarmed, shutdown).
func (a *analyser) flush() {
	if a.tracker == nil {
		return
	}
	if ev, ok := a.tracker.Flush(); ok {
		a.ended(ev)
	}
	s := a.stage
	s.mu.Lock()
	s.st.Active = false
	s.mu.Unlock()
}

func (a *analyser) started(ev motion.Event) {
	s := a.stage
	s.log.Info("motion started", "score_pct", pipeline.RoundTo(ev.Peak, 2), "zones", ev.Zones)
	s.publish(events.Event{Type: events.MotionStarted, Time: ev.Start, Score: pipeline.RoundTo(ev.Peak, 2), Zones: ev.Zones})
}

func (a *analyser) ended(ev motion.Event) {
	s := a.stage
	d := ev.End.Sub(ev.Start).Seconds()
	s.log.Info("motion ended", "duration_s", pipeline.RoundTo(d, 3), "peak_pct", pipeline.RoundTo(ev.Peak, 2), "zones", ev.Zones)
	s.publish(events.Event{Type: events.MotionEnded, Time: ev.End, DurationS: d, Score: pipeline.RoundTo(ev.Peak, 2), Zones: ev.Zones})
}

func (s *Stage) publish(e events.Event) {
	if s.cfg.Events == nil {
		return
	}
	e.Camera = s.cfg.Camera
	s.cfg.Events.Publish(e)
}

// yuyvLuma writes the mean Y of each 8x8 block of a yuyv422 picture
// (width x height, 2 bytes a pixel, Y at the even bytes) into dst, whose
// length is ceil(width/8) * ceil(height/8).
func yuyvLuma(dst, raw []byte, width, height int) error {
	if len(raw) < 2*width*height {
		return fmt.Errorf("yuyv frame of %d bytes, want %d", len(raw), 2*width*height)
	}
	w := (width + 7) / 8
	for by := 0; by*8 < height; by++ {
		for bx := 0; bx < w; bx++ {
			sum, n := 0, 0
			for y := by * 8; y < min(by*8+8, height); y++ {
				row := raw[2*width*y:]
				for x := bx * 8; x < min(bx*8+8, width); x++ {
					sum += int(row[2*x])
					n++
				}
			}
			dst[by*w+bx] = uint8((sum + n/2) / n)
		}
	}
	return nil
}

// fullDecodeLuma decodes a JPEG the DC reader refuses (progressive, …)
// with image/jpeg and averages its luma over 8x8 blocks.
func fullDecodeLuma(dst *jpegdc.Image, data []byte) error {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return err
	}
	b := img.Bounds()
	w, h := (b.Dx()+7)/8, (b.Dy()+7)/8
	if cap(dst.Pix) < w*h {
		dst.Pix = make([]byte, w*h)
	}
	dst.W, dst.H, dst.Pix = w, h, dst.Pix[:w*h]
	for by := 0; by < h; by++ {
		for bx := 0; bx < w; bx++ {
			sum, n := 0, 0
			for y := b.Min.Y + by*8; y < min(b.Min.Y+by*8+8, b.Max.Y); y++ {
				for x := b.Min.X + bx*8; x < min(b.Min.X+bx*8+8, b.Max.X); x++ {
					r, g, bl, _ := img.At(x, y).RGBA()
					// BT.601 luma of the 16-bit components.
					sum += int((19595*r + 38470*g + 7471*bl + 1<<15) >> 24)
					n++
				}
			}
			dst.Pix[by*w+bx] = uint8((sum + n/2) / n)
		}
	}
	return nil
}
