// This file holds the catalogue's write side, which the recorder uses:
// reserving a file, putting and linking entries, forgetting an empty one,
// and the remux that turns a finished or interrupted file into a plain one.

package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// Reserve creates Dir/<camera>/ and an empty file for a new recording named
// after t, never reusing a name (-2, -3 ... are appended). The file is
// created with O_EXCL, so two recorders cannot pick the same name either.
// Its errors wrap ErrUnavailable (cannot record now) and the cause
// (permission denied, read-only file system, no space left on device...).
func (c *Catalog) Reserve(camera, container string, t time.Time) (id, path string, err error) {
	dir := filepath.Join(c.dir, camera)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", cannotRecord(fmt.Errorf("create record dir %s (uid %d): %w", dir, os.Geteuid(), err))
	}
	base := camera + "-" + t.Format("20060102-150405")
	for n := 1; n < 10000; n++ {
		id = base + "." + container
		if n > 1 {
			id = base + "-" + strconv.Itoa(n) + "." + container
		}
		path = filepath.Join(dir, id)
		if _, err := os.Lstat(SidecarPath(path)); err == nil {
			continue // a sidecar without its file: keep the name retired
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", "", cannotRecord(fmt.Errorf("record dir %s is not writable by uid %d: %w", dir, os.Geteuid(), err))
		}
		if err := f.Close(); err != nil {
			return "", "", cannotRecord(fmt.Errorf("create %s: %w", path, err))
		}
		return id, path, nil
	}
	return "", "", cannotRecord(fmt.Errorf("record dir %s: no free name for %s", dir, base))
}

// unavailableError says why a recording cannot start now (the record dir
// cannot be written). It wraps its cause and ErrUnavailable (HTTP 503)
// without repeating the latter's text.
type unavailableError struct{ err error }

func cannotRecord(err error) error { return &unavailableError{err} }

func (e *unavailableError) Error() string { return "cannot record now: " + e.err.Error() }

func (e *unavailableError) Unwrap() []error { return []error{e.err, defs.ErrUnavailable} }

// Put adds or replaces a recording made by this process and writes its
// sidecar. bytes is the file size for finished recordings. A link in meta to
// a recording no longer in the catalogue (deleted meanwhile) is dropped.
func (c *Catalog) Put(camera, id, path string, meta Sidecar, bytes int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[id]; ok && meta.NextID == "" {
		meta.NextID = old.meta.NextID // set by Link meanwhile
	}
	for _, l := range []*string{&meta.PrevID, &meta.NextID} {
		if _, ok := c.entries[*l]; *l != "" && !ok {
			*l = ""
		}
	}
	c.entries[id] = &entry{id: id, camera: camera, path: path, meta: meta, bytes: bytes, ours: true}
	err := WriteSidecar(SidecarPath(path), meta)
	if meta.State != RecStateRecording {
		c.signalLocked()
	}
	return err
}

// Link records that next continues the recording prev.
func (c *Catalog) Link(prev, next string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[prev]
	if !ok {
		// Deleted meanwhile (the user, retention) before it pointed at
		// next, so that its removal could not clear next's link to it.
		if n, ok := c.entries[next]; ok && n.meta.PrevID == prev {
			n.meta.PrevID = ""
			return WriteSidecar(SidecarPath(n.path), n.meta)
		}
		return nil
	}
	e.meta.NextID = next
	return WriteSidecar(SidecarPath(e.path), e.meta)
}

// Forget removes a recording from the catalogue (clearing its neighbours'
// links to it) and deletes its file and sidecar. The recorder uses it only
// for a file that never received a frame.
func (c *Catalog) Forget(id, path string) {
	c.mu.Lock()
	if e, ok := c.entries[id]; ok {
		delete(c.entries, id)
		c.unlinkLocked(e)
	}
	c.mu.Unlock()
	for _, p := range []string{path, SidecarPath(path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("remove empty recording", "path", p, "error", err.Error())
		}
	}
}

// BeginRemux marks the recording busy while it is remuxed; false if it is
// gone, already busy, or needs no remux (neither a fragmented MP4 nor a
// truncated MKV: a finished MKV or AVI is final as ffmpeg wrote it).
func (c *Catalog) BeginRemux(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || e.busy || !e.meta.needsRemux() {
		return false
	}
	e.busy = true
	return true
}

// needsRemux reports whether the file is not yet in its final form: an MP4
// still fragmented, or an MKV cut short.
func (s Sidecar) needsRemux() bool { return s.Fragmented || s.Truncated }

// AwaitingRemux lists camera's finished recordings that await a remux, with
// their paths: MP4s still in their fragmented form (left so by a shutdown or
// crash) and MKVs cut short by a crash (Truncated). The recorder remuxes them
// when it starts (remuxRecording between BeginRemux and EndRemux).
func (c *Catalog) AwaitingRemux(camera string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for id, e := range c.entries {
		if e.camera == camera && e.meta.needsRemux() && e.meta.State != RecStateRecording && !e.busy {
			out[id] = e.path
		}
	}
	return out
}

// errRemuxDiscarded: the recording was deleted while it was remuxed, so the
// remux's result (or failure) was thrown away. It wraps ErrNotFound.
var ErrRemuxDiscarded = fmt.Errorf("remux result discarded: %w", defs.ErrNotFound)

// EndRemux ends what BeginRemux started: when err is nil the remuxed tmp
// replaces the recording's file (atomically, by rename), else tmp is removed
// and the original stays as it is. A truncated MKV, repaired, takes the
// duration ffprobe reads in tmp. A recording deleted meanwhile stays
// deleted, whatever the remux did: the error then wraps errRemuxDiscarded.
func (c *Catalog) EndRemux(id, tmp string, err error) error {
	var repaired *probeResult
	if err == nil && c.ffprobe != "" && c.truncated(id) {
		// Probed before taking the lock: ffprobe takes a while.
		p, perr := ffprobe(context.Background(), c.ffprobe, tmp)
		switch {
		case perr != nil:
			c.log.Warn("probe remuxed recording", "recording_id", id, "error", perr.Error())
		case p.DurationS > 0:
			repaired = &p
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	// Deleted meanwhile: the entry is gone, or (its name taken again by a
	// new recording) is not the one being remuxed. The remux may also have
	// failed for it (its input vanished before ffmpeg opened it).
	ok = ok && e.busy
	if ok {
		e.busy = false
	}
	if !ok {
		err = fmt.Errorf("recording %s was deleted while it was remuxed: %w", id, ErrRemuxDiscarded)
	}
	if err == nil {
		err = os.Rename(tmp, e.path)
	}
	if err != nil {
		if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			c.log.Warn("remove remux temp", "path", tmp, "error", rmErr.Error())
		}
		if ok {
			e.remuxFailed = true
			c.signalLocked() // the uploader takes it as it is
		}
		return err
	}
	if st, err := os.Stat(e.path); err == nil {
		e.bytes = st.Size()
	}
	e.meta.Fragmented = false
	if e.meta.Truncated {
		e.meta.Truncated = false
		if repaired != nil {
			e.meta.DurationS = repaired.DurationS
		}
	}
	c.signalLocked()
	return WriteSidecar(SidecarPath(e.path), e.meta)
}

// truncated reports whether recording id is an MKV cut short, to be
// repaired.
func (c *Catalog) truncated(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	return ok && e.meta.Truncated
}

// unlinkLocked clears the links of e's neighbours to e, which is leaving the
// catalogue: the older one's NextID and the newer one's PrevID, in memory
// and in their sidecars. The gap is left unlinked, not bridged: the files
// on either side of it are no longer contiguous. Call with c.mu held, after
// e was taken out of c.entries.
func (c *Catalog) unlinkLocked(e *entry) {
	if p, ok := c.entries[e.meta.PrevID]; ok && p.meta.NextID == e.id {
		p.meta.NextID = ""
		c.saveLocked(p)
	}
	if n, ok := c.entries[e.meta.NextID]; ok && n.meta.PrevID == e.id {
		n.meta.PrevID = ""
		c.saveLocked(n)
	}
}

// saveLocked rewrites e's sidecar after a change of its links. A failure is
// logged: the catalogue holds the truth until the next Scan, which clears
// the link again. Call with c.mu held.
func (c *Catalog) saveLocked(e *entry) {
	if err := WriteSidecar(SidecarPath(e.path), e.meta); err != nil {
		c.log.Warn("update sidecar links", "recording_id", e.id, "error", err.Error())
	}
}

// RemuxTemp is where the remux of path is written before it replaces it.
func RemuxTemp(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".remux.tmp")
}

func isRemuxTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".remux.tmp")
}
