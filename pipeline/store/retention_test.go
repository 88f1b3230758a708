package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"
)

// retentionDir makes a catalogue of cam0 with five finished recordings of
// 100 kB, ended 5, 4, 3, 2 and 1 hours ago, one in progress, and one of
// cam1 ended 5 hours ago.
func retentionDir(t *testing.T) (*Catalog, time.Time, []string) {
	t.Helper()
	dir := t.TempDir()
	cat := NewCatalog(dir, "", testutil.Logger(t))
	now := time.Now()
	var ids []string
	data := string(make([]byte, 100_000))
	add := func(cam string, hoursAgo int, state string) string {
		start := now.Add(-time.Duration(hoursAgo)*time.Hour - time.Minute)
		id := cam + "-" + start.Format("20060102-150405") + ".mkv"
		path := filepath.Join(dir, cam, id)
		testutil.WriteFile(t, path, data)
		meta := Sidecar{StartedAt: start, State: state, Container: "mkv", DurationS: 60}
		if state != RecStateRecording {
			end := start.Add(time.Minute)
			meta.EndedAt = &end
		}
		if err := cat.Put(cam, id, path, meta, 100_000); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for h := 5; h >= 1; h-- {
		state := RecStateComplete
		if h == 3 {
			state = RecStateInterrupted
		}
		ids = append(ids, add("cam0", h, state))
	}
	ids = append(ids, add("cam0", 0, RecStateRecording))
	add("cam1", 5, RecStateComplete)
	return cat, now, ids
}

func TestCatalogPrune(t *testing.T) {
	free, _, err := DiskFree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		policy Retention
		// indexes into ids of what must be deleted, oldest first
		deleted []int
		reason  string
	}{
		{"off", Retention{}, nil, ""},
		{"keep 150 min", Retention{Keep: 150 * time.Minute}, []int{0, 1, 2}, "keep"},
		{"max disk 350 kB", Retention{MaxDisk: 350_000}, []int{0, 1, 2}, "max_disk"},
		{"max disk 0.5 MB", Retention{MaxDisk: 500_000}, []int{0}, "max_disk"},
		// More free space than there is: everything deletable goes, never
		// the recording in progress nor another camera's.
		{"min free unreachable", Retention{MinFreeBytes: free + 1<<40}, []int{0, 1, 2, 3, 4}, "min_free"},
		{"min free reached", Retention{MinFreePercent: 0.001}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, now, ids := retentionDir(t)
			pruned, err := cat.Prune("cam0", tt.policy, now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pruned {
				got = append(got, p.Recording.ID)
				if p.Reason != tt.reason {
					t.Errorf("%s deleted for %s, want %s", p.Recording.ID, p.Reason, tt.reason)
				}
			}
			var want []string
			for _, i := range tt.deleted {
				want = append(want, ids[i])
			}
			if !slices.Equal(got, want) {
				t.Fatalf("deleted %v, want %v", got, want)
			}
			for i, id := range ids {
				_, err := os.Stat(filepath.Join(cat.Dir(), "cam0", id))
				if gone := os.IsNotExist(err); gone != slices.Contains(tt.deleted, i) {
					t.Errorf("%s: gone=%v", id, gone)
				}
			}
			if n := len(cat.List("cam1")); n != 1 {
				t.Errorf("cam1 has %d recordings, want 1", n)
			}
			if n := len(cat.List("cam0")); n != len(ids)-len(tt.deleted) {
				t.Errorf("cam0 has %d recordings, want %d", n, len(ids)-len(tt.deleted))
			}
		})
	}
}
