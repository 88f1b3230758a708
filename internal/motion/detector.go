package motion

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// ZoneSet is a set of zones, bit i for the i-th zone of the Config.
type ZoneSet uint64

// Has reports whether zone i is in the set.
func (s ZoneSet) Has(i int) bool { return i >= 0 && i < MaxZones && s&(1<<i) != 0 }

// Len is the number of zones in the set.
func (s ZoneSet) Len() int { return bits.OnesCount64(uint64(s)) }

// Result is what the detector saw in one frame.
type Result struct {
	// Time is the frame's capture time, as given to Detect.
	Time time.Time
	// Motion: Score reached the threshold (never while Learning or on a
	// Lightswitch frame).
	Motion bool
	// Score is the changed area after despeckling, in percent of the
	// unmasked picture (0 while Learning or on a Lightswitch frame).
	Score float64
	// Zones are the zones whose changed area reached their threshold.
	Zones ZoneSet
	// Learning: the background is being learnt (the first LearnTime of
	// frames, or after a reset or a gap); nothing is reported.
	Learning bool
	// Lightswitch: the whole picture's light changed at once; the
	// background was re-learnt from this frame.
	Lightswitch bool
	// Changed is the number of changed pixels that counted (after
	// despeckling), Raw the number before.
	Changed, Raw int
	// Light is the brightness change since the background that was
	// compensated, in levels, at the darker half's mean level (a slow ramp
	// shows here, frame by frame, instead of as motion).
	Light float64
}

// lightFollow: a light change of this many levels in one frame makes still
// pixels take the frame as their background (see Detect).
const lightFollow = 10

// Detector finds motion in a stream of small luma pictures (one byte per
// pixel, row by row), typically the camera's JPEGs at 1/8 scale. It keeps a
// background model of the scene and compares each frame to it. It is driven
// only by the frames and their capture times: no clock, no goroutine.
//
// A Detector is not safe for concurrent use. Detect does not allocate.
type Detector struct {
	cfg        Config
	w, h       int
	reg        *regions
	minBlob    int
	relearnGap time.Duration

	bg    []float32 // background, levels
	noise []float32 // mean absolute deviation from the background, levels
	held  []float32 // seconds each pixel has been changed without a break (0: still)
	chg   []uint8   // this frame: 0 still, 1 changed, 2 changed and visited by blobs
	queue []int32   // blob flood fill
	zcnt  []int     // per zone: changed pixels in this frame

	histBg         [256]int32
	histLo, histHi [diffBins]int32

	prevRaw    int // changed pixels of the previous frame (d.chg holds them until classified again)
	started    bool
	learnStart time.Time
	learnN     int
	last       time.Time
}

// NewDetector returns a detector for w x h pictures with cfg's settings
// (zero settings at their defaults). It fails when cfg is invalid or when,
// at this size, the masks cover everything or a zone covers no pixel.
func NewDetector(cfg Config, w, h int) (*Detector, error) {
	if w < 1 || h < 1 || w > 4096 || h > 4096 {
		return nil, errSize
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("motion: %w", err)
	}
	cfg = cfg.WithDefaults()
	reg, err := rasterizeRegions(w, h, cfg.Masks, cfg.Zones, cfg.Threshold)
	if err != nil {
		return nil, fmt.Errorf("motion: %w", err)
	}
	n := w * h
	d := &Detector{
		cfg:     cfg,
		w:       w,
		h:       h,
		reg:     reg,
		minBlob: max(1, int(math.Ceil(cfg.MinArea/100*float64(n)-1e-9))),
		// A gap of 10 frame intervals (at least 30 s) in the frames makes
		// the background stale: it is learnt again.
		relearnGap: max(30*time.Second, time.Duration(10/cfg.FPS*float64(time.Second))),
		bg:         make([]float32, n),
		noise:      make([]float32, n),
		held:       make([]float32, n),
		chg:        make([]uint8, n),
		queue:      make([]int32, n),
		zcnt:       make([]int, len(cfg.Zones)),
	}
	return d, nil
}

// Size is the picture size the detector takes.
func (d *Detector) Size() (w, h int) { return d.w, d.h }

// Config is the detector's configuration, with defaults filled in.
func (d *Detector) Config() Config { return d.cfg }

// ZoneNames are the zones' names, index i for bit i of a ZoneSet.
func (d *Detector) ZoneNames() []string { return d.reg.zoneNames }

// Zones returns the names of the zones in s, in the Config's order (nil
// for none).
func (d *Detector) Zones(s ZoneSet) []string { return zoneNames(d.reg.zoneNames, s) }

// ZoneScore is zone i's changed area in the last frame, in percent of the
// zone's unmasked pixels.
func (d *Detector) ZoneScore(i int) float64 {
	return 100 * float64(d.zcnt[i]) / float64(d.reg.zoneArea[i])
}

// MinBlob is the smallest number of connected changed pixels that counts
// (MinArea at this size).
func (d *Detector) MinBlob() int { return d.minBlob }

// Reset forgets the background: the next frame starts learning again (use
// it after the camera reconnected, or when detection is re-armed after a
// pause; a gap of over 10 frame intervals and at least 30 s between frames
// does it by itself).
func (d *Detector) Reset() { d.started = false }

// Detect analyses one frame: luma holds w*h levels row by row, t is its
// capture time. Frames must come in capture order; a frame older than the
// previous one, or one after a long gap, restarts learning.
func (d *Detector) Detect(luma []byte, t time.Time) (Result, error) {
	if len(luma) != d.w*d.h {
		return Result{}, fmt.Errorf("motion: frame of %d bytes, want %dx%d = %d", len(luma), d.w, d.h, d.w*d.h)
	}
	r := Result{Time: t}
	clear(d.zcnt)
	dt := t.Sub(d.last)
	if !d.started || dt < 0 || dt > d.relearnGap {
		d.started, d.learnStart, d.learnN, d.last, d.prevRaw = true, t, 1, t, 0
		for i, v := range luma {
			d.bg[i] = float32(v)
			d.noise[i] = 0
			d.held[i] = 0
			d.chg[i] = 0
		}
		r.Learning = true
		return r, nil
	}
	d.last = t
	if d.learnN < 3 || t.Sub(d.learnStart) < d.cfg.LearnTime {
		d.learn(luma)
		r.Learning = true
		return r, nil
	}
	secs := float32(dt.Seconds())
	aBg := float32(-math.Expm1(-dt.Seconds() / d.cfg.BackgroundTime.Seconds()))
	aNoise := float32(-math.Expm1(-dt.Seconds() / noiseTime.Seconds()))

	light := d.fitLight(luma)
	r.Light = float64(light.at(light.ref))
	if light.jump >= float32(d.cfg.MinDiff) {
		d.reseed(luma)
		r.Lightswitch = true
		return r, nil
	}

	// Move the background by the global change (b + offset + slope·(b −
	// ref) = scale·b + shift) and classify the pixels. (Plain comparisons
	// rather than min and max, whose NaN handling costs here.)
	minDiff, k := float32(d.cfg.MinDiff), float32(d.cfg.NoiseFactor)
	scale, shift := 1+light.slope, light.offset-light.slope*light.ref
	raw := 0
	for i, a := range d.reg.active {
		if !a {
			d.chg[i] = 0
			continue
		}
		b := scale*d.bg[i] + shift
		if b < 0 {
			b = 0
		} else if b > 255 {
			b = 255
		}
		d.bg[i] = b
		thr := k * d.noise[i]
		if thr < minDiff {
			thr = minDiff
		}
		if diff := float32(luma[i]) - b; diff > thr || diff < -thr {
			d.chg[i] = 1
			raw++
		} else {
			d.chg[i] = 0
		}
	}
	r.Raw = raw
	d.prevRaw = raw
	if float64(raw)*100 >= d.cfg.Lightswitch*float64(d.reg.nActive) && d.cfg.Lightswitch < 100 {
		d.reseed(luma)
		r.Lightswitch = true
		return r, nil
	}

	// Update the model. A still pixel follows the frame (background and
	// noise); a changed one is kept out of the background until it has
	// been changed for AbsorbAfter, and pulls its noise estimate towards
	// MinDiff (never above it), so that a pixel that keeps changing (leaves
	// in the wind) slowly raises its own threshold, up to
	// NoiseFactor·MinDiff, while one passing object hardly does.
	//
	// On a frame where the light changed by g levels (at the pixel's
	// level), a still pixel's background moves g/lightFollow of the way to
	// the frame rather than BackgroundTime's share: the global fit cannot
	// predict every pixel's response (a block half inside a clipped lamp
	// or window follows at half the rate, light through one window is not
	// the room's), and without this the leftovers add up over a ramp.
	absorb := float32(d.cfg.AbsorbAfter.Seconds())
	// The light's change at level b, over lightFollow: (slope·b + offset −
	// slope·ref)/lightFollow.
	fSlope, fShift := light.slope/lightFollow, (light.offset-light.slope*light.ref)/lightFollow
	for i, a := range d.reg.active {
		if !a {
			continue
		}
		b := d.bg[i]
		diff := float32(luma[i]) - b
		if d.chg[i] != 0 {
			d.held[i] += secs
			if n := d.noise[i]; n < minDiff {
				d.noise[i] = n + aNoise*(minDiff-n)
			}
			if d.held[i] >= absorb {
				d.bg[i] = b + aBg*diff
			}
			continue
		}
		d.held[i] = 0
		d.noise[i] += aNoise * (abs32(diff) - d.noise[i])
		w := abs32(fSlope*b + fShift)
		if w < aBg {
			w = aBg
		} else if w > 1 {
			w = 1
		}
		d.bg[i] = b + w*diff
	}

	r.Changed = d.despeckle()
	r.Score = 100 * float64(r.Changed) / float64(d.reg.nActive)
	r.Motion = r.Score >= d.cfg.Threshold
	for z, c := range d.zcnt {
		if c > 0 && float64(c)*100 >= d.reg.zoneThr[z]*float64(d.reg.zoneArea[z]) {
			r.Zones |= 1 << z
		}
	}
	return r, nil
}

// learn adds a frame to the background being learnt: the mean of the frames
// so far, and the mean absolute deviation of each frame from the mean of
// the frames before it (an overestimate over few frames, which errs on the
// quiet side). A deviation above MinDiff is most likely something moving,
// not noise, and counts as MinDiff.
func (d *Detector) learn(luma []byte) {
	d.learnN++
	n := float32(d.learnN)
	minDiff := float32(d.cfg.MinDiff)
	for i, v := range luma {
		diff := float32(v) - d.bg[i]
		d.noise[i] += (min(abs32(diff), minDiff) - d.noise[i]) / (n - 1)
		d.bg[i] += diff / n
	}
}

// reseed makes frame the background (a light switch); the noise estimate
// stays.
func (d *Detector) reseed(luma []byte) {
	d.prevRaw = 0
	for i, v := range luma {
		d.bg[i] = float32(v)
		d.held[i] = 0
		d.chg[i] = 0
	}
}

// despeckle keeps the 8-connected blobs of changed pixels of at least
// minBlob pixels, counts their pixels per zone into zcnt and returns their
// total.
func (d *Detector) despeckle() int {
	w, h := d.w, d.h
	kept := 0
	for start, c := range d.chg {
		if c != 1 {
			continue
		}
		d.chg[start] = 2
		d.queue[0] = int32(start)
		n := 1
		for head := 0; head < n; head++ {
			p := int(d.queue[head])
			x, y := p%w, p/w
			for ny := max(y-1, 0); ny <= min(y+1, h-1); ny++ {
				for nx := max(x-1, 0); nx <= min(x+1, w-1); nx++ {
					q := ny*w + nx
					if d.chg[q] == 1 {
						d.chg[q] = 2
						d.queue[n] = int32(q)
						n++
					}
				}
			}
		}
		if n < d.minBlob {
			continue
		}
		kept += n
		if len(d.zcnt) == 0 {
			continue
		}
		for _, p := range d.queue[:n] {
			for zb := d.reg.zoneBits[p]; zb != 0; zb &= zb - 1 {
				d.zcnt[bits.TrailingZeros64(zb)]++
			}
		}
	}
	return kept
}

// zoneNames lists the names of the zones in s.
func zoneNames(names []string, s ZoneSet) []string {
	if s == 0 {
		return nil
	}
	out := make([]string, 0, s.Len())
	for i, name := range names {
		if s.Has(i) {
			out = append(out, name)
		}
	}
	return out
}
