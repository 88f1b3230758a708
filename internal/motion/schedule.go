package motion

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule arms detection in weekly windows of local wall-clock time.
//
// A window is written "[days] HH:MM-HH:MM[,HH:MM-HH:MM…]":
//
//	mon-fri 08:00-17:30
//	sat,sun 00:00-24:00
//	22:00-06:00                  (every day; crosses midnight)
//	mon,wed-fri 07:00-09:00,17:00-23:00
//	weekends 00:00-24:00         (also: daily, weekdays)
//
// Days are mon…sun (or full names), ranges (fri-mon wraps), lists. A
// window that ends at or before its start crosses midnight and belongs to
// the day it starts: "fri 22:00-06:00" runs from Friday 22:00 to Saturday
// 06:00. 24:00 is the end of the day.
//
// Daylight saving time: a window is armed once per day, from the first
// moment the clock shows its start to the first moment after that it shows
// its end. So when the clocks go back, the repeated hour does not arm a
// window a second time (a window ending at 02:30 ends at the first 02:30);
// when they go forward, the skipped hour is skipped (a 02:00-03:00 window
// is not armed at all that night, a 01:00-02:30 one ends at 03:00 summer
// time, an hour after it started).
//
// A Schedule with no windows (or a nil *Schedule) is always armed.
type Schedule struct {
	loc     *time.Location
	windows []window
}

// window is one time range on some weekdays.
type window struct {
	days       uint8 // bit time.Weekday
	start, end int   // minutes after midnight; end <= start: the next day
}

// ParseSchedule parses windows (see Schedule) in the time zone loc (the
// machine's: time.Local). Errors name the window: `schedule[1] "mon-fry
// 08:00-17:00": unknown day "fry" …`.
func ParseSchedule(specs []string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	s := &Schedule{loc: loc}
	for i, spec := range specs {
		ws, err := parseWindow(spec)
		if err != nil {
			return nil, fmt.Errorf("schedule[%d] %q: %w", i, spec, err)
		}
		s.windows = append(s.windows, ws...)
	}
	return s, nil
}

var errWindowSyntax = errors.New(`want "[days] HH:MM-HH:MM", e.g. "mon-fri 08:00-17:30", "sat,sun 00:00-24:00" or "22:00-06:00"`)

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

func parseWindow(spec string) ([]window, error) {
	f := strings.Fields(spec)
	var days uint8 = 0x7f
	var times string
	switch len(f) {
	case 1:
		times = f[0]
	case 2:
		var err error
		if days, err = parseDays(f[0]); err != nil {
			return nil, err
		}
		times = f[1]
	default:
		return nil, errWindowSyntax
	}
	var out []window
	for _, r := range strings.Split(times, ",") {
		a, b, ok := strings.Cut(r, "-")
		if !ok {
			return nil, errWindowSyntax
		}
		start, err := parseClock(a)
		if err != nil {
			return nil, err
		}
		end, err := parseClock(b)
		if err != nil {
			return nil, err
		}
		if start == 24*60 {
			return nil, fmt.Errorf("start %q: a window starts at 23:59 at the latest (00:00 is the next day's start)", a)
		}
		if start == end {
			return nil, fmt.Errorf("%q: start and end are the same; all day is 00:00-24:00", r)
		}
		if end == 24*60 {
			end = 0 // the next day's 00:00, the same instant
		}
		out = append(out, window{days: days, start: start, end: end})
	}
	return out, nil
}

func parseDays(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "daily":
		return 0x7f, nil
	case "weekdays":
		return 0x3e, nil
	case "weekends":
		return 1<<time.Saturday | 1<<time.Sunday, nil
	}
	var days uint8
	for item := range strings.SplitSeq(strings.ToLower(s), ",") {
		a, b, isRange := strings.Cut(item, "-")
		if a == "" || (isRange && b == "") {
			return 0, fmt.Errorf("days %q: a day is missing", s)
		}
		from, ok := dayNames[a]
		if !ok {
			return 0, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun, a range like mon-fri, a list like sat,sun, or daily, weekdays, weekends)", a)
		}
		to := from
		if isRange {
			if to, ok = dayNames[b]; !ok {
				return 0, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun)", b)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			days |= 1 << d
			if d == to {
				break
			}
		}
	}
	return days, nil
}

// parseClock parses "H:MM" or "HH:MM" (00:00 to 24:00) into minutes.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) < 1 || len(h) > 2 || len(m) != 2 ||
		hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 24:00", s)
	}
	return hh*60 + mm, nil
}

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location {
	if s == nil || s.loc == nil {
		return time.Local
	}
	return s.loc
}

// always reports whether the schedule has no windows.
func (s *Schedule) always() bool { return s == nil || len(s.windows) == 0 }

// Armed reports whether detection is armed at t.
func (s *Schedule) Armed(t time.Time) bool {
	if s.always() {
		return true
	}
	y, m, d := t.In(s.loc).Date()
	// A window that started the day before can still run; so can one of
	// the next day when the clocks went back over midnight.
	for k := -1; k <= 1; k++ {
		for _, w := range s.windows {
			if a, b, ok := s.interval(w, y, m, d+k); ok && !t.Before(a) && t.Before(b) {
				return true
			}
		}
	}
	return false
}

// Next returns when the armed state changes next after t: the end of the
// armed stretch t lies in, or the start of the next one. It returns the zero
// time when the state never changes (no windows, or armed all week).
func (s *Schedule) Next(t time.Time) time.Time {
	if s.always() {
		return time.Time{}
	}
	y, m, d := t.In(s.loc).Date()
	type span struct{ a, b time.Time }
	var spans []span
	// Two weeks ahead: a weekly window can be skipped by the clocks going
	// forward, its next stretch is then 14 days away.
	for k := -1; k <= 15; k++ {
		for _, w := range s.windows {
			if a, b, ok := s.interval(w, y, m, d+k); ok {
				spans = append(spans, span{a, b})
			}
		}
	}
	slices.SortFunc(spans, func(p, q span) int { return p.a.Compare(q.a) })
	// Merge overlapping and touching spans: the state changes only at the
	// edges of the union.
	merged := spans[:0]
	for _, sp := range spans {
		if n := len(merged); n > 0 && !sp.a.After(merged[n-1].b) {
			if sp.b.After(merged[n-1].b) {
				merged[n-1].b = sp.b
			}
			continue
		}
		merged = append(merged, sp)
	}
	for _, sp := range merged {
		if t.Before(sp.a) {
			return sp.a
		}
		if t.Before(sp.b) {
			if sp.b.Sub(t) > 7*24*time.Hour {
				return time.Time{} // armed a whole week: always
			}
			return sp.b
		}
	}
	return time.Time{}
}

// interval is window w's stretch on the day y-m-d (normalised: d may be
// out of the month's range); ok is false when w is not on that weekday or
// the stretch is empty (skipped by a spring-forward).
func (s *Schedule) interval(w window, y int, m time.Month, d int) (a, b time.Time, ok bool) {
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if w.days&(1<<day.Weekday()) == 0 {
		return a, b, false
	}
	a = firstAt(day, w.start, s.loc)
	if w.end > w.start {
		b = firstAt(day, w.end, s.loc)
	} else {
		b = firstAt(day.AddDate(0, 0, 1), w.end, s.loc)
	}
	return a, b, b.After(a)
}

// firstAt returns the first instant at which a clock in loc shows minute
// minute of the civil day day (a UTC midnight) or later: the only instant that
// shows it, the earlier of two when the clocks went back, the moment the
// clocks jumped past it when they went forward.
func firstAt(day time.Time, minute int, loc *time.Location) time.Time {
	wall := day.Unix() + int64(minute)*60 // the wall clock, as seconds of a UTC calendar
	var offs [3]int
	for i, probe := range [3]int64{wall - 86400, wall, wall + 86400} {
		_, offs[i] = time.Unix(probe, 0).In(loc).Zone()
	}
	found := false
	var best int64
	for _, off := range offs {
		u := wall - int64(off)
		if _, o := time.Unix(u, 0).In(loc).Zone(); u+int64(o) == wall && (!found || u < best) {
			best, found = u, true
		}
	}
	if found {
		return time.Unix(best, 0).In(loc)
	}
	// The clocks skipped this minute: the first instant after it is the
	// transition, the start of the zone period that the minute, read with
	// the old (smaller) offset, falls in.
	u := wall - int64(min3(offs))
	start, _ := time.Unix(u, 0).In(loc).ZoneBounds()
	return start
}

func min3(v [3]int) int { return min(v[0], v[1], v[2]) }
