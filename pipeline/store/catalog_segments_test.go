package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
)

// linkedSegments writes three 1 s segments of one recording of cam0 under
// root (real MP4s, from the fixture), linked by their sidecars, and returns
// their IDs, oldest first. The oldest is still a fragmented MP4 (camrec was
// stopped before remuxing it).
func linkedSegments(t *testing.T, root string) []string {
	t.Helper()
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.Local)
	var ids []string
	for i := range 3 {
		ids = append(ids, "cam0-"+start.Add(time.Duration(i)*time.Second).Format("20060102-150405")+".mp4")
	}
	for i, id := range ids {
		path := filepath.Join(root, "cam0", id)
		copyFixture(t, "recorder_1s.mp4", path)
		started := start.Add(time.Duration(i) * time.Second)
		ended := started.Add(time.Second)
		s := Sidecar{StartedAt: started, EndedAt: &ended, State: RecStateComplete, Codec: "h264",
			Container: "mp4", Width: 160, Height: 120, Frames: 30, FPS: 30, DurationS: 1, Fragmented: i == 0}
		if i > 0 {
			s.PrevID = ids[i-1]
		}
		if i < len(ids)-1 {
			s.NextID = ids[i+1]
		}
		putSidecar(t, path, s)
	}
	return ids
}

// linksOf returns the prev and next IDs of every recording, as the catalogue
// lists them.
func linksOf(cat *Catalog) map[string][2]string {
	out := map[string][2]string{}
	for _, r := range cat.List("") {
		out[r.ID] = [2]string{r.PrevID, r.NextID}
	}
	return out
}

// TestCatalogDeleteUnlinksNeighbours: deleting a segment of a recording,
// through Delete or by retention, clears its neighbours' links to it, in the
// catalogue and in their sidecars, so that neither points at a 404. The gap
// is not bridged: the segments left are not contiguous. A file moved away
// (a hook) or removed by hand leaves the catalogue, with its links, when the
// catalogue is next asked, or at the next Scan.
func TestCatalogDeleteUnlinksNeighbours(t *testing.T) {
	tests := []struct {
		name string
		// del deletes one of ids (oldest first) and returns its index.
		del func(t *testing.T, cat *Catalog, ids []string) int
	}{
		{"Delete the middle one", func(t *testing.T, cat *Catalog, ids []string) int {
			if err := cat.Delete(ids[1]); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
		{"retention deletes the middle one", func(t *testing.T, cat *Catalog, ids []string) int {
			// The oldest is being remuxed (as at start-up): retention never
			// takes it, so the middle one is the oldest it may delete.
			if !cat.BeginRemux(ids[0]) {
				t.Fatal("beginRemux of the fragmented MP4: want true")
			}
			total := int64(0)
			for _, r := range cat.List("cam0") {
				total += r.Bytes
			}
			pruned, err := cat.Prune("cam0", Retention{MaxDisk: total - 1}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(pruned) != 1 || pruned[0].Recording.ID != ids[1] {
				t.Fatalf("retention deleted %+v, want only %s", pruned, ids[1])
			}
			return 1
		}},
		{"retention deletes the oldest one", func(t *testing.T, cat *Catalog, ids []string) int {
			pruned, err := cat.Prune("cam0", Retention{Keep: time.Hour}, time.Date(2026, 1, 2, 11, 0, 1, 500e6, time.Local))
			if err != nil {
				t.Fatal(err)
			}
			if len(pruned) != 1 || pruned[0].Recording.ID != ids[0] {
				t.Fatalf("retention deleted %+v, want only %s", pruned, ids[0])
			}
			return 0
		}},
		{"moved away by a hook, no rescan", func(t *testing.T, cat *Catalog, ids []string) int {
			// on_recording_end: mv "$CAMREC_FILE" elsewhere. The sidecar
			// stays behind; the catalogue notices when next asked.
			path := filepath.Join(cat.Dir(), "cam0", ids[1])
			if err := os.Rename(path, filepath.Join(t.TempDir(), ids[1])); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
		{"removed by hand", func(t *testing.T, cat *Catalog, ids []string) int {
			path := filepath.Join(cat.Dir(), "cam0", ids[1])
			for _, p := range []string{path, SidecarPath(path)} {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := cat.Scan(context.Background()); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			ids := linkedSegments(t, root)
			cat := NewCatalog(root, "", testutil.Logger(t))
			if err := cat.Scan(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := linksOf(cat); got[ids[1]] != [2]string{ids[0], ids[2]} {
				t.Fatalf("before: links %v", got)
			}
			gone := tt.del(t, cat, ids)

			// What is left: the links between kept neighbours stay, those
			// to the deleted one are cleared; nothing is bridged.
			want := map[string][2]string{}
			for i, id := range ids {
				if i == gone {
					continue
				}
				var l [2]string
				if i > 0 && i-1 != gone {
					l[0] = ids[i-1]
				}
				if i < len(ids)-1 && i+1 != gone {
					l[1] = ids[i+1]
				}
				want[id] = l
			}
			check := func(t *testing.T, cat *Catalog, when string) {
				t.Helper()
				got := linksOf(cat)
				if len(got) != len(want) {
					t.Errorf("%s: recordings %v, want %v", when, got, want)
				}
				for id, l := range want {
					if got[id] != l {
						t.Errorf("%s: %s listed with prev, next = %q, want %q", when, id, got[id], l)
					}
					rec, err := cat.Get(id)
					if err != nil || rec.PrevID != l[0] || rec.NextID != l[1] {
						t.Errorf("%s: Get(%s) = prev %q next %q (%v), want %q", when, id, rec.PrevID, rec.NextID, err, l)
					}
					s, err := ReadSidecar(SidecarPath(filepath.Join(root, "cam0", id)))
					if err != nil || s.PrevID != l[0] || s.NextID != l[1] {
						t.Errorf("%s: sidecar of %s: prev %q next %q (%v), want %q", when, id, s.PrevID, s.NextID, err, l)
					}
				}
				if _, err := cat.Get(ids[gone]); !errors.Is(err, defs.ErrNotFound) {
					t.Errorf("%s: Get of the deleted one = %v, want ErrNotFound", when, err)
				}
			}
			check(t, cat, "after the delete")

			fresh := NewCatalog(root, "", testutil.Logger(t))
			if err := fresh.Scan(context.Background()); err != nil {
				t.Fatal(err)
			}
			check(t, fresh, "after a fresh scan")
		})
	}
}

// TestCatalogLinkToDeletedSegment: the recorder's own links never name a
// recording deleted meanwhile, even when the delete comes between the Put of
// the next segment and its Link, or before the next segment is Put again.
func TestCatalogLinkToDeletedSegment(t *testing.T) {
	root := t.TempDir()
	cat := NewCatalog(root, "", testutil.Logger(t))
	now := time.Now()
	reserve := func(at time.Time) (string, string) {
		id, path, err := cat.Reserve("cam0", "mkv", at)
		if err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, path, "video")
		return id, path
	}
	prev, prevPath := reserve(now)
	ended := now.Add(time.Second)
	if err := cat.Put("cam0", prev, prevPath, Sidecar{StartedAt: now, EndedAt: &ended, State: RecStateFailed, Container: "mkv"}, 5); err != nil {
		t.Fatal(err)
	}
	// The recorder restarts ffmpeg into a new file continuing prev, and the
	// user deletes prev before it is linked to the new one.
	next, nextPath := reserve(ended)
	if err := cat.Put("cam0", next, nextPath, Sidecar{StartedAt: ended, State: RecStateRecording, Container: "mkv", PrevID: prev}, 0); err != nil {
		t.Fatal(err)
	}
	if err := cat.Delete(prev); err != nil {
		t.Fatal(err)
	}
	if err := cat.Link(prev, next); err != nil {
		t.Fatal(err)
	}
	if rec, _ := cat.Get(next); rec.PrevID != "" {
		t.Errorf("after link to a deleted file: prev_id %q", rec.PrevID)
	}
	// The next segment ends; the recorder puts it with the prev it knew.
	end2 := ended.Add(time.Second)
	if err := cat.Put("cam0", next, nextPath, Sidecar{StartedAt: ended, EndedAt: &end2, State: RecStateComplete, Container: "mkv", PrevID: prev}, 5); err != nil {
		t.Fatal(err)
	}
	if rec, _ := cat.Get(next); rec.PrevID != "" {
		t.Errorf("after put naming a deleted file: prev_id %q", rec.PrevID)
	}
	if s, err := ReadSidecar(SidecarPath(nextPath)); err != nil || s.PrevID != "" {
		t.Errorf("sidecar: prev_id %q (%v)", s.PrevID, err)
	}

	// A file that never got a frame is forgotten: its predecessor no longer
	// points at it.
	empty, emptyPath := reserve(end2)
	if err := cat.Put("cam0", empty, emptyPath, Sidecar{StartedAt: end2, State: RecStateRecording, Container: "mkv", PrevID: next}, 0); err != nil {
		t.Fatal(err)
	}
	if err := cat.Link(next, empty); err != nil {
		t.Fatal(err)
	}
	if rec, _ := cat.Get(next); rec.NextID != empty {
		t.Fatalf("link: next_id %q, want %q", rec.NextID, empty)
	}
	cat.Forget(empty, emptyPath)
	if rec, _ := cat.Get(next); rec.NextID != "" {
		t.Errorf("after forget: next_id %q", rec.NextID)
	}
	if s, err := ReadSidecar(SidecarPath(nextPath)); err != nil || s.NextID != "" {
		t.Errorf("sidecar after forget: next_id %q (%v)", s.NextID, err)
	}
}
