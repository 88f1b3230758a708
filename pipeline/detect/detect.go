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
// motion_ended: SSE, MQTT, hooks, the webhook) and into the events
// catalogue (package eventlog) with its snapshot; the stage keeps the
// state (armed, active, score, counts) for the API and /metrics. An H.264
// camera is analysed from its preview decoder's JPEGs.
//
// Where things are:
//
//	detect.go    Stage: config, status, arming, masks and zones, Run, the analyser
//	roll.go      the recording mode "events": start on motion, end post_roll after it
//	snapshot.go  the event's snapshot JPEG (a YUYV frame encoded once)
//	state.go     StateFile: the user's arming override, masks and zones across restarts
package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/jpegdc"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/eventlog"
)

// Source is the camera the stage watches (*pipeline.Camera). An H.264
// camera's frames are analysed from its preview decoder's JPEGs: a Source
// that has PreviewHub (as *pipeline.Camera does) is switched to it when the
// first H.264 access unit arrives.
type Source interface {
	FrameHub() *pipeline.Hub
}

// previewer is a Source with a hub of JPEG previews (*pipeline.Camera).
type previewer interface {
	PreviewHub() *pipeline.Hub
}

// Publisher takes the stage's events without blocking (an *events.Bus).
type Publisher interface {
	Publish(events.Event)
}

// Catalog keeps the events (an *eventlog.Log).
type Catalog interface {
	Begin(camera string, e eventlog.Event, snapshot []byte) (string, error)
	Update(e eventlog.Event, snapshot []byte) error
	SnapshotPath(id string) (string, error)
}

// Trigger is the camera's recorder (*record.Recorder) in the recording
// mode "events": SetMotion(true, at) starts a recording unless one runs,
// its pre-record counting back from at (the event's first frame);
// SetMotion(false, _) ends what motion started.
type Trigger interface {
	SetMotion(ctx context.Context, active bool, at time.Time) error
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
	// Catalog, if not nil, keeps each event and its snapshot.
	Catalog Catalog
	// Record, if not nil, records the events (recording mode "events"):
	// from the event's start (with the recorder's pre-record) to
	// Motion.PostRoll after its last motion.
	Record Trigger
	// State, if not nil, keeps the user's arming override and masks and
	// zones across restarts; what it holds for the camera takes
	// precedence over Motion's masks and zones.
	State *StateFile
}

// Status is the stage's state for the API and /metrics.
type Status struct {
	Enabled bool
	// Armed: detection runs now (enabled, and the override or the
	// schedule, if any, says so). ArmedBy says what decides: "always" (no
	// schedule, no override), "schedule" or "user" (the override).
	Armed   bool
	ArmedBy string
	// Override is the user's arming override (nil: none); it holds until
	// OverrideUntil (zero: until changed), the schedule's next change.
	Override      *bool
	OverrideUntil time.Time
	// Active: an event is open (motion now, or within event_gap).
	Active bool
	// ActiveZones are the zones of the open event (nil: none).
	ActiveZones []string
	// Score is the last analysed frame's changed area, in percent of the
	// unmasked picture.
	Score float64
	// Events counts the events since camrec started.
	Events uint64
	// LastEvent is when the last event started (zero: none yet),
	// LastEventID its ID in the catalogue ("" without one).
	LastEvent   time.Time
	LastEventID string
	// FramesAnalysed and FramesSkipped count the frames analysed and
	// those the detector did not keep up with (dropped from its queue).
	FramesAnalysed, FramesSkipped uint64
	// AnalysisSeconds is the time spent decoding and analysing frames.
	AnalysisSeconds float64
	// Error says why frames cannot be analysed ("" when they can).
	Error string
	// Masks and Zones are the areas in use.
	Masks []motion.Polygon
	Zones []motion.Zone
}

// Stage is one camera's motion detection.
type Stage struct {
	cfg   Config
	src   Source
	log   *slog.Logger
	sched *motion.Schedule // nil: always armed

	mu    sync.Mutex
	st    Status
	peak  *pipeline.Frame // the open or last event's frame with the most motion
	areas areas           // masks and zones in use; gen counts their changes
}

// areas are the masks and zones in use; gen counts changes, so that the
// analyser rebuilds its detector.
type areas struct {
	masks []motion.Polygon
	zones []motion.Zone
	gen   uint64
}

// ErrDisabled is wrapped by what cannot be done on a camera without
// motion detection (HTTP 409).
var ErrDisabled = fmt.Errorf("motion detection is not enabled for this camera (motion: enabled: true): %w", defs.ErrConflict)

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
	s.areas = areas{masks: cfg.Motion.Masks, zones: cfg.Motion.Zones}
	saved := cfg.State.Get(cfg.Camera)
	if saved.Masks != nil || saved.Zones != nil {
		m, z := s.areas.masks, s.areas.zones
		if saved.Masks != nil {
			m = *saved.Masks
		}
		if saved.Zones != nil {
			z = *saved.Zones
		}
		if err := s.checkAreas(m, z); err != nil {
			s.log.Error("motion: the masks and zones saved from the page are not valid: using the config's", "error", err.Error())
		} else {
			s.areas.masks, s.areas.zones = m, z
		}
	}
	if saved.Armed != nil && (saved.Until.IsZero() || time.Now().Before(saved.Until)) {
		s.st.Override, s.st.OverrideUntil = saved.Armed, saved.Until
	}
	return s, nil
}

// Status returns the stage's state.
func (s *Stage) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.ActiveZones = slices.Clone(st.ActiveZones)
	st.Masks, st.Zones = s.areas.masks, s.areas.zones
	if st.Enabled {
		st.Armed, st.ArmedBy = s.armedLocked(time.Now())
		if st.ArmedBy != "user" {
			st.Override, st.OverrideUntil = nil, time.Time{}
		}
	}
	return st
}

// armedAt reports whether detection is armed at t.
func (s *Stage) armedAt(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	armed, _ := s.armedLocked(t)
	return armed
}

func (s *Stage) armedLocked(t time.Time) (bool, string) {
	if o := s.st.Override; o != nil && (s.st.OverrideUntil.IsZero() || t.Before(s.st.OverrideUntil)) {
		return *o, "user"
	}
	if s.sched != nil {
		return s.sched.Armed(t), "schedule"
	}
	return true, "always"
}

// SetArmed sets the user's arming override: armed true or false until the
// schedule's next change (without a schedule: until changed), nil to
// follow the schedule again. It is kept in the state file. Recording by
// request is never affected.
func (s *Stage) SetArmed(armed *bool) error {
	if !s.cfg.Motion.Enabled {
		return ErrDisabled
	}
	now := time.Now()
	var until time.Time
	if armed != nil && s.sched != nil {
		until = s.sched.Next(now)
	}
	if armed != nil {
		v := *armed
		armed = &v
	}
	if err := s.cfg.State.Update(s.cfg.Camera, func(c *CameraState) { c.Armed, c.Until = armed, until }); err != nil {
		return err
	}
	s.mu.Lock()
	s.st.Override, s.st.OverrideUntil = armed, until
	s.mu.Unlock()
	how := "follows the schedule"
	switch {
	case armed != nil && *armed:
		how = "armed"
	case armed != nil:
		how = "disarmed"
	}
	s.log.Info("motion detection "+how, "by", "user", "until", until)
	return nil
}

// SetAreas replaces the masks and zones (nil: keep that kind as it is),
// live: an open event ends and the background is learnt afresh. They are
// kept in the state file. Bad polygons or zone names: an error wrapping
// defs.ErrInvalid that names them.
func (s *Stage) SetAreas(masks []motion.Polygon, zones []motion.Zone) error {
	if !s.cfg.Motion.Enabled {
		return ErrDisabled
	}
	s.mu.Lock()
	m, z := s.areas.masks, s.areas.zones
	s.mu.Unlock()
	if masks != nil {
		m = masks
	}
	if zones != nil {
		z = zones
	}
	if err := s.checkAreas(m, z); err != nil {
		return fmt.Errorf("%w: %w", defs.ErrInvalid, err)
	}
	if err := s.cfg.State.Update(s.cfg.Camera, func(c *CameraState) {
		if masks != nil {
			c.Masks = &m
		}
		if zones != nil {
			c.Zones = &z
		}
	}); err != nil {
		return err
	}
	s.mu.Lock()
	s.areas = areas{masks: m, zones: z, gen: s.areas.gen + 1}
	s.mu.Unlock()
	s.log.Info("motion masks and zones changed", "masks", len(m), "zones", len(z))
	return nil
}

// checkAreas validates masks and zones as the config would.
func (s *Stage) checkAreas(m []motion.Polygon, z []motion.Zone) error {
	c := s.cfg.Motion
	c.Masks, c.Zones = m, z
	return c.Validate()
}

// motionConfig returns the config with the areas in use, and their
// generation.
func (s *Stage) motionConfig() (motion.Config, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg.Motion
	c.Masks, c.Zones = s.areas.masks, s.areas.zones
	return c, s.areas.gen
}

// PeakFrame returns the frame with the most motion of the open or the last
// event, or nil.
func (s *Stage) PeakFrame() *pipeline.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Run analyses frames until ctx is done. Without motion.enabled it returns
// at once.
func (s *Stage) Run(ctx context.Context) error {
	if !s.cfg.Motion.Enabled {
		return nil
	}
	var rollDone chan struct{}
	var kick chan motionKick
	if s.cfg.Record != nil {
		kick = make(chan motionKick, 1)
		rollDone = make(chan struct{})
		go func() {
			defer close(rollDone)
			s.roll(ctx, kick)
		}()
	}
	a := &analyser{stage: s, interval: time.Duration(float64(time.Second) / s.cfg.Motion.FPS), kick: kick}
	defer func() {
		a.flush()
		if rollDone != nil {
			<-rollDone
		}
	}()
	s.log.Info("motion detection on", "fps", s.cfg.Motion.FPS, "threshold_pct", s.cfg.Motion.Threshold,
		"masks", len(s.areas.masks), "zones", len(s.areas.zones), "schedule", len(s.cfg.Motion.Schedule) > 0,
		"records", s.cfg.Record != nil)
	hub := s.src.FrameHub()
	for {
		preview := hub != s.src.FrameHub()
		if preview && !s.awaitArmed(ctx) {
			return nil
		}
		next, err := s.watch(ctx, a, hub, preview)
		if next == nil {
			return err
		}
		hub = next
	}
}

// awaitArmed waits until detection is armed; false when ctx is done
// first. An H.264 camera's preview decoder (an ffmpeg) runs only while
// someone subscribes: a disarmed detector does not.
func (s *Stage) awaitArmed(ctx context.Context) bool {
	tick := time.NewTicker(idleCheck)
	defer tick.Stop()
	for !s.armedAt(time.Now()) {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// watch analyses hub's frames until ctx is done (nil, nil), or the frames
// are H.264 and src has previews (it returns the preview hub), or, on
// the preview hub, detection is disarmed (it returns that hub, for Run to
// wait until it is armed again).
func (s *Stage) watch(ctx context.Context, a *analyser, hub *pipeline.Hub, preview bool) (*pipeline.Hub, error) {
	sub := hub.Subscribe(1)
	defer sub.Close()
	s.mu.Lock()
	skippedBefore := s.st.FramesSkipped
	s.mu.Unlock()
	tick := time.NewTicker(idleCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case now := <-tick.C:
			a.idle(now)
			if preview && !s.armedAt(now) {
				a.disarmed(now)
				return hub, nil
			}
		case f := <-sub.Frames():
			a.lastFrame = time.Now()
			if p, ok := s.src.(previewer); ok && f.PixFmt == "h264" && hub == s.src.FrameHub() {
				s.log.Info("motion detection analyses the H.264 camera's preview pictures")
				return p.PreviewHub(), nil
			}
			a.frame(f)
			s.mu.Lock()
			s.st.FramesSkipped = skippedBefore + sub.Dropped()
			s.mu.Unlock()
		}
	}
}

// analyser is Run's state: it belongs to Run's goroutine.
type analyser struct {
	stage    *Stage
	interval time.Duration
	next     time.Time // the capture time from which the next frame is analysed
	kick     chan motionKick

	dec     jpegdc.Decoder
	img     jpegdc.Image
	det     *motion.Detector
	tracker *motion.Tracker
	gen     uint64 // the areas' generation det was built with
	armed   bool
	seen    bool // a frame came: arming changes are logged from then on
	// candidate is the frame with the highest score of the frames that
	// may start an event (and of the open event).
	candidate *pipeline.Frame
	errText   string

	// lastFrame is when the last frame came (wall clock): see idle.
	lastFrame time.Time

	// The open event in the catalogue: its ID, and the peak frame written
	// as its snapshot last (and when).
	eventID   string
	written   *pipeline.Frame
	writtenAt time.Time
}

// snapshotEvery bounds how often an open event's snapshot is rewritten as
// its peak grows (by capture time); the final one is written at its end.
const snapshotEvery = time.Second

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
		if a.seen || !armed {
			s.mu.Lock()
			_, by := s.armedLocked(f.Time)
			s.mu.Unlock()
			next := ""
			if s.sched != nil {
				next = s.sched.Next(f.Time).Format(time.RFC3339)
			}
			s.log.Info("motion detection "+map[bool]string{true: "armed", false: "disarmed"}[armed], "by", by, "next_change", next)
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
	s.st.ActiveZones = nil
	if u.Open {
		s.st.ActiveZones = u.Event.Zones
	}
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
	} else if u.Open && a.eventID != "" && a.candidate != a.written && f.Time.Sub(a.writtenAt) >= snapshotEvery {
		a.catalogue(u.Event, true, true)
	}
	if u.Open && u.Motion && a.kick != nil {
		a.kickRecorder(motionKick{start: u.Event.Start, at: f.Time})
	}
}

// disarmed is the analyser's part of disarming when no frame comes to
// tell it (the preview hub is left while disarmed): the open event ends,
// the background is learnt afresh when armed again.
func (a *analyser) disarmed(now time.Time) {
	if !a.armed {
		return
	}
	a.flush()
	a.det, a.armed = nil, false
	s := a.stage
	s.mu.Lock()
	_, by := s.armedLocked(now)
	s.mu.Unlock()
	s.log.Info("motion detection disarmed", "by", by)
}

// idleCheck is how often Run looks for a camera that stopped sending
// frames while an event is open.
const idleCheck = time.Second

// idle ends an open event when no frame has come for event_gap: a camera
// that went away (or a pipe that ended) would otherwise hold it open, as
// events end only at a frame past their gap.
func (a *analyser) idle(now time.Time) {
	if a.tracker == nil || a.lastFrame.IsZero() || now.Sub(a.lastFrame) < a.stage.cfg.Motion.EventGap {
		return
	}
	s := a.stage
	s.mu.Lock()
	open := s.st.Active
	s.mu.Unlock()
	if open {
		s.log.Info("motion: no frames for event_gap: the open event ends at its last motion")
		a.flush()
	}
}

// kickRecorder tells the roll goroutine that there was motion, replacing
// what it has not taken yet. It never blocks.
func (a *analyser) kickRecorder(k motionKick) {
	for {
		select {
		case a.kick <- k:
			return
		default:
		}
		select {
		case <-a.kick:
		default:
		}
	}
}

// luma returns f's luma at 1/8 scale.
func (a *analyser) luma(f *pipeline.Frame) ([]byte, int, int, error) {
	switch {
	case f.PixFmt == "h264" && f.Data == nil:
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

// errH264 is the status error of an H.264 camera whose previews cannot be
// had (a Source without a preview decoder).
var errH264 = errors.New("an H.264 camera is analysed from its preview pictures, and this one has none")

// ensureDetector makes the detector for a w x h luma image (again when the
// camera's size or the masks and zones changed).
func (a *analyser) ensureDetector(w, h int) error {
	cfg, gen := a.stage.motionConfig()
	if a.det != nil {
		if dw, dh := a.det.Size(); dw == w && dh == h && gen == a.gen {
			return nil
		}
		a.flush()
	}
	det, err := motion.NewDetector(cfg, w, h)
	if err != nil {
		a.det = nil
		return fmt.Errorf("motion detector for %dx%d: %w", w, h, err)
	}
	a.det, a.gen = det, gen
	a.tracker = motion.NewTracker(cfg, det.ZoneNames())
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

// flush ends an open event (camera gone, disarmed, areas changed,
// shutdown).
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
	s.st.ActiveZones = nil
	s.mu.Unlock()
}

func (a *analyser) started(ev motion.Event) {
	s := a.stage
	a.eventID, a.written = "", nil
	a.catalogue(ev, true, true)
	s.log.Info("motion started", "event", a.eventID, "score_pct", defs.RoundTo(ev.Peak, 2), "zones", ev.Zones)
	s.publish(a.event(events.MotionStarted, ev.Start, ev))
}

func (a *analyser) ended(ev motion.Event) {
	s := a.stage
	// The status says it is over before anyone hears that it is.
	s.mu.Lock()
	s.st.Active, s.st.ActiveZones = false, nil
	s.mu.Unlock()
	a.catalogue(ev, false, a.candidate != a.written)
	d := ev.End.Sub(ev.Start).Seconds()
	s.log.Info("motion ended", "event", a.eventID, "duration_s", defs.RoundTo(d, 3), "peak_pct", defs.RoundTo(ev.Peak, 2), "zones", ev.Zones)
	e := a.event(events.MotionEnded, ev.End, ev)
	e.DurationS = d
	s.publish(e)
	a.eventID, a.written = "", nil
}

// event is the bus event of ev.
func (a *analyser) event(typ events.Type, at time.Time, ev motion.Event) events.Event {
	e := events.Event{Type: typ, Time: at, Score: defs.RoundTo(ev.Peak, 2), Zones: ev.Zones, EventID: a.eventID}
	if a.eventID != "" && a.written != nil {
		e.SnapshotURL = SnapshotURL(a.eventID)
		e.SnapshotPath, _ = a.stage.cfg.Catalog.SnapshotPath(a.eventID)
	}
	return e
}

// SnapshotURL is the API's path of event id's snapshot.
func SnapshotURL(id string) string { return "/api/v1/motion-events/" + id + "/snapshot.jpg" }

// catalogue writes ev into the catalogue (creating it when it has no ID
// yet), with the candidate frame as its snapshot when snap.
func (a *analyser) catalogue(ev motion.Event, open, snap bool) {
	s := a.stage
	if s.cfg.Catalog == nil {
		return
	}
	var jpg []byte
	f := a.candidate
	if snap && f != nil {
		var err error
		if jpg, err = snapshotJPEG(f); err != nil {
			s.log.Warn("motion: no snapshot of the event", "error", err.Error())
			jpg = nil
		}
	}
	e := eventlog.Event{ID: a.eventID, Start: ev.Start, End: ev.End, Open: open, Peak: defs.RoundTo(ev.Peak, 3),
		PeakTime: ev.PeakTime, Zones: ev.Zones}
	var err error
	if a.eventID == "" {
		a.eventID, err = s.cfg.Catalog.Begin(s.cfg.Camera, e, jpg)
		if err == nil {
			s.mu.Lock()
			s.st.LastEventID = a.eventID
			s.mu.Unlock()
		}
	} else {
		err = s.cfg.Catalog.Update(e, jpg)
	}
	if err != nil {
		s.log.Warn("motion: cannot catalogue the event", "event", a.eventID, "error", err.Error())
		return
	}
	if jpg != nil {
		a.written, a.writtenAt = f, f.Time
	}
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
