package motion

import (
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests need Europe/Berlin and America/New_York on any machine
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSchedule(t *testing.T, loc *time.Location, specs ...string) *Schedule {
	t.Helper()
	s, err := ParseSchedule(specs, loc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// armedSpans scans [from, to) minute by minute and returns the armed
// stretches as "HH:MM-HH:MM" UTC (with the date when it differs from
// from's), checking at every minute that Next agrees with the scan.
func armedSpans(t *testing.T, s *Schedule, from, to time.Time) string {
	t.Helper()
	// Armed state per minute over the range plus a week, to know each
	// minute's next change.
	n := int(to.Sub(from)/time.Minute) + 8*24*60
	armed := make([]bool, n)
	for i := range armed {
		armed[i] = s.Armed(from.Add(time.Duration(i) * time.Minute))
	}
	var spans []string
	fmtT := func(m time.Time) string {
		if y, mo, d := m.Date(); y == from.Year() && mo == from.Month() && d == from.Day() {
			return m.Format("15:04")
		}
		return m.Format("Jan 2 15:04")
	}
	start := -1
	nextChange := -1
	for i := range int(to.Sub(from) / time.Minute) {
		if i >= nextChange {
			nextChange = -1
			for j := i + 1; j < n; j++ {
				if armed[j] != armed[i] {
					nextChange = j
					break
				}
			}
		}
		m := from.Add(time.Duration(i) * time.Minute)
		want := time.Time{}
		if nextChange >= 0 {
			want = from.Add(time.Duration(nextChange) * time.Minute)
		}
		// Next at every 7th minute and around every change (all minutes
		// would make the test slow under -race).
		near := i%7 == 0 || (nextChange >= 0 && nextChange-i <= 2) || (i > 0 && armed[i] != armed[i-1]) || (i > 1 && armed[i-1] != armed[i-2])
		if !near {
			goto scan
		}
		for _, probe := range []time.Time{m, m.Add(30 * time.Second)} {
			if got := s.Next(probe); !got.Equal(want) {
				t.Fatalf("Next(%s UTC) = %s, but the scan changes at %s", probe.Format(time.DateTime), got.UTC().Format(time.DateTime), want.Format(time.DateTime))
			}
		}
	scan:
		if armed[i] && start < 0 {
			start = i
		}
		if !armed[i] && start >= 0 {
			spans = append(spans, fmtT(from.Add(time.Duration(start)*time.Minute))+"-"+fmtT(m))
			start = -1
		}
	}
	if start >= 0 {
		spans = append(spans, fmtT(from.Add(time.Duration(start)*time.Minute))+"-…")
	}
	return strings.Join(spans, " ")
}

// TestScheduleDST runs windows over the nights the clocks change, in UTC
// so the expectations are unambiguous. Berlin: 2025-03-30 02:00 CET (UTC+1)
// becomes 03:00 CEST (UTC+2) at 01:00 UTC; 2025-10-26 03:00 CEST becomes
// 02:00 CET at 01:00 UTC. New York: 2025-03-09 02:00 EST (UTC-5) becomes
// 03:00 EDT (UTC-4) at 07:00 UTC; 2025-11-02 02:00 EDT becomes 01:00 EST
// at 06:00 UTC.
func TestScheduleDST(t *testing.T) {
	for _, c := range []struct {
		name, zone, spec string
		from             string // UTC, scanned for 3 days
		want             string // armed stretches, UTC
	}{
		// Spring forward: 02:00-03:00 does not exist that night, so the window
		// is not armed at all; it is the night before and the week after.
		{"berlin spring 02-03", "Europe/Berlin", "sun 02:00-03:00", "2025-03-29 00:00", ""},
		{"berlin spring 02-03 a week on", "Europe/Berlin", "sun 02:00-03:00", "2025-04-05 00:00", "Apr 6 00:00-Apr 6 01:00"},
		{"berlin spring 02-03 daily", "Europe/Berlin", "02:00-03:00", "2025-03-29 00:00", "01:00-02:00 Mar 31 00:00-Mar 31 01:00"},
		// A window reaching into the skipped hour ends when the clocks jump:
		// 01:00 CET to 03:00 CEST, one hour.
		{"berlin spring 01-0230", "Europe/Berlin", "sun 01:00-02:30", "2025-03-30 00:00", "00:00-01:00"},
		{"berlin spring crossing midnight", "Europe/Berlin", "sat 22:00-02:30", "2025-03-29 00:00", "21:00-Mar 30 01:00"},
		// Fall back: a window ending at 02:30 ends at the first 02:30 (CEST,
		// 00:30 UTC) and does not come back in the repeated hour.
		{"berlin fall crossing midnight", "Europe/Berlin", "sat 22:00-02:30", "2025-10-25 00:00", "20:00-Oct 26 00:30"},
		{"berlin fall 02-0230", "Europe/Berlin", "sun 02:00-02:30", "2025-10-26 00:00", "00:00-00:30"},
		// A window starting in the repeated hour starts at its first occurrence
		// and lasts until the first 04:00: three hours that night.
		{"berlin fall 0230-04", "Europe/Berlin", "sun 02:30-04:00", "2025-10-26 00:00", "00:30-03:00"},
		{"new york spring 02-03", "America/New_York", "sun 02:00-03:00", "2025-03-08 00:00", ""},
		{"new york spring 0130-0230", "America/New_York", "sun 01:30-02:30", "2025-03-09 00:00", "06:30-07:00"},
		// 22:00 EDT to 02:30 EST: 5.5 hours (02:30 exists once, after the
		// repeated hour).
		{"new york fall crossing midnight", "America/New_York", "sat 22:00-02:30", "2025-11-01 00:00", "Nov 2 02:00-Nov 2 07:30"},
		// 01:00-01:30 happens twice that night; the window is armed the first time.
		{"new york fall 01-0130", "America/New_York", "sun 01:00-01:30", "2025-11-02 00:00", "05:00-05:30"},
		{"new york fall 01-0130 daily", "America/New_York", "01:00-01:30", "2025-11-01 00:00", "05:00-05:30 Nov 2 05:00-Nov 2 05:30 Nov 3 06:00-Nov 3 06:30"},
		// An ordinary week for comparison: working hours in summer time.
		{"berlin office", "Europe/Berlin", "mon-fri 08:00-17:30", "2025-06-06 00:00", "06:00-15:30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustSchedule(t, mustLoc(t, c.zone), c.spec)
			from := utc(c.from)
			if got := armedSpans(t, s, from, from.Add(72*time.Hour)); got != c.want {
				t.Errorf("armed (UTC) %q, want %q", got, c.want)
			}
		})
	}
}

func TestScheduleWeek(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	s := mustSchedule(t, berlin, "mon-fri 08:00-17:30", "sat,sun 10:00-12:00", "fri-mon 22:00-06:00")
	for _, c := range []struct {
		local string // Europe/Berlin wall clock; 2025-06-02 is a Monday
		armed bool
		next  string
	}{
		{"2025-06-02 07:59", false, "2025-06-02 08:00"},
		{"2025-06-02 08:00", true, "2025-06-02 17:30"},
		{"2025-06-02 17:30", false, "2025-06-02 22:00"}, // mon 22:00 (fri-mon wraps)
		{"2025-06-03 05:00", true, "2025-06-03 06:00"},  // mon 22:00-tue 06:00
		{"2025-06-03 06:00", false, "2025-06-03 08:00"},
		{"2025-06-03 22:00", false, "2025-06-04 08:00"}, // tue night is not in fri-mon
		{"2025-06-06 17:29", true, "2025-06-06 17:30"},
		{"2025-06-07 09:00", false, "2025-06-07 10:00"}, // sat: fri 22-06, then 10-12
		{"2025-06-07 11:00", true, "2025-06-07 12:00"},
	} {
		tm, err := time.ParseInLocation("2006-01-02 15:04", c.local, berlin)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := time.ParseInLocation("2006-01-02 15:04", c.next, berlin)
		if got := s.Armed(tm); got != c.armed {
			t.Errorf("Armed(%s) = %v", c.local, got)
		}
		if got := s.Next(tm); !got.Equal(want) {
			t.Errorf("Next(%s) = %s, want %s", c.local, got.In(berlin).Format("2006-01-02 15:04"), c.next)
		}
	}
	// Fri 22:00 runs to Sat 06:00.
	fri, _ := time.ParseInLocation("2006-01-02 15:04", "2025-06-06 23:00", berlin)
	sat, _ := time.ParseInLocation("2006-01-02 15:04", "2025-06-07 06:00", berlin)
	if got := s.Next(fri); !got.Equal(sat) {
		t.Errorf("Next(fri 23:00) = %s, want sat 06:00", got.In(berlin))
	}
}

func TestScheduleAlways(t *testing.T) {
	now := utc("2025-06-02 12:00")
	for _, c := range []struct {
		name string
		s    *Schedule
	}{
		{"nil", nil},
		{"no windows", mustSchedule(t, time.UTC)},
		{"all day", mustSchedule(t, mustLoc(t, "Europe/Berlin"), "daily 00:00-24:00")},
		{"all days joined", mustSchedule(t, mustLoc(t, "America/New_York"), "mon-thu 00:00-24:00", "fri-sun 00:00-24:00")},
		{"overnight joined", mustSchedule(t, time.UTC, "12:00-00:00", "00:00-12:00")},
	} {
		for _, tt := range []time.Time{now, utc("2025-03-09 06:59"), utc("2025-11-02 06:30")} {
			if !c.s.Armed(tt) {
				t.Errorf("%s: not armed at %s", c.name, tt)
			}
			if got := c.s.Next(tt); !got.IsZero() {
				t.Errorf("%s: Next(%s) = %s, want never", c.name, tt, got)
			}
		}
	}
}

func TestParseSchedule(t *testing.T) {
	for _, c := range []struct {
		spec string
		err  string // "" valid
	}{
		{"mon-fri 08:00-17:30", ""},
		{"Sat,Sun 00:00-24:00", ""},
		{"22:00-06:00", ""},
		{"monday,wed-fri 7:00-9:00,17:00-23:00", ""},
		{"weekdays 09:00-17:00", ""},
		{"weekends 00:00-24:00", ""},
		{"daily 23:00-00:00", ""},
		{"fri-mon 22:00-06:00", ""},
		{"", `schedule[0] "": want "[days] HH:MM-HH:MM", e.g. "mon-fri 08:00-17:30", "sat,sun 00:00-24:00" or "22:00-06:00"`},
		{"mon fri 08:00-09:00", `schedule[0] "mon fri 08:00-09:00": want "[days] HH:MM-HH:MM", e.g. "mon-fri 08:00-17:30", "sat,sun 00:00-24:00" or "22:00-06:00"`},
		{"mon-fry 08:00-17:00", `schedule[0] "mon-fry 08:00-17:00": unknown day "fry" (want mon, tue, wed, thu, fri, sat, sun)`},
		{"mo 08:00-17:00", `schedule[0] "mo 08:00-17:00": unknown day "mo" (want mon, tue, wed, thu, fri, sat, sun, a range like mon-fri, a list like sat,sun, or daily, weekdays, weekends)`},
		{"mon, 08:00-17:00", `schedule[0] "mon, 08:00-17:00": days "mon,": a day is missing`},
		{"mon- 08:00-17:00", `schedule[0] "mon- 08:00-17:00": days "mon-": a day is missing`},
		{"mon 8-17", `schedule[0] "mon 8-17": time "8": want HH:MM from 00:00 to 24:00`},
		{"mon 08:00", `schedule[0] "mon 08:00": want "[days] HH:MM-HH:MM", e.g. "mon-fri 08:00-17:30", "sat,sun 00:00-24:00" or "22:00-06:00"`},
		{"mon 25:00-26:00", `schedule[0] "mon 25:00-26:00": time "25:00": want HH:MM from 00:00 to 24:00`},
		{"mon 08:60-09:00", `schedule[0] "mon 08:60-09:00": time "08:60": want HH:MM from 00:00 to 24:00`},
		{"mon 24:30-09:00", `schedule[0] "mon 24:30-09:00": time "24:30": want HH:MM from 00:00 to 24:00`},
		{"mon 24:00-09:00", `schedule[0] "mon 24:00-09:00": start "24:00": a window starts at 23:59 at the latest (00:00 is the next day's start)`},
		{"mon 08:00-08:00", `schedule[0] "mon 08:00-08:00": "08:00-08:00": start and end are the same; all day is 00:00-24:00`},
		{"mon 00:00-00:00", `schedule[0] "mon 00:00-00:00": "00:00-00:00": start and end are the same; all day is 00:00-24:00`},
		{"mon 08:00-9:0", `schedule[0] "mon 08:00-9:0": time "9:0": want HH:MM from 00:00 to 24:00`},
	} {
		_, err := ParseSchedule([]string{c.spec}, time.UTC)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%q:\n got %s\nwant %s", c.spec, got, c.err)
		}
	}
	// The index names the bad one.
	_, err := ParseSchedule([]string{"mon 08:00-09:00", "tue 9-10"}, time.UTC)
	if err == nil || !strings.HasPrefix(err.Error(), `schedule[1] "tue 9-10": `) {
		t.Errorf("got %v", err)
	}
}

func ExampleSchedule() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s, _ := ParseSchedule([]string{"mon-fri 08:00-17:30"}, berlin)
	now := time.Date(2025, 6, 6, 16, 0, 0, 0, berlin) // a Friday
	fmt.Println(s.Armed(now), s.Next(now).Format("Mon 15:04"), s.Next(s.Next(now)).Format("Mon 15:04"))
	// Output: true Fri 17:30 Mon 08:00
}
