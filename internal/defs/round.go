package defs

// RoundTo rounds v to digits decimals, for figures in status and logs
// (duration_s=1.067, not 1.0666666666666667).
func RoundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
