// This file holds the catalogue's side of uploads to S3-compatible storage:
// which files are pending (the sidecar is the persistent queue), marking one
// uploaded, and deleting the local copy of an uploaded one.

package store

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// Pending is a finished recording waiting for its upload.
type Pending struct {
	ID, Camera string
	Path       string // the recording's file
	Sidecar    string // its sidecar's path
}

// Changes is signalled when a file is finished or remuxed, i.e. when a
// recording may have become ready for upload. It holds at most one signal:
// a receiver looks at PendingUploads again after each.
func (c *Catalog) Changes() <-chan struct{} { return c.changed }

// signalLocked signals Changes without blocking.
func (c *Catalog) signalLocked() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// readyForUpload reports whether e's file is finished, in its final form
// and not yet uploaded. Complete, failed and interrupted files all qualify
// (a failed one holds what was recorded); a file still to be remuxed waits
// for its remux, so that what is uploaded is what stays on disk, unless
// the remux failed: then it goes as it was recorded.
func (e *entry) readyForUpload() bool {
	return e.meta.State != RecStateRecording && !e.busy && (!e.meta.needsRemux() || e.remuxFailed) &&
		e.meta.UploadedAt == nil && !e.meta.RemoteOnly
}

// PendingUploads lists camera's recordings ready for upload, oldest first.
func (c *Catalog) PendingUploads(camera string) []Pending {
	c.mu.Lock()
	c.reconcileLocked(camera)
	var ready []*entry
	for _, e := range c.entries {
		if e.camera == camera && e.readyForUpload() {
			ready = append(ready, e)
		}
	}
	slices.SortFunc(ready, func(a, b *entry) int {
		if c := a.meta.StartedAt.Compare(b.meta.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]Pending, 0, len(ready))
	for _, e := range ready {
		out = append(out, Pending{ID: e.id, Camera: e.camera, Path: e.path, Sidecar: SidecarPath(e.path)})
	}
	c.mu.Unlock()
	return out
}

// NotUploaded counts camera's finished recordings not yet uploaded,
// including those still awaiting a remux.
func (c *Catalog) NotUploaded(camera string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconcileLocked(camera)
	n := 0
	for _, e := range c.entries {
		if e.camera == camera && e.meta.State != RecStateRecording && e.meta.UploadedAt == nil && !e.meta.RemoteOnly {
			n++
		}
	}
	return n
}

// MarkUploaded records that recording id, whose file had size bytes, was
// uploaded and verified at url. It fails with ErrConflict when the file
// changed meanwhile (it is then uploaded again) and ErrNotFound when the
// recording is gone.
func (c *Catalog) MarkUploaded(id string, size int64, at time.Time, url string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.lookupLocked(id)
	if err != nil {
		return err
	}
	st, err := os.Stat(e.path)
	if err != nil || st.Size() != size || !e.readyForUpload() {
		return fmt.Errorf("recording %s changed during its upload: %w", id, defs.ErrConflict)
	}
	at = at.UTC()
	e.meta.UploadedAt, e.meta.RemoteURL, e.meta.UploadedBytes = &at, url, size
	return WriteSidecar(SidecarPath(e.path), e.meta)
}

// UploadedBefore lists camera's recordings uploaded before t whose local
// file is still there.
func (c *Catalog) UploadedBefore(camera string, t time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconcileLocked(camera)
	var out []string
	for _, e := range c.entries {
		if e.camera == camera && e.meta.UploadedAt != nil && !e.meta.RemoteOnly && e.meta.UploadedAt.Before(t) && !e.busy {
			out = append(out, e.id)
		}
	}
	return out
}

// DropLocal deletes the local file of an uploaded recording and keeps its
// sidecar, marked RemoteOnly: the recording stays listed and is played
// from the bucket. A recording not uploaded is ErrConflict.
func (c *Catalog) DropLocal(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.lookupLocked(id)
	if err != nil {
		return err
	}
	if e.meta.UploadedAt == nil || e.busy {
		return fmt.Errorf("recording %s is not uploaded: %w", id, defs.ErrConflict)
	}
	if e.meta.RemoteOnly {
		return nil
	}
	e.meta.RemoteOnly = true
	if err := WriteSidecar(SidecarPath(e.path), e.meta); err != nil {
		e.meta.RemoteOnly = false
		return err
	}
	if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete local copy of %s: %w", id, err)
	}
	e.bytes = e.meta.UploadedBytes
	c.log.Info("local copy deleted after upload", "camera", e.camera, "recording_id", id)
	return nil
}
