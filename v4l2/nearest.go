package v4l2

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SizeRange is a set of frame sizes a device offers for one format. A
// discrete size has Min == Max and zero steps; a stepwise range has steps;
// the zero SizeRange stands for "continuous" (any size), which is how
// blackjack/webcam reports V4L2_FRMSIZE_TYPE_CONTINUOUS.
type SizeRange struct {
	MinWidth, MaxWidth, StepWidth    int
	MinHeight, MaxHeight, StepHeight int
}

// DiscreteSize returns the SizeRange of exactly width x height.
func DiscreteSize(width, height int) SizeRange {
	return SizeRange{MinWidth: width, MaxWidth: width, MinHeight: height, MaxHeight: height}
}

// Continuous reports whether the range stands for any size.
func (s SizeRange) Continuous() bool { return s == SizeRange{} }

// Discrete reports whether the range is one size.
func (s SizeRange) Discrete() bool {
	return !s.Continuous() && s.StepWidth == 0 && s.StepHeight == 0
}

// String renders "1280x720", "[32-2592 step 2]x[32-1944 step 2]" or "any size".
func (s SizeRange) String() string {
	switch {
	case s.Continuous():
		return "any size"
	case s.Discrete():
		return fmt.Sprintf("%dx%d", s.MaxWidth, s.MaxHeight)
	default:
		return fmt.Sprintf("[%d-%d step %d]x[%d-%d step %d]",
			s.MinWidth, s.MaxWidth, s.StepWidth, s.MinHeight, s.MaxHeight, s.StepHeight)
	}
}

// snap returns the size in s nearest to width x height (each dimension
// clamped to the range and rounded to its step).
func (s SizeRange) snap(width, height int) (int, int) {
	if s.Continuous() {
		return width, height
	}
	return snapDim(width, s.MinWidth, s.MaxWidth, s.StepWidth),
		snapDim(height, s.MinHeight, s.MaxHeight, s.StepHeight)
}

func snapDim(x, lo, hi, step int) int {
	x = min(max(x, lo), hi)
	if step > 0 {
		x = lo + int(math.Round(float64(x-lo)/float64(step)))*step
		if x > hi {
			x -= step
		}
	}
	return x
}

// NearestSize returns the offered size nearest to width x height: the one
// with the smallest |dw|+|dh|, the larger one on a tie. Width or height 0
// asks for the largest size. ok is false when sizes offer nothing to choose
// (empty, or only "any size" with no size asked for).
func NearestSize(sizes []SizeRange, width, height int) (w, h int, ok bool) {
	largest := width <= 0 || height <= 0
	best := -1
	for _, s := range sizes {
		var cw, ch int
		switch {
		case largest && s.Continuous():
			continue
		case largest:
			cw, ch = s.MaxWidth, s.MaxHeight
		default:
			cw, ch = s.snap(width, height)
		}
		d := 0
		if largest {
			d = -cw * ch // the larger the better
		} else {
			d = abs(cw-width) + abs(ch-height)
		}
		if !ok || d < best || (d == best && cw*ch > w*h) {
			w, h, best, ok = cw, ch, d, true
		}
	}
	return w, h, ok
}

// RateRange is a set of frame rates a device offers at one size, in frames
// per second. A discrete rate has Min == Max and StepInterval 0. A stepwise
// range offers frame intervals from 1/Max to 1/Min seconds in steps of
// StepInterval seconds (0: any interval in between).
type RateRange struct {
	Min, Max     float64
	StepInterval float64
}

// DiscreteRate returns the RateRange of exactly fps.
func DiscreteRate(fps float64) RateRange { return RateRange{Min: fps, Max: fps} }

// String renders "30" or "1-30".
func (r RateRange) String() string {
	if r.Min == r.Max {
		return formatFPS(r.Max)
	}
	return formatFPS(r.Min) + "-" + formatFPS(r.Max)
}

func (r RateRange) snap(fps float64) float64 {
	if r.Min == r.Max || r.Max <= 0 {
		return r.Max
	}
	fps = min(max(fps, r.Min), r.Max)
	if r.StepInterval > 0 && r.Min > 0 {
		lo, hi := 1/r.Max, 1/r.Min
		iv := lo + math.Round((1/fps-lo)/r.StepInterval)*r.StepInterval
		if iv > hi+1e-12 {
			iv -= r.StepInterval
		}
		fps = 1 / iv
	}
	return fps
}

// NearestRate returns the offered rate nearest to fps, the higher one on a
// tie. fps 0 asks for the highest rate. ok is false when rates is empty.
func NearestRate(rates []RateRange, fps float64) (float64, bool) {
	best, bestD, ok := 0.0, 0.0, false
	for _, r := range rates {
		var c, d float64
		if fps <= 0 {
			c = r.Max
			d = -c
		} else {
			c = r.snap(fps)
			d = math.Abs(c - fps)
		}
		if c <= 0 {
			continue
		}
		if !ok || d < bestD-1e-9 || (math.Abs(d-bestD) <= 1e-9 && c > best) {
			best, bestD, ok = c, d, true
		}
	}
	return best, ok
}

// formatFPS renders a rate with at most two decimals: "30", "7.5", "29.97".
func formatFPS(fps float64) string {
	return strconv.FormatFloat(math.Round(fps*100)/100, 'f', -1, 64)
}

func formatRates(rates []RateRange) string {
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
