package motion

import "time"

// Event is a stretch of motion.
type Event struct {
	// Start is the capture time of its first frame with motion (which may
	// precede the frame that started the event by MinFrames-1 frames).
	Start time.Time
	// End is the capture time of its last frame with motion so far.
	End time.Time
	// Peak is the highest Score of its frames, PeakTime that frame's
	// capture time (the frame whose picture makes the event's snapshot).
	Peak     float64
	PeakTime time.Time
	// Frames counts its frames with motion.
	Frames int
	// Zones are the zones that moved in any of its frames with motion, in
	// the Config's order; nil for none. The slice is never modified after
	// it is handed out.
	Zones []string
}

// Update is what one frame did to the events. More than one thing can
// happen in a frame: an event can end (EventGap passed) and, at the same
// frame, motion start the next one. Handle Ended first.
type Update struct {
	// Motion is the frame's own verdict (Result.Motion).
	Motion bool
	// Ended: an event ended; EndedEvent is it. It ended because this frame
	// came EventGap or more after its last motion; its End is that last
	// motion's time, not this frame's.
	Ended      bool
	EndedEvent Event
	// Started: this frame started an event (Open is true, Event is it).
	Started bool
	// Open: an event is in progress after this frame (Event is it; the
	// "motion" state of a camera). Its fields are this frame's view.
	Open  bool
	Event Event
	// NewPeak: this frame has the highest score so far of the open event,
	// or of the frames with motion that may start one. Keep this frame's
	// picture as the snapshot (replacing the one kept before); when the
	// event ends, the picture kept is the one of its PeakTime.
	NewPeak bool
}

// Tracker turns per-frame results into events: an event starts when
// MinFrames consecutive frames have motion (it starts at the first of them)
// and ends when EventGap has passed since its last frame with motion. It is
// driven only by the frames' capture times: it has no clock, no goroutine,
// and an event ends at the first frame at or past its gap (or at Flush).
//
// A Tracker is not safe for concurrent use; Observe allocates only when an
// event starts, ends or gains a zone.
type Tracker struct {
	minFrames int
	gap       time.Duration
	names     []string

	open      bool
	ev        Event
	evZones   ZoneSet
	candidate int // consecutive frames with motion while no event is open
	cand      Event
	candZones ZoneSet
}

// NewTracker returns a tracker with cfg's MinFrames and EventGap (zero:
// defaults). zoneNames name the bits of the results' ZoneSets
// (Detector.ZoneNames).
func NewTracker(cfg Config, zoneNames []string) *Tracker {
	cfg = cfg.WithDefaults()
	return &Tracker{minFrames: max(cfg.MinFrames, 1), gap: cfg.EventGap, names: zoneNames}
}

// Observe takes the next frame's result (in capture order) and tells what
// happened.
func (t *Tracker) Observe(r Result) Update {
	u := Update{Motion: r.Motion}
	if t.open && r.Time.Sub(t.ev.End) >= t.gap {
		u.Ended, u.EndedEvent = true, t.ev
		t.open = false
	}
	switch {
	case r.Motion && t.open:
		t.ev.End = r.Time
		t.ev.Frames++
		if r.Score > t.ev.Peak {
			t.ev.Peak, t.ev.PeakTime = r.Score, r.Time
			u.NewPeak = true
		}
		if grown := t.evZones | r.Zones; grown != t.evZones {
			t.evZones = grown
			t.ev.Zones = zoneNames(t.names, grown)
		}
	case r.Motion:
		if t.candidate == 0 {
			t.cand = Event{Start: r.Time, End: r.Time, Peak: r.Score, PeakTime: r.Time}
			t.candZones = 0
			u.NewPeak = true
		} else {
			t.cand.End = r.Time
			if r.Score > t.cand.Peak {
				t.cand.Peak, t.cand.PeakTime = r.Score, r.Time
				u.NewPeak = true
			}
		}
		t.candidate++
		t.cand.Frames = t.candidate
		t.candZones |= r.Zones
		if t.candidate >= t.minFrames {
			t.open, t.ev, t.evZones = true, t.cand, t.candZones
			t.ev.Zones = zoneNames(t.names, t.evZones)
			t.candidate = 0
			u.Started = true
		}
	default:
		t.candidate = 0
	}
	u.Open = t.open
	if t.open {
		u.Event = t.ev
	}
	return u
}

// Flush ends the open event, if any, at the end of a stream (the camera
// went away, detection was disabled or disarmed): its End stays its last
// motion. Frames with motion that had not yet made an event are dropped.
// The tracker can be used again afterwards.
func (t *Tracker) Flush() (Event, bool) {
	ev, ok := t.ev, t.open
	t.open, t.ev, t.evZones, t.candidate = false, Event{}, 0, 0
	return ev, ok
}

// Open reports whether an event is in progress, and which.
func (t *Tracker) Open() (Event, bool) {
	if !t.open {
		return Event{}, false
	}
	return t.ev, true
}
