package motion

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sw, sh = 160, 90 // a 1280x720 camera at 1/8 scale

// TestNoiseMakesNoEvent: sensor noise alone, from negligible to far more
// than a 1/8-scale picture has (8x8 averaging divides white noise by 8),
// for 30 s at 5 fps.
func TestNoiseMakesNoEvent(t *testing.T) {
	for _, sigma := range []float64{0.5, 2, 5, 10, 20} {
		t.Run("sigma="+ftoa(sigma), func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, Config{}, sw, sh)
			s := newSynth(sw, sh, sigma, 1)
			for i := range 150 {
				hs.feed(s.frame(nil), at(i, 5))
			}
			hs.flush()
			if len(hs.events) != 0 {
				t.Fatalf("%d events, want none: first %+v", len(hs.events), hs.events[0])
			}
			if n := hs.count(func(r Result) bool { return r.Lightswitch }); n != 0 {
				t.Errorf("%d light switches in pure noise", n)
			}
			t.Logf("sigma %g: max score %.3f%% (threshold %g%%)", sigma, hs.maxScore(t0, at(150, 5)), DefaultThreshold)
		})
	}
}

// TestNoisyRegionNeedsLargerDifference: a quarter of the picture is very
// noisy (sigma 12: a dark corner at high gain), the rest quiet. The noisy
// quarter makes no event, while an object of only 25 levels' contrast in
// the quiet part is found: the threshold is per pixel.
func TestNoisyRegionNeedsLargerDifference(t *testing.T) {
	hs := newHarness(t, Config{}, sw, sh)
	s := newSynth(sw, sh, 0.7, 2)
	noisy := func(x, y int, v float64) float64 {
		if x < sw/2 && y < sh/2 {
			return v + s.rng.NormFloat64()*12
		}
		return v
	}
	for i := range 150 { // 30 s of noise only
		hs.feed(s.frame(noisy), at(i, 5))
	}
	if len(hs.started) != 0 {
		t.Fatalf("the noisy quarter started %d events", len(hs.started))
	}
	// A low-contrast object in the quiet part from 30 s to 33 s.
	for i := 150; i < 200; i++ {
		paint := noisy
		if i < 165 {
			paint = func(x, y int, v float64) float64 {
				if x >= 100 && x < 120 && y >= 50 && y < 70 {
					return v + 25
				}
				return noisy(x, y, v)
			}
		}
		hs.feed(s.frame(paint), at(i, 5))
	}
	if len(hs.started) != 1 {
		t.Fatalf("%d events started, want 1 for the low-contrast object", len(hs.started))
	}
	if got := rel(hs.started[0]); got > 30.5 {
		t.Errorf("event started at %.1f s, the object appeared at 30 s", got)
	}
}

// objectCase is an object crossing the picture.
type objectCase struct {
	name     string
	fps      float64
	contrast float64 // added to the background; negative: a dark object
	sigma    float64
}

// TestObjectMakesOneEvent: a 20x20 object (2.8% of the picture) enters from
// the left at 3 s, crosses the picture in 2 s and is gone at 5 s. At 5
// fps the event must start within 0.5 s of the entry: the first frame with
// the object already has motion (its first 16 columns show), the second
// starts the event (MinFrames 2), 0.2 s after the entry, and the event's
// Start is the entry frame. It must end EventGap after the last frame with
// the object, and End at that frame.
func TestObjectMakesOneEvent(t *testing.T) {
	for _, c := range []objectCase{
		{"bright", 5, +80, 2},
		{"dark", 5, -80, 2},
		{"faint", 5, +22, 1},
		{"noisy", 5, +60, 8},
		{"2fps", 2, +80, 2},
		{"15fps", 15, +80, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, Config{}, sw, sh)
			s := newSynth(sw, sh, c.sigma, 3)
			const entry, exit = 3.0, 5.0 // seconds
			n := int(11 * c.fps)
			var firstSeen, lastSeen time.Time
			for i := range n {
				tt := float64(i) / c.fps
				var paint func(x, y int, v float64) float64
				if tt >= entry && tt < exit {
					// left edge: -20 at the entry, 180 at the exit, so the first frame
					// shows 0-20 columns depending on the rate
					x := int(math.Round(-20 + (tt-entry)/(exit-entry)*200))
					if x+20 > 0 && x < sw {
						if firstSeen.IsZero() {
							firstSeen = at(i, c.fps)
						}
						lastSeen = at(i, c.fps)
						paint = func(px, py int, v float64) float64 {
							if px >= x && px < x+20 && py >= 35 && py < 55 {
								return v + c.contrast
							}
							return v
						}
					}
				}
				hs.feed(s.frame(paint), at(i, c.fps))
			}
			hs.flush()
			if len(hs.events) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(hs.events), hs.events)
			}
			ev := hs.events[0]
			frame := secs(1 / c.fps)
			t.Logf("object visible %.2f-%.2f s; event %.2f-%.2f s, started at the frame of %.2f s, ended at %.2f s, peak %.2f%% at %.2f s",
				rel(firstSeen), rel(lastSeen), rel(ev.Start), rel(ev.End), rel(hs.started[0]), rel(hs.endedAt[0]), ev.Peak, rel(ev.PeakTime))
			if ev.Start.Before(firstSeen) || ev.Start.After(firstSeen.Add(frame)) {
				t.Errorf("event Start %.2f s, want the first frame with the object (%.2f s) or the next", rel(ev.Start), rel(firstSeen))
			}
			// Reported at most 0.5 s after the entry (at 2 fps: MinFrames frames).
			limit := max(secs(0.5), time.Duration(DefaultMinFrames)*frame)
			if d := hs.started[0].Sub(t0.Add(secs(entry))); d > limit {
				t.Errorf("event started %v after the entry, want at most %v", d, limit)
			}
			if ev.End.After(lastSeen) || ev.End.Before(lastSeen.Add(-frame)) {
				t.Errorf("event End %.2f s, want the last frame with the object (%.2f s) or the one before", rel(ev.End), rel(lastSeen))
			}
			endDue := ev.End.Add(DefaultEventGap)
			if hs.endedAt[0].Before(endDue) || hs.endedAt[0].After(endDue.Add(frame)) {
				t.Errorf("event ended at the frame of %.2f s, want EventGap after its End (%.2f s), within a frame", rel(hs.endedAt[0]), rel(endDue))
			}
			if ev.PeakTime.Before(ev.Start) || ev.PeakTime.After(ev.End) || ev.Peak < 2 || ev.Peak > 3.5 {
				t.Errorf("peak %.2f%% at %.2f s, want 2-3.5%% (the whole object, 400 of 14400 pixels) inside the event", ev.Peak, rel(ev.PeakTime))
			}
			if hs.peaks[len(hs.peaks)-1] != ev.PeakTime {
				t.Errorf("last NewPeak at %.2f s, PeakTime %.2f s", rel(hs.peaks[len(hs.peaks)-1]), rel(ev.PeakTime))
			}
		})
	}
}

// TestLightChangesMakeNoEvent: global brightness steps and ramps.
func TestLightChangesMakeNoEvent(t *testing.T) {
	type light func(i int) func(x, y int, v float64) float64
	step := func(from, to int, f func(v float64) float64) light {
		return func(i int) func(x, y int, v float64) float64 {
			if i >= from && i < to {
				return func(_, _ int, v float64) float64 { return f(v) }
			}
			return nil
		}
	}
	ramp := func(from, frames int, f func(v float64, k int) float64) light {
		return func(i int) func(x, y int, v float64) float64 {
			k := min(max(i-from, 0), frames)
			return func(_, _ int, v float64) float64 { return f(v, k) }
		}
	}
	for _, c := range []struct {
		name     string
		light    light
		switches int // light switch frames expected: one per sudden change, none for ramps
	}{
		// A lamp switched on at 2 s (+60 levels; the brightest parts clip at
		// 255) and off at 12 s.
		{"switch +60", step(10, 60, func(v float64) float64 { return v + 60 }), 2},
		{"switch -60", step(10, 60, func(v float64) float64 { return v - 60 }), 2},
		// Exposure jumps: x1.5 and x0.6 at once.
		{"gain x1.5", step(10, 60, func(v float64) float64 { return v * 1.5 }), 2},
		{"gain x0.6", step(10, 60, func(v float64) float64 { return v * 0.6 }), 2},
		// +1 level per frame over 100 frames (2-22 s), then steady, and the same
		// down.
		{"ramp +1/frame", ramp(10, 100, func(v float64, k int) float64 { return v + float64(k) }), 0},
		{"ramp -1/frame", ramp(10, 100, func(v float64, k int) float64 { return v - float64(k) }), 0},
		// A faster ramp, +5 per frame (25 levels a second).
		{"ramp +5/frame", ramp(10, 30, func(v float64, k int) float64 { return v + 5*float64(k) }), 0},
		// +1 per frame, but a band of blocks half inside a clipped lamp follows
		// at 3/8 of the rate, and a window's light (a fifth of the picture)
		// changes twice as fast as the room's: the fit cannot predict them.
		{"ramp, uneven", func(i int) func(x, y int, v float64) float64 {
			k := float64(min(max(i-10, 0), 100))
			return func(x, y int, v float64) float64 {
				switch {
				case y >= 60 && y < 64:
					return v + k*3/8
				case x >= 128:
					return v + 2*k
				}
				return v + k
			}
		}, 0},
		// Clouds: the gain falls 0.4% per frame, to 0.67 after 100 frames.
		{"gain ramp", func(i int) func(x, y int, v float64) float64 {
			g := math.Pow(0.996, float64(min(max(i-10, 0), 100)))
			return func(_, _ int, v float64) float64 { return v * g }
		}, 0},
		// A lamp lights 70% of the picture by +40 from 2 s on: not a global
		// change, but too much at once to be an object.
		{"lamp on 70%", func(i int) func(x, y int, v float64) float64 {
			if i < 10 {
				return nil
			}
			return func(x, _ int, v float64) float64 {
				if x < sw*7/10 {
					return v + 40
				}
				return v
			}
		}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, Config{}, sw, sh)
			s := newSynth(sw, sh, 2, 4)
			for i := range 130 {
				hs.feed(s.frame(c.light(i)), at(i, 5))
			}
			hs.flush()
			ls := hs.count(func(r Result) bool { return r.Lightswitch })
			t.Logf("light switches %d, max score %.3f%%, events %d", ls, hs.maxScore(t0, at(130, 5)), len(hs.events))
			if len(hs.events) != 0 {
				t.Fatalf("%d events, want none: %+v", len(hs.events), hs.events)
			}
			if ls != c.switches {
				t.Errorf("%d light switch frames, want %d (a ramp is compensated, a step re-learnt)", ls, c.switches)
			}
		})
	}
}

// TestObjectAfterLightChange: compensation does not blind the detector: an
// object that comes during a slow ramp, or 2 s after a light switch, makes
// its event.
func TestObjectAfterLightChange(t *testing.T) {
	for _, c := range []struct {
		name  string
		light func(i int, v float64) float64
	}{
		{"during ramp", func(i int, v float64) float64 { return v + float64(min(max(i-50, 0), 100)) }},
		{"after switch", func(i int, v float64) float64 {
			if i >= 90 {
				return v - 50
			}
			return v
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t, Config{}, sw, sh)
			s := newSynth(sw, sh, 2, 12)
			for i := range 200 {
				obj := i >= 100 && i < 110 // 20-22 s
				hs.feed(s.frame(func(x, y int, v float64) float64 {
					if obj && x >= 60+4*(i-100) && x < 80+4*(i-100) && y >= 30 && y < 50 {
						v = 100
					}
					return c.light(i, v)
				}), at(i, 5))
			}
			hs.flush()
			if len(hs.events) != 1 {
				t.Fatalf("%d events, want 1", len(hs.events))
			}
			if ev := hs.events[0]; rel(ev.Start) != 20 || rel(ev.End) != 21.8 {
				t.Errorf("event %.1f-%.1f s, want 20-21.8 s", rel(ev.Start), rel(ev.End))
			}
		})
	}
}

// TestMaskedFlicker: a patch blinking (+100, 0.5 s on, 0.5 s off) makes an
// event, unless it is masked.
func TestMaskedFlicker(t *testing.T) {
	flicker := func(i int) func(x, y int, v float64) float64 {
		if i < 25 || (i/2)%2 == 0 { // 2 frames on, 2 off, from 5 s
			return nil
		}
		return box(10, 10, 30, 20, 230) // x 10-40, y 10-30: 4.2% of the picture
	}
	mask := Polygon{{0.05, 0.09}, {0.27, 0.09}, {0.27, 0.36}, {0.05, 0.36}} // x 8-43, y 8-32
	for _, c := range []struct {
		name   string
		masks  []Polygon
		events int
	}{
		{"unmasked", nil, 1},
		{"masked", []Polygon{mask}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t, Config{Masks: c.masks}, sw, sh)
			s := newSynth(sw, sh, 2, 5)
			for i := range 100 {
				hs.feed(s.frame(flicker(i)), at(i, 5))
			}
			hs.flush()
			if len(hs.events) != c.events {
				t.Fatalf("%d events, want %d", len(hs.events), c.events)
			}
			if c.events > 0 && rel(hs.events[0].Start) > 5.5 {
				t.Errorf("event started at %.1f s, the flicker at 5 s", rel(hs.events[0].Start))
			}
		})
	}
}

// TestMaskIgnoredByLight: a masked 60% of the picture (a TV, a window)
// jumping by +100 levels is no light switch, and an object entering the
// unmasked part at the same frame is motion in that very frame.
func TestMaskIgnoredByLight(t *testing.T) {
	hs := newHarness(t, Config{Masks: []Polygon{rect(0, 0, 0.6, 1)}}, sw, sh)
	s := newSynth(sw, sh, 2, 13)
	for i := range 40 {
		var paint func(x, y int, v float64) float64
		if i >= 20 {
			paint = func(x, y int, v float64) float64 {
				switch {
				case x < 96: // masked: 60% of 160
					return v + 100
				case i < 30 && x >= 120 && x < 140 && y >= 30 && y < 50:
					return 250
				}
				return v
			}
		}
		r := hs.feed(s.frame(paint), at(i, 5))
		if r.Lightswitch {
			t.Fatalf("frame %d: light switch from masked pixels", i)
		}
		if want := i >= 20 && i < 30; r.Motion != want {
			t.Errorf("frame %d: motion %v (score %.2f%%), want %v", i, r.Motion, r.Score, want)
		}
	}
}

// TestScoreIsOfUnmaskedArea: with half the picture masked, an object in
// the other half scores twice what it would with no mask.
func TestScoreIsOfUnmaskedArea(t *testing.T) {
	score := func(masks []Polygon) float64 {
		hs := newHarness(t, Config{Masks: masks}, sw, sh)
		s := newSynth(sw, sh, 1, 6)
		var r Result
		for i := range 10 {
			var paint func(x, y int, v float64) float64
			if i == 9 {
				paint = box(100, 30, 20, 20, 250)
			}
			r = hs.feed(s.frame(paint), at(i, 5))
		}
		if r.Changed != 400 {
			t.Errorf("changed %d pixels, want the object's 400", r.Changed)
		}
		return r.Score
	}
	full := score(nil)
	half := score([]Polygon{{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}})
	if math.Abs(full-100*400.0/(sw*sh)) > 1e-9 || math.Abs(half-2*full) > 1e-9 {
		t.Errorf("score %.4f%% unmasked, %.4f%% with half masked; want %.4f%% and twice that", full, half, 100*400.0/(sw*sh))
	}
}

// TestZones: an object in the "door" zone reports ["door"]; one crossing
// both zones reports both; the event unites its frames' zones.
func TestZones(t *testing.T) {
	zones := []Zone{
		{Name: "window", Polygon: Polygon{{0, 0}, {0.3, 0}, {0.3, 0.3}, {0, 0.3}}},
		{Name: "door", Polygon: Polygon{{0.6, 0.3}, {0.8, 0.3}, {0.8, 1}, {0.6, 1}}}, // x 96-128, y 27-90
	}
	for _, c := range []struct {
		name  string
		paint func(i int) func(x, y int, v float64) float64
		zones []string
	}{
		{"door", func(i int) func(x, y int, v float64) float64 {
			return box(100, 40, 20, 30, 250)
		}, []string{"door"}},
		{"outside", func(i int) func(x, y int, v float64) float64 {
			return box(60, 50, 20, 30, 250)
		}, nil},
		{"window then door", func(i int) func(x, y int, v float64) float64 {
			if i < 15 {
				return box(5, 5, 20, 20, 250)
			}
			return box(100, 40, 20, 30, 250)
		}, []string{"window", "door"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t, Config{Zones: zones}, sw, sh)
			s := newSynth(sw, sh, 1, 7)
			for i := range 60 {
				var paint func(x, y int, v float64) float64
				if i >= 10 && i < 20 {
					paint = c.paint(i)
				}
				hs.feed(s.frame(paint), at(i, 5))
			}
			hs.flush()
			if len(hs.events) != 1 {
				t.Fatalf("%d events, want 1", len(hs.events))
			}
			if got := hs.events[0].Zones; !slices.Equal(got, c.zones) {
				t.Errorf("zones %q, want %q", got, c.zones)
			}
		})
	}
}

// TestParkedObjectIsAbsorbed: an object that stops stays "motion" while it
// is new (AbsorbAfter), then blends into the background at BackgroundTime's
// rate until its difference falls under its pixels' threshold, which has
// meanwhile risen from MinDiff towards NoiseFactor·MinDiff: so it stops
// counting between AbsorbAfter + BackgroundTime·ln(contrast/(NoiseFactor·
// MinDiff)) = 15 s and AbsorbAfter + BackgroundTime·ln(contrast/MinDiff) =
// 29 s for a contrast of 100. Its leaving is motion again, absorbed the
// same way.
func TestParkedObjectIsAbsorbed(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, Config{}, sw, sh)
	s := newSynth(sw, sh, 1.5, 8)
	car := func(x, y int, v float64) float64 {
		if x >= 40 && x < 80 && y >= 50 && y < 70 {
			return v + 100
		}
		return v
	}
	// At 2 fps, to save time (the time constants hold at any rate).
	const parks, leaves = 10.0, 50.0
	for i := range 2 * 90 {
		tt := float64(i) / 2
		var paint func(x, y int, v float64) float64
		if tt >= parks && tt < leaves {
			paint = car
		}
		hs.feed(s.frame(paint), at(i, 2))
	}
	hs.flush()
	if len(hs.events) != 2 {
		t.Fatalf("%d events, want 2 (parking, leaving)", len(hs.events))
	}
	absorb, tau := DefaultAbsorbAfter.Seconds(), DefaultBackgroundTime.Seconds()
	lo := absorb + tau*math.Log(100/(DefaultNoiseFactor*DefaultMinDiff))
	hi := absorb + tau*math.Log(100/DefaultMinDiff)
	for k, from := range []float64{parks, leaves} {
		ev := hs.events[k]
		dur := ev.End.Sub(ev.Start).Seconds()
		t.Logf("event %d: %.1f-%.1f s: %.1f s of motion (bounds %.1f-%.1f s)", k, rel(ev.Start), rel(ev.End), dur, lo, hi)
		if rel(ev.Start) != from || dur < lo || dur > hi {
			t.Errorf("event %d: start %.1f s, %.1f s of motion; want %.0f s and %.1f-%.1f s", k, rel(ev.Start), dur, from, lo, hi)
		}
	}
}

// TestPausingObjectIsNotAbsorbed: someone who stands still for 8 s (less
// than AbsorbAfter) is still motion all along, and leaving leaves no ghost:
// one event from arrival to departure.
func TestPausingObjectIsNotAbsorbed(t *testing.T) {
	hs := newHarness(t, Config{}, sw, sh)
	s := newSynth(sw, sh, 1.5, 9)
	for i := range 5 * 30 {
		tt := float64(i) / 5
		var paint func(x, y int, v float64) float64
		switch {
		case tt >= 5 && tt < 7: // walks in
			paint = box(int(5+(tt-5)*30), 40, 12, 30, 240)
		case tt >= 7 && tt < 15: // stands
			paint = box(65, 40, 12, 30, 240)
		case tt >= 15 && tt < 17: // walks out
			paint = box(int(65+(tt-15)*50), 40, 12, 30, 240)
		}
		hs.feed(s.frame(paint), at(i, 5))
	}
	hs.flush()
	if len(hs.events) != 1 {
		t.Fatalf("%d events, want 1", len(hs.events))
	}
	ev := hs.events[0]
	if rel(ev.Start) != 5 || rel(ev.End) < 16.6 || rel(ev.End) > 16.8 {
		t.Errorf("event %.1f-%.1f s, want 5-16.8 s", rel(ev.Start), rel(ev.End))
	}
	if m := hs.count(func(r Result) bool { return !r.Motion && rel(r.Time) >= 5 && rel(r.Time) < 17 }); m != 0 {
		t.Errorf("%d frames without motion while the person was there", m)
	}
}

// TestLearning: nothing is reported during the first LearnTime, then
// detection runs; a long gap in the frames, a step back in time and Reset
// start learning again.
func TestLearning(t *testing.T) {
	d, err := NewDetector(Config{}, sw, sh)
	if err != nil {
		t.Fatal(err)
	}
	s := newSynth(sw, sh, 1, 10)
	learning := func(tt time.Time) bool {
		r, err := d.Detect(s.frame(nil), tt)
		if err != nil {
			t.Fatal(err)
		}
		return r.Learning
	}
	var got []bool
	for i := range 7 {
		got = append(got, learning(at(i, 5)))
	}
	if want := []bool{true, true, true, true, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("learning at 0, 0.2 … 1.2 s: %v, want %v", got, want)
	}
	if !learning(at(7, 5).Add(time.Minute)) {
		t.Error("not learning after a minute without frames")
	}
	for i := range 10 {
		learning(t0.Add(2 * time.Minute).Add(secs(float64(i) / 5)))
	}
	if !learning(t0.Add(time.Minute)) {
		t.Error("not learning after a frame from the past")
	}
	for i := range 10 {
		learning(t0.Add(time.Minute).Add(secs(float64(i) / 5)))
	}
	d.Reset()
	if !learning(t0.Add(time.Minute).Add(secs(2.2))) {
		t.Error("not learning after Reset")
	}
}

// TestDetectWrongSize: a frame of the wrong size is an error, not a panic.
func TestDetectWrongSize(t *testing.T) {
	d, err := NewDetector(Config{}, 16, 9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Detect(make([]byte, 100), t0); err == nil || !strings.Contains(err.Error(), "frame of 100 bytes, want 16x9 = 144") {
		t.Errorf("got %v", err)
	}
}

func TestDetectDoesNotAllocate(t *testing.T) {
	cfg := Config{Zones: []Zone{{Name: "door", Polygon: Polygon{{0.5, 0}, {1, 0}, {1, 1}, {0.5, 1}}}}}
	d, err := NewDetector(cfg, sw, sh)
	if err != nil {
		t.Fatal(err)
	}
	frames := benchFrames(sw, sh, 20)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := d.Detect(frames[i%len(frames)], at(i, 5)); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

// benchFrames makes n frames of a noisy scene with an object walking
// through, so that every stage (light fit, blobs, zones) has work.
func benchFrames(w, h, n int) [][]byte {
	s := newSynth(w, h, 3, 11)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = s.frame(box(i*w/n, h/3, w/8, h/3, 240))
	}
	return frames
}

// BenchmarkDetector measures one analysed frame at 1280x720/8 and
// 1920x1080/8, with an object moving through a noisy scene.
func BenchmarkDetector(b *testing.B) {
	for _, size := range []struct{ w, h int }{{160, 90}, {240, 135}} {
		b.Run(itoa(size.w)+"x"+itoa(size.h), func(b *testing.B) {
			cfg := Config{Zones: []Zone{
				{Name: "door", Polygon: Polygon{{0.5, 0}, {1, 0}, {1, 1}, {0.5, 1}}},
				{Name: "path", Polygon: Polygon{{0, 0.5}, {1, 0.5}, {1, 1}, {0, 1}}},
			}}
			d, err := NewDetector(cfg, size.w, size.h)
			if err != nil {
				b.Fatal(err)
			}
			frames := benchFrames(size.w, size.h, 50)
			for i := range 10 { // past learning
				d.Detect(frames[i], at(i, 5))
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 10
			for b.Loop() {
				if _, err := d.Detect(frames[i%len(frames)], at(i, 5)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
func itoa(v int) string     { return strconv.Itoa(v) }
