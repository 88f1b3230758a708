package defs

import "time"

// Backoff is camrec's one restart policy, used wherever something failed
// and is tried again (a camera that will not stream, a dead ffmpeg,
// continuous recording after a failure): wait First, then twice as long
// each time, at most Max; Reset after a run that went well.
type Backoff struct {
	First, Max time.Duration
	cur        time.Duration
}

// Next returns the wait before the next try and doubles the one after.
func (b *Backoff) Next() time.Duration {
	b.cur = min(max(2*b.cur, b.First), b.Max)
	return b.cur
}

// Reset makes the next wait First again.
func (b *Backoff) Reset() { b.cur = 0 }
