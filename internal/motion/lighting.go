package motion

// Global brightness compensation.
//
// Every frame, the change of the whole picture's brightness since the
// background is fitted as frame ≈ background + offset + slope·(background −
// ref): an offset (a lamp, the sensor's black level) and a gain (exposure,
// clouds: a change of light multiplies luma, gamma or not). The fit is
// robust: medians, not means, of the differences, over every other pixel
// of those that were still in the previous frame and are not clipped,
// split at the median background level into a dark and a bright half. Each half's median
// difference at its mean background level gives two points of the line; a
// picture with too little contrast between its halves (a plain wall) gets
// an offset only.
//
// The background is then moved by the fitted change at once, so a slow
// illumination ramp never builds up a difference, and only local changes
// remain. A fitted change of MinDiff or more in a single frame is a light
// switch (see Detector).

// diffBins is the number of histogram bins of a difference rounded to a
// whole level: -255..255.
const diffBins = 511

// fit is one frame's global brightness change: the background at level b
// becomes b + offset + slope·(b − ref).
type fit struct {
	offset, slope, ref float32
	jump               float32 // the largest |change| at the two halves' mean levels
}

func (f fit) at(b float32) float32 { return f.offset + f.slope*(b-f.ref) }

// saturated reports whether a level is clipped (or nearly): its difference
// says nothing about the light.
func saturated(v float32) bool { return v < 4 || v > 251 }

// fitLight fits the global change from the background to frame. It uses
// d.histBg, d.histLo, d.histHi as scratch.
func (d *Detector) fitLight(frame []byte) fit {
	// Pixels that moved in the previous frame (d.chg still holds it) are
	// left out, unless they are most of the picture (then the light
	// changed, not an object). Every other pixel is enough for medians and
	// halves the cost.
	skipMoving := (d.reg.nActive-d.prevRaw)*4 >= d.reg.nActive

	clear(d.histBg[:])
	n := 0
	for i := 0; i < len(d.reg.active); i += 2 {
		if !d.reg.active[i] || (skipMoving && d.chg[i] != 0) {
			continue
		}
		b, v := d.bg[i], float32(frame[i])
		if saturated(b) || saturated(v) {
			continue
		}
		d.histBg[int(b)]++
		n++
	}
	if n < 16 || n*20 < d.reg.nActive {
		return fit{} // (nearly) everything clipped: nothing to fit on
	}
	// Split at the median background level.
	split, acc := 0, 0
	for split = range d.histBg {
		acc += int(d.histBg[split])
		if acc*2 >= n {
			break
		}
	}
	clear(d.histLo[:])
	clear(d.histHi[:])
	var nLo, nHi int
	var sumLo, sumHi float64
	for i := 0; i < len(d.reg.active); i += 2 {
		if !d.reg.active[i] || (skipMoving && d.chg[i] != 0) {
			continue
		}
		b, v := d.bg[i], float32(frame[i])
		if saturated(b) || saturated(v) {
			continue
		}
		k := diffBin(v - b)
		if int(b) <= split {
			d.histLo[k]++
			nLo++
			sumLo += float64(b)
		} else {
			d.histHi[k]++
			nHi++
			sumHi += float64(b)
		}
	}
	if nLo*8 >= n && nHi*8 >= n {
		meanLo, meanHi := float32(sumLo/float64(nLo)), float32(sumHi/float64(nHi))
		if meanHi-meanLo >= 32 {
			medLo, medHi := histMedian(d.histLo[:], nLo), histMedian(d.histHi[:], nHi)
			slope := (medHi - medLo) / (meanHi - meanLo)
			slope = min(max(slope, -0.3), 1) // a gain of 0.7 to 2 per frame
			f := fit{offset: medLo, slope: slope, ref: meanLo}
			f.jump = max(abs32(f.at(meanLo)), abs32(f.at(meanHi)))
			return f
		}
	}
	for k := range d.histLo {
		d.histLo[k] += d.histHi[k]
	}
	med := histMedian(d.histLo[:], n)
	return fit{offset: med, jump: abs32(med)}
}

// diffBin is the histogram bin of difference v.
func diffBin(v float32) int {
	k := int(v + 255.5) // round half up; v >= -255
	return min(max(k, 0), diffBins-1)
}

// histMedian is the median of n differences counted in hist (bins of whole
// levels), interpolated inside its bin so that it moves smoothly with the
// light rather than in steps of one level.
func histMedian(hist []int32, n int) float32 {
	half := float32(n) / 2
	var acc float32
	for k, c := range hist {
		if c == 0 {
			continue
		}
		if acc+float32(c) >= half {
			return float32(k-255) - 0.5 + (half-acc)/float32(c)
		}
		acc += float32(c)
	}
	return 0
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
