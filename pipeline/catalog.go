package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Layout of the record dir:
//
//	<dir>/<camera>/<camera>-YYYYMMDD-HHMMSS[-N].<mp4|mkv|avi>   the recording
//	<dir>/<camera>/.<recording file name>.json                    its sidecar
//	<dir>/<camera>/.<recording file name>.remux.tmp               its remux being made
//
// The recording's ID is its file name. The sidecar (hidden, next to the file)
// holds what camrec knows about it: see sidecar. It is written when the
// recording starts (state "recording") and rewritten when it ends.

// idPattern matches recording IDs. The camera part names the directory the
// file lives in, so an ID can never point outside <dir>/<camera>/.
var idPattern = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_-]{0,63})-([0-9]{8})-([0-9]{6})(?:-([0-9]{1,4}))?\.(mp4|mkv|avi)$`)

// cameraNamePattern matches camera names usable in paths and IDs.
var cameraNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// parseID splits a recording ID into camera and start time (local, to the
// second). ok is false for anything that is not an ID camrec would make.
func parseID(id string) (camera string, started time.Time, container string, ok bool) {
	m := idPattern.FindStringSubmatch(id)
	if m == nil {
		return "", time.Time{}, "", false
	}
	t, err := time.ParseInLocation("20060102150405", m[2]+m[3], time.Local)
	if err != nil {
		return "", time.Time{}, "", false
	}
	return m[1], t, m[5], true
}

// sidecar is the JSON file kept next to each recording.
type sidecar struct {
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	State     string     `json:"state"`
	Error     string     `json:"error,omitempty"`
	Codec     string     `json:"codec"`
	Container string     `json:"container"`
	Width     int        `json:"width"`
	Height    int        `json:"height"`
	Frames    uint64     `json:"frames"`
	FPS       float64    `json:"fps"`
	// DurationS is frames / fps when camrec finished the file, or what
	// ffprobe found after a crash.
	DurationS float64 `json:"duration_s"`
	// Fragmented is true for an MP4 still in its fragmented recording form
	// (not yet remuxed to a plain MP4).
	Fragmented bool `json:"fragmented,omitempty"`
	// Truncated is true for an MKV cut short (camrec was killed, or the
	// disk filled up, while it was written): it has no duration nor seek
	// index until it is remuxed (see remuxRecording), which clears it.
	Truncated bool `json:"truncated,omitempty"`
	// PrevID and NextID link the files of one recording: NextID continues
	// where this file ends. When a file is deleted its neighbours' links
	// to it are cleared, not bridged: the files left are not contiguous.
	PrevID string `json:"prev_id,omitempty"`
	NextID string `json:"next_id,omitempty"`
}

// entry is one recording in the catalogue.
type entry struct {
	id, camera, path string
	meta             sidecar
	bytes            int64 // size when it was finished or scanned
	busy             bool  // being remuxed: the file is about to be replaced
	ours             bool  // made by this process (put), not read from disk
}

// Catalog is the list of recordings under a record dir. It is safe for
// concurrent use. The Recorder adds and updates the recordings it makes;
// Scan rebuilds the list from disk at start-up.
type Catalog struct {
	dir     string
	ffprobe string
	log     *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
}

// NewCatalog returns an empty catalogue of dir. ffprobe is the path of
// ffprobe, or "" (then files without a sidecar are listed with what their
// name and size tell).
func NewCatalog(dir string, ffprobe string, log *slog.Logger) *Catalog {
	return &Catalog{dir: dir, ffprobe: ffprobe, log: log, entries: map[string]*entry{}}
}

// Dir returns the record dir.
func (c *Catalog) Dir() string { return c.dir }

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
	meta, err := readSidecar(sidecarPath(path))
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
		if err := writeSidecar(sidecarPath(path), e.meta); err != nil {
			c.log.Warn("update sidecar", "recording_id", id, "error", err.Error())
		}
		c.log.Info("recording interrupted", "camera", cam, "recording_id", id, "duration_s", e.meta.DurationS)
	case errors.Is(err, fs.ErrNotExist):
		// Not made by camrec (or its sidecar was removed): trust the name
		// and ask ffprobe for the rest.
		ended := st.ModTime()
		e.meta = sidecar{StartedAt: started, EndedAt: &ended, State: RecStateComplete, Container: container}
		c.probeInto(ctx, e)
	default:
		c.log.Warn("read sidecar", "recording_id", id, "error", err.Error())
		ended := st.ModTime()
		e.meta = sidecar{StartedAt: started, EndedAt: &ended, State: RecStateComplete, Container: container}
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

// List returns the recordings of camera ("" = all cameras), newest first.
func (c *Catalog) List(camera string) []Recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Recording, 0, len(c.entries))
	for _, e := range c.entries {
		if camera == "" || e.camera == camera {
			out = append(out, e.recording())
		}
	}
	slices.SortFunc(out, func(a, b Recording) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out
}

// Get returns the recording with the given ID. Any ID that is not one of
// the catalogue's, including malformed ones, is ErrNotFound.
func (c *Catalog) Get(id string) (Recording, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.lookupLocked(id)
	if err != nil {
		return Recording{}, err
	}
	return e.recording(), nil
}

// Open opens the recording's file for reading (http.ServeContent). The caller
// closes it. A recording in progress can be opened; it is still growing.
// Only a regular file at <dir>/<camera>/<id> is served: a symlink in place of
// the file or of its camera folder, or anything else that is not a regular
// file, is ErrNotFound.
func (c *Catalog) Open(id string) (*os.File, Recording, error) {
	c.mu.Lock()
	e, err := c.lookupLocked(id)
	var rec Recording
	var cam, path string
	if err == nil {
		rec, cam, path = e.recording(), e.camera, e.path
	}
	c.mu.Unlock()
	if err != nil {
		return nil, Recording{}, err
	}
	f, err := c.openRegular(id, cam, path)
	if err != nil {
		return nil, Recording{}, err
	}
	return f, rec, nil
}

// openRegular opens the recording id of camera, at path, read-only without
// following symlinks. The camera folder is opened relative to the record dir
// and the file relative to the folder, both with O_NOFOLLOW, so that
// swapping either for a link, even between the checks, cannot make camrec
// serve a file from elsewhere. The record dir itself may be a link (it is
// configured, not written by camrec).
func (c *Catalog) openRegular(id, cam, path string) (*os.File, error) {
	rel, err := filepath.Rel(c.dir, path)
	if err != nil || rel != filepath.Join(cam, id) {
		return nil, fmt.Errorf("recording %s: path %s is not inside the record dir %s: %w", id, path, c.dir, ErrNotFound)
	}
	gone := func() error { return fmt.Errorf("recording %s: file is gone: %w", id, ErrNotFound) }
	dirFD, err := openat(unix.AT_FDCWD, c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if errors.Is(err, unix.ENOENT) {
		return nil, gone()
	}
	if err != nil {
		return nil, fmt.Errorf("open recording %s: record dir: %w", id, &fs.PathError{Op: "open", Path: c.dir, Err: err})
	}
	defer unix.Close(dirFD)
	camFD, err := openat(dirFD, cam, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, gone()
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("recording %s: camera folder %s is not a directory: %w", id, filepath.Dir(path), ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "open", Path: filepath.Dir(path), Err: err})
	}
	defer unix.Close(camFD)
	// O_NONBLOCK: a FIFO planted in the file's place must not block the
	// request until a writer comes; it is refused below.
	fd, err := openat(camFD, id, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY)
	notRegular := func() error { return fmt.Errorf("recording %s: file is not a regular file: %w", id, ErrNotFound) }
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, gone()
	case errors.Is(err, unix.ELOOP):
		return nil, notRegular()
	case err != nil:
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, notRegular()
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "fcntl", Path: path, Err: err})
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openat is unix.Openat retried on EINTR (as package os does).
func openat(dirFD int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirFD, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Delete removes the recording's file and sidecar, and clears its neighbours'
// links to it (see removeLocked). A recording in progress is ErrConflict.
func (c *Catalog) Delete(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.lookupLocked(id)
	if err != nil {
		return err
	}
	if e.meta.State == RecStateRecording {
		return fmt.Errorf("recording %s is in progress: stop it first: %w", id, ErrConflict)
	}
	// A recording being remuxed can go too: the remux reads a file that
	// is no longer linked, and endRemux then finds the entry gone and
	// throws its result away.
	if err := c.removeLocked(e); err != nil {
		return err
	}
	c.log.Info("recording deleted", "camera", e.camera, "recording_id", id)
	return nil
}

func (c *Catalog) lookupLocked(id string) (*entry, error) {
	if _, _, _, ok := parseID(id); !ok {
		return nil, fmt.Errorf("recording %q: %w", id, ErrNotFound)
	}
	e, ok := c.entries[id]
	if !ok {
		return nil, fmt.Errorf("recording %q: %w", id, ErrNotFound)
	}
	return e, nil
}

// recording renders e for the API. Call with c.mu held.
func (e *entry) recording() Recording {
	r := Recording{
		ID:         e.id,
		Camera:     e.camera,
		StartedAt:  e.meta.StartedAt,
		EndedAt:    e.meta.EndedAt,
		DurationS:  roundTo(e.meta.DurationS, 3),
		Bytes:      e.bytes,
		Container:  e.meta.Container,
		VideoCodec: e.meta.Codec,
		Width:      e.meta.Width,
		Height:     e.meta.Height,
		State:      e.meta.State,
		FileURL:    "/api/v1/recordings/" + e.id + "/file",
		Error:      e.meta.Error,
		PrevID:     e.meta.PrevID,
		NextID:     e.meta.NextID,
	}
	if r.State == RecStateRecording {
		r.EndedAt = nil
		r.DurationS = roundTo(math.Max(0, time.Since(e.meta.StartedAt).Seconds()), 3)
		if st, err := os.Stat(e.path); err == nil {
			r.Bytes = st.Size()
		}
	}
	return r
}

// reserve creates Dir/<camera>/ and an empty file for a new recording named
// after t, never reusing a name (-2, -3 ... are appended). The file is
// created with O_EXCL, so two recorders cannot pick the same name either.
// Its errors wrap ErrUnavailable (cannot record now) and the cause
// (permission denied, read-only file system, no space left on device...).
func (c *Catalog) reserve(camera, container string, t time.Time) (id, path string, err error) {
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
		if _, err := os.Lstat(sidecarPath(path)); err == nil {
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

func (e *unavailableError) Error() string   { return "cannot record now: " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }

// put adds or replaces a recording made by this process and writes its
// sidecar. bytes is the file size for finished recordings. A link in meta to
// a recording no longer in the catalogue (deleted meanwhile) is dropped.
func (c *Catalog) put(camera, id, path string, meta sidecar, bytes int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[id]; ok && meta.NextID == "" {
		meta.NextID = old.meta.NextID // set by link meanwhile
	}
	for _, l := range []*string{&meta.PrevID, &meta.NextID} {
		if _, ok := c.entries[*l]; *l != "" && !ok {
			*l = ""
		}
	}
	c.entries[id] = &entry{id: id, camera: camera, path: path, meta: meta, bytes: bytes, ours: true}
	return writeSidecar(sidecarPath(path), meta)
}

// link records that next continues the recording prev.
func (c *Catalog) link(prev, next string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[prev]
	if !ok {
		// Deleted meanwhile (the user, retention) before it pointed at
		// next, so that its removal could not clear next's link to it.
		if n, ok := c.entries[next]; ok && n.meta.PrevID == prev {
			n.meta.PrevID = ""
			return writeSidecar(sidecarPath(n.path), n.meta)
		}
		return nil
	}
	e.meta.NextID = next
	return writeSidecar(sidecarPath(e.path), e.meta)
}

// forget removes a recording from the catalogue (clearing its neighbours'
// links to it) and deletes its file and sidecar. The recorder uses it only
// for a file that never received a frame.
func (c *Catalog) forget(id, path string) {
	c.mu.Lock()
	if e, ok := c.entries[id]; ok {
		delete(c.entries, id)
		c.unlinkLocked(e)
	}
	c.mu.Unlock()
	for _, p := range []string{path, sidecarPath(path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("remove empty recording", "path", p, "error", err.Error())
		}
	}
}

// beginRemux marks the recording busy while it is remuxed; false if it is
// gone, already busy, or needs no remux (neither a fragmented MP4 nor a
// truncated MKV: a finished MKV or AVI is final as ffmpeg wrote it).
func (c *Catalog) beginRemux(id string) bool {
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
func (s sidecar) needsRemux() bool { return s.Fragmented || s.Truncated }

// fragmented lists camera's finished recordings that await a remux, with
// their paths: MP4s still in their fragmented form (left so by a shutdown or
// crash) and MKVs cut short by a crash (Truncated). The recorder remuxes them
// when it starts (remuxRecording between beginRemux and endRemux).
func (c *Catalog) fragmented(camera string) map[string]string {
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
var errRemuxDiscarded = fmt.Errorf("remux result discarded: %w", ErrNotFound)

// endRemux ends what beginRemux started: when err is nil the remuxed tmp
// replaces the recording's file (atomically, by rename), else tmp is removed
// and the original stays as it is. A truncated MKV, repaired, takes the
// duration ffprobe reads in tmp. A recording deleted meanwhile stays
// deleted, whatever the remux did: the error then wraps errRemuxDiscarded.
func (c *Catalog) endRemux(id, tmp string, err error) error {
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
		err = fmt.Errorf("recording %s was deleted while it was remuxed: %w", id, errRemuxDiscarded)
	}
	if err == nil {
		err = os.Rename(tmp, e.path)
	}
	if err != nil {
		if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			c.log.Warn("remove remux temp", "path", tmp, "error", rmErr.Error())
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
	return writeSidecar(sidecarPath(e.path), e.meta)
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

// saveLocked rewrites e's sidecar after a change of its links. A failure is
// logged: the catalogue holds the truth until the next Scan, which clears
// the link again. Call with c.mu held.
func (c *Catalog) saveLocked(e *entry) {
	if err := writeSidecar(sidecarPath(e.path), e.meta); err != nil {
		c.log.Warn("update sidecar links", "recording_id", e.id, "error", err.Error())
	}
}

// remuxTemp is where the remux of path is written before it replaces it.
func remuxTemp(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".remux.tmp")
}

func isRemuxTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".remux.tmp")
}

// removeStaleTemp removes a remux temp left by a camrec that was stopped
// while remuxing, unless a remux of this process is writing it.
func (c *Catalog) removeStaleTemp(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.busy && remuxTemp(e.path) == path {
			return
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("remove stale remux temp", "path", path, "error", err.Error())
	}
}

func sidecarPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".json")
}

func readSidecar(path string) (sidecar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return sidecar{}, err
	}
	var s sidecar
	if err := json.Unmarshal(b, &s); err != nil {
		return sidecar{}, fmt.Errorf("sidecar %s: %w", path, err)
	}
	return s, nil
}

// writeSidecar replaces path atomically (temp file + rename).
func writeSidecar(path string, s sidecar) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("sidecar %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("write sidecar: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write sidecar: %w", err)
	}
	return nil
}

// writeFileSync writes path and flushes it to the disk, so that a rename
// over the old version never leaves an empty file after a power cut.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// CheckRecordDir makes sure dir exists (creating it) and that this process
// can write in it. The error names the path and what is wrong ("permission
// denied", "read-only file system", "no space left on device").
func CheckRecordDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record dir %s cannot be created by uid %d: %w", dir, os.Geteuid(), errUnwrapAll(err))
	}
	f, err := os.CreateTemp(dir, ".camrec-write-test-*")
	if err != nil {
		return fmt.Errorf("record dir %s is not writable by uid %d: %w", dir, os.Geteuid(), errUnwrapAll(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
