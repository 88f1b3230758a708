package detect

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/motion"
)

func newStage(t *testing.T, m motion.Config, state *StateFile) *Stage {
	t.Helper()
	s, err := New(Config{Camera: "door", Motion: m, Location: time.UTC, State: state}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openState(t *testing.T, path string) *StateFile {
	t.Helper()
	f, err := OpenState(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestArmingOverrideHoldsUntilTheScheduleChanges, on virtual time (the
// bubble starts on Saturday 2000-01-01 00:00 UTC): with a weekday
// schedule the camera is disarmed; a user's arm holds until the
// schedule's next change (Monday 08:00), survives a restart through the
// state file, and then the schedule rules again; nil follows it at once.
func TestArmingOverrideHoldsUntilTheScheduleChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "motion.json")
		m := motion.Config{Enabled: true, Schedule: []string{"mon-fri 08:00-17:00"}}
		s := newStage(t, m, openState(t, path))
		if st := s.Status(); st.Armed || st.ArmedBy != "schedule" {
			t.Fatalf("Saturday: %v by %s, want disarmed by the schedule", st.Armed, st.ArmedBy)
		}
		armed := true
		if err := s.SetArmed(&armed); err != nil {
			t.Fatal(err)
		}
		monday8 := time.Date(2000, 1, 3, 8, 0, 0, 0, time.UTC)
		st := s.Status()
		if !st.Armed || st.ArmedBy != "user" || st.Override == nil || !*st.Override || !st.OverrideUntil.Equal(monday8) {
			t.Fatalf("after arming: %+v, want armed by the user until %v", st, monday8)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o007 != 0 {
			t.Fatalf("state file: %v %v", fi, err)
		}
		restarted := newStage(t, m, openState(t, path))
		if st := restarted.Status(); !st.Armed || st.ArmedBy != "user" {
			t.Errorf("after a restart: %v by %s, want armed by the user", st.Armed, st.ArmedBy)
		}
		time.Sleep(monday8.Add(time.Hour).Sub(time.Now()))
		if st := s.Status(); !st.Armed || st.ArmedBy != "schedule" || st.Override != nil {
			t.Errorf("Monday 09:00: %+v, want armed by the schedule, no override", st)
		}
		time.Sleep(9 * time.Hour) // Monday 18:00
		off := false
		if err := s.SetArmed(&off); err != nil {
			t.Fatal(err)
		}
		if err := s.SetArmed(nil); err != nil {
			t.Fatal(err)
		}
		if st := s.Status(); st.Armed || st.ArmedBy != "schedule" {
			t.Errorf("following the schedule on Monday 18:00: %v by %s", st.Armed, st.ArmedBy)
		}
	})
}

// TestDisarmWithoutScheduleHoldsUntilChanged: without a schedule a
// disarm has no end.
func TestDisarmWithoutScheduleHoldsUntilChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStage(t, motion.Config{Enabled: true}, nil)
		if st := s.Status(); !st.Armed || st.ArmedBy != "always" {
			t.Fatalf("%+v", st)
		}
		off := false
		if err := s.SetArmed(&off); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * 24 * time.Hour)
		if st := s.Status(); st.Armed || st.ArmedBy != "user" || !st.OverrideUntil.IsZero() {
			t.Errorf("a year later: %+v, want still disarmed by the user", st)
		}
	})
}

// TestAreasAreCheckedAppliedAndKept: bad polygons are refused naming
// them (ErrInvalid) and change nothing; good ones are in the status at
// once, bump the detector's generation, and survive a restart; a camera
// without motion detection refuses both settings.
func TestAreasAreCheckedAppliedAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "motion.json")
	m := motion.Config{Enabled: true, Masks: []motion.Polygon{{{X: 0, Y: 0}, {X: 0.1, Y: 0}, {X: 0.1, Y: 0.1}}}}
	s := newStage(t, m, openState(t, path))
	_, gen0 := s.motionConfig()
	for _, tc := range []struct {
		name  string
		masks []motion.Polygon
		zones []motion.Zone
		want  string
	}{
		{"two points", []motion.Polygon{{{X: 0, Y: 0}, {X: 1, Y: 1}}}, nil, "masks[0]"},
		{"outside", []motion.Polygon{{{X: 0, Y: 0}, {X: 1.5, Y: 0}, {X: 1, Y: 1}}}, nil, "masks[0]"},
		{"bad zone name", nil, []motion.Zone{{Name: "Front Door", Polygon: motion.Polygon{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}}}}, "zones[0]"},
	} {
		err := s.SetAreas(tc.masks, tc.zones)
		if !errors.Is(err, defs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", tc.name, err, tc.want)
		}
	}
	if st := s.Status(); len(st.Masks) != 1 || len(st.Zones) != 0 {
		t.Fatalf("refused changes changed the areas: %+v %+v", st.Masks, st.Zones)
	}
	zones := []motion.Zone{{Name: "path", Polygon: motion.Polygon{{X: 0, Y: 0.5}, {X: 1, Y: 0.5}, {X: 1, Y: 1}}}}
	if err := s.SetAreas(nil, zones); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if len(st.Masks) != 1 || len(st.Zones) != 1 || st.Zones[0].Name != "path" {
		t.Errorf("after setting zones: masks %v zones %v, want the config's mask and the zone", st.Masks, st.Zones)
	}
	if _, gen := s.motionConfig(); gen == gen0 {
		t.Error("the detector's generation did not change: it would not be rebuilt")
	}
	if err := s.SetAreas([]motion.Polygon{}, nil); err != nil {
		t.Fatal(err)
	}
	restarted := newStage(t, m, openState(t, path))
	if st := restarted.Status(); len(st.Masks) != 0 || len(st.Zones) != 1 {
		t.Errorf("after a restart: masks %v zones %v, want none and the zone", st.Masks, st.Zones)
	}

	off := newStage(t, motion.Config{}, nil)
	if err := off.SetAreas(nil, zones); !errors.Is(err, ErrDisabled) {
		t.Errorf("SetAreas without detection: %v", err)
	}
	if err := off.SetArmed(nil); !errors.Is(err, ErrDisabled) {
		t.Errorf("SetArmed without detection: %v", err)
	}
}

// TestUnreadableStateIsMovedAside: a corrupt state file does not stop
// camrec; it is moved to .bad and the cameras start from their config.
func TestUnreadableStateIsMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "motion.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	f := openState(t, path)
	if st := f.Get("door"); st.Armed != nil || st.Masks != nil {
		t.Errorf("state from a corrupt file: %+v", st)
	}
	if b, err := os.ReadFile(path + ".bad"); err != nil || string(b) != "{not json" {
		t.Errorf("the corrupt file was not kept aside: %q %v", b, err)
	}
}
