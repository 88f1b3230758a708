package motion

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// t0 is the capture time of every synthetic scene's first frame.
var t0 = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

// synth makes synthetic luma frames: a fixed textured background (levels
// 40-200, so both the dark and the bright half exist), Gaussian sensor
// noise of sigma levels (per analysed pixel, i.e. after 8x8 averaging), and
// whatever paint adds.
type synth struct {
	w, h  int
	sigma float64
	base  []float64
	rng   *rand.Rand
}

func newSynth(w, h int, sigma float64, seed uint64) *synth {
	s := &synth{w: w, h: h, sigma: sigma, base: make([]float64, w*h), rng: rand.New(rand.NewPCG(seed, 7))}
	for y := range h {
		for x := range w {
			s.base[y*w+x] = 40 + 140*float64(x)/float64(w) + 20*math.Sin(float64(y)/4) + 10*math.Cos(float64(x*y)/37)
		}
	}
	return s
}

// frame renders one frame: paint (may be nil) maps a pixel's noiseless
// level to another (an object, a light).
func (s *synth) frame(paint func(x, y int, v float64) float64) []byte {
	out := make([]byte, s.w*s.h)
	for y := range s.h {
		for x := range s.w {
			v := s.base[y*s.w+x]
			if paint != nil {
				v = paint(x, y, v)
			}
			v += s.rng.NormFloat64() * s.sigma
			out[y*s.w+x] = byte(min(max(math.Round(v), 0), 255))
		}
	}
	return out
}

// box paints a filled rectangle of level v (clipped to the picture).
func box(x0, y0, bw, bh int, v float64) func(x, y int, old float64) float64 {
	return func(x, y int, old float64) float64 {
		if x >= x0 && x < x0+bw && y >= y0 && y < y0+bh {
			return v
		}
		return old
	}
}

// harness runs frames through a Detector and a Tracker and records what
// came out.
type harness struct {
	t       *testing.T
	det     *Detector
	tr      *Tracker
	results []Result
	events  []Event     // ended events, in order
	started []time.Time // capture times of the frames that started events
	endedAt []time.Time // capture times of the frames that ended events
	peaks   []time.Time // frames flagged NewPeak
}

func newHarness(t *testing.T, cfg Config, w, h int) *harness {
	t.Helper()
	det, err := NewDetector(cfg, w, h)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, det: det, tr: NewTracker(cfg, det.ZoneNames())}
}

func (hs *harness) feed(luma []byte, at time.Time) Result {
	hs.t.Helper()
	r, err := hs.det.Detect(luma, at)
	if err != nil {
		hs.t.Fatal(err)
	}
	hs.results = append(hs.results, r)
	u := hs.tr.Observe(r)
	if u.Ended {
		hs.events = append(hs.events, u.EndedEvent)
		hs.endedAt = append(hs.endedAt, at)
	}
	if u.Started {
		hs.started = append(hs.started, at)
	}
	if u.NewPeak {
		hs.peaks = append(hs.peaks, at)
	}
	return r
}

// flush ends the stream; an event still open is recorded with a zero
// endedAt.
func (hs *harness) flush() {
	if ev, ok := hs.tr.Flush(); ok {
		hs.events = append(hs.events, ev)
		hs.endedAt = append(hs.endedAt, time.Time{})
	}
}

// maxScore is the highest score of the frames in [from, to).
func (hs *harness) maxScore(from, to time.Time) float64 {
	m := 0.0
	for _, r := range hs.results {
		if !r.Time.Before(from) && r.Time.Before(to) {
			m = max(m, r.Score)
		}
	}
	return m
}

func (hs *harness) count(pred func(Result) bool) int {
	n := 0
	for _, r := range hs.results {
		if pred(r) {
			n++
		}
	}
	return n
}

func secs(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// at is the capture time of frame i at fps.
func at(i int, fps float64) time.Time { return t0.Add(secs(float64(i) / fps)) }

// rel is t in seconds after t0, for messages.
func rel(t time.Time) float64 {
	if t.IsZero() {
		return math.NaN()
	}
	return t.Sub(t0).Seconds()
}
