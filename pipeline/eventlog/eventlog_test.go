package eventlog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

var t0 = time.Date(2026, 12, 8, 14, 20, 3, 123e6, time.UTC)

func open(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLifecycle: an event is begun with a snapshot, updated with a better
// one, ended; a reopened catalogue has it as it was; delete removes both
// files.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	id, err := l.Begin("door", Event{Start: t0, End: t0, Peak: 1, Zones: []string{"path"}}, []byte("jpeg1"))
	if err != nil {
		t.Fatal(err)
	}
	if id != "door-20261208T142003.123Z" {
		t.Errorf("id %q", id)
	}
	e, _ := l.Get(id)
	if !e.Open || !e.Snapshot || e.Camera != "door" {
		t.Errorf("begun event %+v: want open, with a snapshot, of door", e)
	}
	if err := l.Update(Event{ID: id, Open: true, Start: t0, End: t0.Add(3 * time.Second), Peak: 4, Zones: []string{"path"}}, []byte("jpeg2")); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(id); !errors.Is(err, defs.ErrConflict) {
		t.Errorf("deleting an open event: %v, want a conflict", err)
	}
	if err := l.Update(Event{ID: id, Start: t0, End: t0.Add(4 * time.Second), Peak: 4, Zones: []string{"path"}}, nil); err != nil {
		t.Fatal(err)
	}
	l2 := open(t, dir)
	e, err = l2.Get(id)
	if err != nil || e.Open || e.Peak != 4 || e.Duration() != 4*time.Second || !e.Snapshot {
		t.Fatalf("reopened: %+v, %v", e, err)
	}
	if b, err := l2.Snapshot(id); err != nil || !bytes.Equal(b, []byte("jpeg2")) {
		t.Errorf("snapshot %q, %v; want the second", b, err)
	}
	if err := l2.Delete(id); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(filepath.Join(dir, "door"))
	if len(left) != 0 {
		t.Errorf("files left after delete: %v", left)
	}
	if _, err := l2.Get(id); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("deleted event: %v", err)
	}
}

// TestInterruptedEventIsClosed: an event open when camrec stopped is
// closed, at its last known motion, when the catalogue is reopened.
func TestInterruptedEventIsClosed(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	id, _ := l.Begin("door", Event{Start: t0, End: t0.Add(time.Second)}, nil)
	e, _ := open(t, dir).Get(id)
	if e.Open || !e.End.Equal(t0.Add(time.Second)) || e.Snapshot {
		t.Errorf("reopened %+v: want closed at its last motion, without a snapshot", e)
	}
}

// TestListFilters: by camera, by time (overlap), newest first, limited;
// two events starting in the same millisecond get distinct ids.
func TestListFilters(t *testing.T) {
	l := open(t, t.TempDir())
	for i := range 5 {
		start := t0.Add(time.Duration(i) * time.Minute)
		if _, err := l.Begin("a", Event{Start: start, End: start.Add(10 * time.Second)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	idB, _ := l.Begin("b", Event{Start: t0, End: t0}, nil)
	idB2, _ := l.Begin("b", Event{Start: t0, End: t0}, nil)
	if idB == idB2 || idB2 != idB+"-2" {
		t.Errorf("same-millisecond ids %q and %q", idB, idB2)
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 7},
		{"camera a", Filter{Cameras: []string{"a"}}, 5},
		{"no camera", Filter{Cameras: []string{}}, 0},
		{"from overlaps", Filter{Cameras: []string{"a"}, From: t0.Add(2*time.Minute + 5*time.Second)}, 3},
		{"to excludes a start at to", Filter{Cameras: []string{"a"}, To: t0.Add(2 * time.Minute)}, 2},
		{"limit", Filter{Limit: 2}, 2},
	} {
		got := l.List(tc.f)
		if len(got) != tc.want {
			t.Errorf("%s: %d events, want %d", tc.name, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Start.After(got[i-1].Start) {
				t.Errorf("%s: not newest first: %v after %v", tc.name, got[i].Start, got[i-1].Start)
			}
		}
	}
}

// TestIDsCannotNameOtherFiles: ids with path tricks are not found, and
// nothing outside the catalogue is touched.
func TestIDsCannotNameOtherFiles(t *testing.T) {
	dir := t.TempDir()
	l := open(t, filepath.Join(dir, ".events"))
	outside := filepath.Join(dir, "keep.json")
	if err := os.WriteFile(outside, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../keep", "door-20261208T142003.123Z/../../keep", "", ".json", "door/x", "door-20261208T142003.123Z\x00"} {
		if _, err := l.Get(id); !errors.Is(err, defs.ErrNotFound) {
			t.Errorf("Get(%q): %v", id, err)
		}
		if err := l.Delete(id); !errors.Is(err, defs.ErrNotFound) {
			t.Errorf("Delete(%q): %v", id, err)
		}
		if _, err := l.SnapshotPath(id); !errors.Is(err, defs.ErrNotFound) {
			t.Errorf("SnapshotPath(%q): %v", id, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a file outside the catalogue is gone: %v", err)
	}
}

// TestPrune: closed events older than keep go, and the oldest beyond the
// count; open events stay whatever their age.
func TestPrune(t *testing.T) {
	l := open(t, t.TempDir())
	now := t0.Add(48 * time.Hour)
	old, _ := l.Begin("a", Event{Start: t0, End: t0}, []byte("x"))
	_ = l.Update(Event{ID: old, Start: t0, End: t0}, nil)
	openOld, _ := l.Begin("a", Event{Start: t0.Add(time.Second), End: t0.Add(time.Second)}, nil)
	var recent []string
	for i := range 3 {
		s := now.Add(-time.Duration(3-i) * time.Hour)
		id, _ := l.Begin("a", Event{Start: s, End: s}, nil)
		_ = l.Update(Event{ID: id, Start: s, End: s}, nil)
		recent = append(recent, id)
	}
	if n := l.Prune("a", now, 24*time.Hour, 2); n != 2 {
		t.Errorf("pruned %d, want 2 (the old one, and the oldest recent beyond 2)", n)
	}
	for _, id := range []string{old, recent[0]} {
		if _, err := l.Get(id); err == nil {
			t.Errorf("%s survived", id)
		}
	}
	for _, id := range []string{openOld, recent[1], recent[2]} {
		if _, err := l.Get(id); err != nil {
			t.Errorf("%s pruned: %v", id, err)
		}
	}
}

// TestFilesAreNotWorldReadable: the catalogue's files are 0640, its
// directories 0750.
func TestFilesAreNotWorldReadable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".events")
	l := open(t, dir)
	id, _ := l.Begin("a", Event{Start: t0, End: t0}, []byte("x"))
	for _, p := range []string{dir, filepath.Join(dir, "a"), filepath.Join(dir, "a", id+".json"), filepath.Join(dir, "a", id+".jpg")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s: mode %v, world-accessible", p, fi.Mode().Perm())
		}
	}
}
