package store

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
)

// Retention never deletes the only copy of a recording waiting for its
// upload; once uploaded, it may go.
func TestPruneHoldsPendingUploads(t *testing.T) {
	cat, now, ids := retentionDir(t)
	p := Retention{Keep: 30 * 60e9, HoldForUpload: true} // 30 min: all finished ones are older
	pruned, err := cat.Prune("cam0", p, now)
	if err != nil || len(pruned) != 0 {
		t.Fatalf("pruned %v, %v; want nothing (all pending upload)", pruned, err)
	}
	rec, _ := cat.Get(ids[0])
	if err := cat.MarkUploaded(ids[0], rec.Bytes, now, "http://s3/b/cam0/"+ids[0]); err != nil {
		t.Fatal(err)
	}
	pruned, err = cat.Prune("cam0", p, now)
	if err != nil || len(pruned) != 1 || pruned[0].Recording.ID != ids[0] {
		t.Fatalf("pruned %v, %v; want only the uploaded %s", pruned, err, ids[0])
	}
}

// The pending list is the queue: finished, final files not yet uploaded,
// oldest first; an uploaded one whose local copy is dropped stays listed
// (remote-only) across a rescan.
func TestPendingUploadsAndDropLocal(t *testing.T) {
	cat, now, ids := retentionDir(t)
	var got []string
	for _, p := range cat.PendingUploads("cam0") {
		got = append(got, p.ID)
	}
	if want := ids[:5]; !slices.Equal(got, want) {
		t.Fatalf("pending %v, want %v (not the one in progress)", got, want)
	}
	if err := cat.DropLocal(ids[1]); !errors.Is(err, defs.ErrConflict) {
		t.Fatalf("DropLocal of a file not uploaded: %v, want ErrConflict", err)
	}
	rec, _ := cat.Get(ids[1])
	if err := cat.MarkUploaded(ids[1], rec.Bytes+1, now, "u"); !errors.Is(err, defs.ErrConflict) {
		t.Fatalf("MarkUploaded with another size: %v, want ErrConflict", err)
	}
	if err := cat.MarkUploaded(ids[1], rec.Bytes, now, "http://s3/b/k"); err != nil {
		t.Fatal(err)
	}
	if n := cat.NotUploaded("cam0"); n != 4 {
		t.Errorf("NotUploaded = %d, want 4", n)
	}
	if got := cat.UploadedBefore("cam0", now); len(got) != 0 {
		t.Errorf("UploadedBefore(now) = %v, want none", got)
	}
	if got := cat.UploadedBefore("cam0", now.Add(1)); !slices.Equal(got, []string{ids[1]}) {
		t.Errorf("UploadedBefore(now+) = %v", got)
	}
	if err := cat.DropLocal(ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cat.entries[ids[1]].path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local file still there: %v", err)
	}
	fresh := NewCatalog(cat.Dir(), "", testutil.Logger(t))
	if err := fresh.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := fresh.Get(ids[1])
	if err != nil || !r.RemoteOnly || r.RemoteURL != "http://s3/b/k" || r.UploadedAt == nil || r.Bytes != rec.Bytes {
		t.Fatalf("after rescan: %+v, %v", r, err)
	}
	if _, _, err := fresh.Open(ids[1]); !errors.Is(err, defs.ErrNotFound) {
		t.Errorf("Open of a remote-only recording: %v, want ErrNotFound", err)
	}
	for _, p := range fresh.PendingUploads("cam0") {
		if p.ID == ids[1] {
			t.Error("a remote-only recording is pending again")
		}
	}
	// max_disk gains nothing from a remote-only recording: it stays; the
	// others wait for their upload.
	if pruned, err := fresh.Prune("cam0", Retention{MaxDisk: 1, HoldForUpload: true}, now); err != nil || len(pruned) != 0 {
		t.Errorf("max_disk pruned %v, %v; want nothing", pruned, err)
	}
}

// A recording waits for its remux before it is uploaded; when the remux
// fails it is uploaded as it was recorded, not held forever.
func TestFailedRemuxDoesNotHoldUpload(t *testing.T) {
	cat := NewCatalog(t.TempDir(), "", testutil.Logger(t))
	id, path, err := cat.Reserve("cam0", "mp4", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, path, "fragmented")
	meta := Sidecar{StartedAt: time.Now(), State: RecStateComplete, Container: "mp4", Fragmented: true}
	if err := cat.Put("cam0", id, path, meta, 10); err != nil {
		t.Fatal(err)
	}
	pending := func() int { return len(cat.PendingUploads("cam0")) }
	if n := pending(); n != 0 {
		t.Fatalf("%d pending before the remux, want 0 (it waits for it)", n)
	}
	if !cat.BeginRemux(id) {
		t.Fatal("BeginRemux: false")
	}
	if n := pending(); n != 0 {
		t.Fatalf("%d pending during the remux, want 0", n)
	}
	if err := cat.EndRemux(id, RemuxTemp(path), errors.New("ffmpeg: invalid data")); err == nil {
		t.Fatal("EndRemux with an error returned nil")
	}
	if got := cat.PendingUploads("cam0"); len(got) != 1 || got[0].ID != id || got[0].Path != path {
		t.Fatalf("pending after a failed remux: %+v, want %s as recorded", got, id)
	}
}
