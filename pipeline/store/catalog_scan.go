// This file holds how the catalogue is rebuilt from the record dir at
// start-up: sidecars read, files without one probed, interrupted
// recordings found, dangling links and stale remux temps cleared.

package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/camrec/camrec/internal/defs"
)

// Scan rebuilds the catalogue from the files under Dir/<camera>/. A sidecar
// still saying "recording" (camrec was killed) becomes "interrupted", with
// duration from ffprobe; such an MKV is marked Truncated, to be repaired by a
// remux (fragmented lists it). Files without a sidecar are probed. Links
// (prev_id, next_id) to recordings that are gone are cleared. Recordings in
// progress in this process are kept as they are.
func (c *Catalog) Scan(ctx context.Context) error {
	cams, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		cams = nil
	} else if err != nil {
		return fmt.Errorf("scan recordings: %w", err)
	}
	found := map[string]*entry{}
	for _, cd := range cams {
		if !cd.IsDir() || !cameraNamePattern.MatchString(cd.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(c.dir, cd.Name()))
		if err != nil {
			c.log.Warn("scan recordings: skip camera dir", "camera", cd.Name(), "error", err.Error())
			continue
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scan recordings: %w", err)
			}
			if isRemuxTemp(f.Name()) {
				c.removeStaleTemp(filepath.Join(c.dir, cd.Name(), f.Name()))
				continue
			}
			if e := c.loadRemoteOnly(cd.Name(), f.Name()); e != nil {
				found[e.id] = e
				continue
			}
			cam, _, _, ok := parseID(f.Name())
			if !ok || cam != cd.Name() || !f.Type().IsRegular() {
				continue
			}
			if e := c.load(ctx, cam, f.Name()); e != nil {
				found[e.id] = e
			}
		}
	}
	c.mu.Lock()
	for id, e := range c.entries {
		// What this process knows of its own recordings beats what the
		// disk said a moment ago (a recording may have ended meanwhile).
		if _, onDisk := found[id]; e.ours && (onDisk || e.meta.State == RecStateRecording || e.busy) {
			found[id] = e
		}
	}
	c.entries = found
	c.dropDanglingLinksLocked()
	n := len(found)
	c.mu.Unlock()
	c.log.Info("recordings scanned", "dir", c.dir, "recordings", n)
	return nil
}

// load builds the entry of one file found on disk, or nil if it vanished.
func (c *Catalog) load(ctx context.Context, cam, id string) *entry {
	path := filepath.Join(c.dir, cam, id)
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	_, started, container, _ := parseID(id)
	e := &entry{id: id, camera: cam, path: path, bytes: st.Size()}
	meta, err := ReadSidecar(SidecarPath(path))
	switch {
	case err == nil:
		e.meta = meta
		c.mu.Lock()
		old, known := c.entries[id]
		ours := known && old.ours
		c.mu.Unlock()
		if meta.State != RecStateRecording || ours {
			return e
		}
		// Left "recording" by a camrec that did not finish it.
		e.meta.State = RecStateInterrupted
		ended := st.ModTime()
		e.meta.EndedAt = &ended
		e.meta.DurationS = max(0, ended.Sub(meta.StartedAt).Seconds())
		if e.meta.Error == "" {
			e.meta.Error = "camrec stopped while recording"
		}
		// An MKV gets its duration and index when ffmpeg ends it; cut
		// short, it has neither until it is remuxed. (An MP4 is already
		// marked Fragmented, so remuxed too.)
		e.meta.Truncated = container == "mkv"
		c.probeInto(ctx, e)
		if err := WriteSidecar(SidecarPath(path), e.meta); err != nil {
			c.log.Warn("update sidecar", "recording_id", id, "error", err.Error())
		}
		c.log.Info("recording interrupted", "camera", cam, "recording_id", id, "duration_s", defs.RoundTo(e.meta.DurationS, 3))
	case errors.Is(err, fs.ErrNotExist):
		// Not made by camrec (or its sidecar was removed): trust the name
		// and ask ffprobe for the rest.
		ended := st.ModTime()
		e.meta = Sidecar{StartedAt: started, EndedAt: &ended, State: RecStateComplete, Container: container}
		c.probeInto(ctx, e)
	default:
		c.log.Warn("read sidecar", "recording_id", id, "error", err.Error())
		ended := st.ModTime()
		e.meta = Sidecar{StartedAt: started, EndedAt: &ended, State: RecStateComplete, Container: container}
		c.probeInto(ctx, e)
	}
	return e
}

// probeInto fills duration, codec and size from ffprobe when there is one.
func (c *Catalog) probeInto(ctx context.Context, e *entry) {
	if c.ffprobe == "" {
		return
	}
	p, err := ffprobe(ctx, c.ffprobe, e.path)
	if err != nil {
		c.log.Warn("probe recording", "recording_id", e.id, "error", err.Error())
		if e.meta.State == RecStateComplete {
			e.meta.State, e.meta.Error = RecStateFailed, err.Error()
		}
		return
	}
	// A file cut short may have no duration (an MKV): keep the estimate.
	if p.DurationS > 0 {
		e.meta.DurationS = p.DurationS
	}
	e.meta.Codec, e.meta.Width, e.meta.Height = p.Codec, p.Width, p.Height
}

// dropDanglingLinksLocked clears every link to a recording that is not in
// the catalogue (deleted by hand, or by a camrec stopped before it updated
// the neighbours), in memory and in the sidecar. Call with c.mu held.
func (c *Catalog) dropDanglingLinksLocked() {
	for _, e := range c.entries {
		changed := false
		for _, l := range []*string{&e.meta.PrevID, &e.meta.NextID} {
			if _, ok := c.entries[*l]; *l != "" && !ok {
				*l, changed = "", true
			}
		}
		if changed {
			c.saveLocked(e)
		}
	}
}

// removeStaleTemp removes a remux temp left by a camrec that was stopped
// while remuxing, unless a remux of this process is writing it.
func (c *Catalog) removeStaleTemp(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.busy && RemuxTemp(e.path) == path {
			return
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("remove stale remux temp", "path", path, "error", err.Error())
	}
}

// loadRemoteOnly builds the entry of a recording whose local file was
// deleted after its upload, from its sidecar (name, in camera's folder);
// nil for any other file.
func (c *Catalog) loadRemoteOnly(cam, name string) *entry {
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
		return nil
	}
	id := strings.TrimSuffix(strings.TrimPrefix(name, "."), ".json")
	if idCam, _, _, ok := parseID(id); !ok || idCam != cam {
		return nil
	}
	path := filepath.Join(c.dir, cam, id)
	if _, err := os.Lstat(path); err == nil {
		return nil // the file is there: load reads it
	}
	meta, err := ReadSidecar(filepath.Join(c.dir, cam, name))
	if err != nil || !meta.RemoteOnly {
		return nil // a sidecar left alone: Reserve keeps its name retired
	}
	return &entry{id: id, camera: cam, path: path, meta: meta, bytes: meta.UploadedBytes}
}
