// This file holds how the catalogue notices recordings whose file left
// the record dir behind camrec's back: moved away or deleted by a hook
// (on_recording_end running `mv "$CAMREC_FILE" …`), by hand, by another
// program. The catalogue is never asked to list as complete a file that
// is not there.

package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// dirCheck is what the catalogue saw of a camera folder when it last
// looked at every file in it.
type dirCheck struct {
	mtime   time.Time // the folder's modification time then
	settled bool      // the check came later than mtimeSettle after mtime
}

// mtimeSettle: a folder's modification time is taken from a clock that
// ticks every few milliseconds (the kernel's coarse clock), so a change
// made in the same tick as the one last seen would leave it unchanged. A
// check made this long after the time it read sees any later change as a
// new time; a check made sooner does not count, and the next look at the
// folder checks every file again.
const mtimeSettle = time.Second

// reconcileLocked makes the catalogue agree with the record dir about the
// files of camera ("" = every camera) that camrec finished: a file that is
// gone takes its recording out of the catalogue (its sidecar is deleted
// and its neighbours' links to it cleared, as for a deletion), unless it
// was uploaded, when the recording stays, played from the bucket as after
// delete_local_after; a file whose size changed gets its new size. A file
// being written or remuxed is left alone: camrec is working on it.
//
// It looks at a folder's files only when the folder changed since the
// last look (its modification time moves when an entry is added, removed
// or renamed), so listing costs one stat per camera while nothing
// happens. Call with c.mu held.
func (c *Catalog) reconcileLocked(camera string) {
	cams := map[string]bool{}
	if camera != "" {
		cams[camera] = true
	} else {
		for _, e := range c.entries {
			cams[e.camera] = true
		}
	}
	for cam := range cams {
		c.reconcileCameraLocked(cam)
	}
}

func (c *Catalog) reconcileCameraLocked(camera string) {
	if !ValidCameraName(camera) {
		return
	}
	dir := filepath.Join(c.dir, camera)
	var mtime time.Time
	if st, err := os.Stat(dir); err == nil {
		mtime = st.ModTime()
	}
	if seen, ok := c.dirSeen[camera]; ok && seen.settled && seen.mtime.Equal(mtime) && !mtime.IsZero() {
		return
	}
	checked := time.Now()
	for _, e := range c.entries {
		if e.camera != camera || e.meta.State == RecStateRecording || e.busy || e.meta.RemoteOnly {
			continue
		}
		st, err := os.Lstat(e.path)
		switch {
		case err == nil && st.Mode().IsRegular():
			e.bytes = st.Size()
		case errors.Is(err, fs.ErrNotExist):
			c.fileGoneLocked(e)
		}
	}
	if c.dirSeen == nil {
		c.dirSeen = map[string]dirCheck{}
	}
	c.dirSeen[camera] = dirCheck{mtime: mtime, settled: checked.Sub(mtime) > mtimeSettle}
}

// fileGoneLocked handles the recording e whose file is gone. Call with
// c.mu held.
func (c *Catalog) fileGoneLocked(e *entry) {
	if e.meta.UploadedAt != nil {
		e.meta.RemoteOnly = true
		e.bytes = e.meta.UploadedBytes
		if err := WriteSidecar(SidecarPath(e.path), e.meta); err != nil {
			c.log.Warn("update sidecar", "recording_id", e.id, "error", err.Error())
		}
		c.log.Info("recording's local file is gone: it is played from the bucket", "camera", e.camera,
			"recording_id", e.id, "path", e.path)
		return
	}
	if err := os.Remove(SidecarPath(e.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("delete sidecar", "recording_id", e.id, "error", err.Error())
	}
	delete(c.entries, e.id)
	c.unlinkLocked(e)
	c.log.Info("recording's file is gone (moved or deleted outside camrec): removed from the catalogue",
		"camera", e.camera, "recording_id", e.id, "path", e.path)
}
