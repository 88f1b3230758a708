package motion

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// frames builds results at 5 fps from a pattern: '.' no motion, a digit d
// motion with score d (zone bits: 'a' = zone 0, 'b' = zone 1 with score 5).
func frames(pattern string) []Result {
	var out []Result
	for i, c := range strings.ReplaceAll(pattern, " ", "") {
		r := Result{Time: at(i, 5)}
		switch {
		case c >= '1' && c <= '9':
			r.Motion, r.Score = true, float64(c-'0')
		case c == 'a':
			r.Motion, r.Score, r.Zones = true, 5, 1
		case c == 'b':
			r.Motion, r.Score, r.Zones = true, 5, 2
		}
		out = append(out, r)
	}
	return out
}

// span is an event as frame indexes at 5 fps.
type span struct {
	start, end, startedAt, endedAt int // endedAt -1: ended by Flush
	peak                           float64
	peakAt                         int
	zones                          string
}

func idx(t time.Time) int { return int(t.Sub(t0) / (200 * time.Millisecond)) }

func TestTracker(t *testing.T) {
	for _, c := range []struct {
		name      string
		minFrames int
		gap       time.Duration
		pattern   string
		want      []span
	}{
		{"nothing", 2, time.Second, ".....", nil},
		{"one frame is not an event", 2, time.Second, "..3......", nil},
		{"broken pair is not an event", 2, time.Second, "..3.3.3....", nil},
		{"two frames make one, from the first", 2, time.Second, "..34......",
			[]span{{start: 2, end: 3, startedAt: 3, endedAt: 8, peak: 4, peakAt: 3}}},
		{"min_frames 1", 1, time.Second, "..3......",
			[]span{{start: 2, end: 2, startedAt: 2, endedAt: 7, peak: 3, peakAt: 2}}},
		{"min_frames 3", 3, time.Second, ".33.333.......",
			[]span{{start: 4, end: 6, startedAt: 6, endedAt: 11, peak: 3, peakAt: 4}}},
		// A gap of 0.8 s (< 1 s) merges; the peak is the 9.
		{"gap merges", 2, time.Second, ".22...9.22.........",
			[]span{{start: 1, end: 9, startedAt: 2, endedAt: 14, peak: 9, peakAt: 6}}},
		// A gap of exactly 1 s (5 frames) splits: the event ends at the frame
		// 1 s after its last motion, and that frame's motion is the next one's.
		{"gap splits", 2, time.Second, ".22....22.........",
			[]span{
				{start: 1, end: 2, startedAt: 2, endedAt: 7, peak: 2, peakAt: 1},
				{start: 7, end: 8, startedAt: 8, endedAt: 13, peak: 2, peakAt: 7},
			}},
		{"ended and started at one frame", 1, time.Second, ".2....3......",
			[]span{
				{start: 1, end: 1, startedAt: 1, endedAt: 6, peak: 2, peakAt: 1},
				{start: 6, end: 6, startedAt: 6, endedAt: 11, peak: 3, peakAt: 6},
			}},
		{"zones unite", 2, time.Second, ".2aa..b2.......",
			[]span{{start: 1, end: 7, startedAt: 2, endedAt: 12, peak: 5, peakAt: 2, zones: "door,window"}}},
		{"zones of the candidate frames count", 2, time.Second, ".b2.......",
			[]span{{start: 1, end: 2, startedAt: 2, endedAt: 7, peak: 5, peakAt: 1, zones: "window"}}},
		{"flush ends an open event", 2, time.Second, "..22",
			[]span{{start: 2, end: 3, startedAt: 3, endedAt: -1, peak: 2, peakAt: 2}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(Config{MinFrames: c.minFrames, EventGap: c.gap}, []string{"door", "window"})
			var got []span
			var open *span
			for _, r := range frames(c.pattern) {
				u := tr.Observe(r)
				if u.Ended {
					if open == nil {
						t.Fatalf("frame %d: ended without an open event", idx(r.Time))
					}
					if ev := u.EndedEvent; idx(ev.Start) != open.start {
						t.Errorf("ended event starts at %d, the open one at %d", idx(ev.Start), open.start)
					}
					got = append(got, finish(*open, u.EndedEvent, idx(r.Time)))
					open = nil
				}
				if u.Started {
					if !u.Open {
						t.Fatalf("frame %d: started but not open", idx(r.Time))
					}
					open = &span{start: idx(u.Event.Start), startedAt: idx(r.Time)}
				}
				if u.Open != (open != nil) {
					t.Fatalf("frame %d: Open %v", idx(r.Time), u.Open)
				}
				if u.Motion != r.Motion {
					t.Fatalf("frame %d: Motion %v", idx(r.Time), u.Motion)
				}
			}
			if ev, ok := tr.Flush(); ok {
				got = append(got, finish(*open, ev, -1))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("events\n got %+v\nwant %+v", got, c.want)
			}
			if _, ok := tr.Flush(); ok {
				t.Error("second Flush returned an event")
			}
		})
	}
}

func finish(s span, ev Event, endedAt int) span {
	s.end, s.endedAt, s.peak, s.peakAt = idx(ev.End), endedAt, ev.Peak, idx(ev.PeakTime)
	s.zones = strings.Join(ev.Zones, ",")
	return s
}

// TestTrackerNewPeak: NewPeak marks exactly the frames whose picture the
// caller must keep, candidates included, so the kept picture at the end is
// the peak's.
func TestTrackerNewPeak(t *testing.T) {
	tr := NewTracker(Config{MinFrames: 2, EventGap: time.Second}, nil)
	var kept time.Time
	var snaps []time.Time
	for _, r := range frames("3.25.7384..........") {
		u := tr.Observe(r)
		if u.Ended {
			snaps = append(snaps, kept)
			if kept != u.EndedEvent.PeakTime {
				t.Errorf("kept the picture of frame %d, the peak is frame %d", idx(kept), idx(u.EndedEvent.PeakTime))
			}
		}
		if u.NewPeak {
			kept = r.Time
		}
	}
	if len(snaps) != 1 || idx(snaps[0]) != 7 {
		t.Errorf("snapshots %v, want frame 7 (the 8)", snaps)
	}
}

func TestTrackerDoesNotAllocateWhileContinuing(t *testing.T) {
	tr := NewTracker(Config{}, []string{"door"})
	i := 0
	tr.Observe(Result{Time: at(i, 5), Motion: true, Score: 1, Zones: 1})
	tr.Observe(Result{Time: at(1, 5), Motion: true, Score: 1, Zones: 1})
	i = 2
	allocs := testing.AllocsPerRun(100, func() {
		tr.Observe(Result{Time: at(i, 5), Motion: i%2 == 0, Score: 1, Zones: 1})
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}
