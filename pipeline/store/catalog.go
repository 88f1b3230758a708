package store

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/defs"
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

// ValidCameraName reports whether name can name a camera's directory and
// the start of its recordings' IDs.
func ValidCameraName(name string) bool { return cameraNamePattern.MatchString(name) }

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

// entry is one recording in the catalogue.
type entry struct {
	id, camera, path string
	meta             Sidecar
	bytes            int64 // size when it was finished or scanned
	busy             bool  // being remuxed: the file is about to be replaced
	ours             bool  // made by this process (Put), not read from disk
	// remuxFailed: its remux failed in this process; it is uploaded as it
	// was recorded (a fragmented MP4 and an MKV without duration play)
	// rather than held forever. A restart tries the remux again.
	remuxFailed bool
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
	// dirSeen is, per camera, what reconcileLocked last saw of its folder.
	dirSeen map[string]dirCheck

	// changed is signalled (without blocking) when a file is finished or
	// remuxed, for the uploader (Changes).
	changed chan struct{}
}

// NewCatalog returns an empty catalogue of dir. ffprobe is the path of
// ffprobe, or "" (then files without a sidecar are listed with what their
// name and size tell).
func NewCatalog(dir string, ffprobe string, log *slog.Logger) *Catalog {
	return &Catalog{dir: dir, ffprobe: ffprobe, log: log, entries: map[string]*entry{}, changed: make(chan struct{}, 1)}
}

// Dir returns the record dir.
func (c *Catalog) Dir() string { return c.dir }

// List returns the recordings of camera ("" = all cameras), newest first.
// A finished recording whose file was moved or deleted outside camrec is
// no longer listed (see reconcileLocked).
func (c *Catalog) List(camera string) []Recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconcileLocked(camera)
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
// the catalogue's, including malformed ones, is ErrNotFound, and so is a
// finished recording whose file was moved or deleted outside camrec.
func (c *Catalog) Get(id string) (Recording, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconcileIDLocked(id)
	e, err := c.lookupLocked(id)
	if err != nil {
		return Recording{}, err
	}
	return e.recording(), nil
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
		return fmt.Errorf("recording %s is in progress: stop it first: %w", id, defs.ErrConflict)
	}
	// A recording being remuxed can go too: the remux reads a file that
	// is no longer linked, and EndRemux then finds the entry gone and
	// throws its result away.
	if err := c.removeLocked(e); err != nil {
		return err
	}
	c.log.Info("recording deleted", "camera", e.camera, "recording_id", id)
	return nil
}

// reconcileIDLocked is reconcileLocked for the camera of recording id.
func (c *Catalog) reconcileIDLocked(id string) {
	if cam, _, _, ok := parseID(id); ok {
		c.reconcileLocked(cam)
	}
}

func (c *Catalog) lookupLocked(id string) (*entry, error) {
	if _, _, _, ok := parseID(id); !ok {
		return nil, fmt.Errorf("recording %q: %w", id, defs.ErrNotFound)
	}
	e, ok := c.entries[id]
	if !ok {
		return nil, fmt.Errorf("recording %q: %w", id, defs.ErrNotFound)
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
		DurationS:  defs.RoundTo(e.meta.DurationS, 3),
		Bytes:      e.bytes,
		Container:  e.meta.Container,
		VideoCodec: e.meta.Codec,
		Width:      e.meta.Width,
		Height:     e.meta.Height,
		State:      e.meta.State,
		Error:      e.meta.Error,
		PrevID:     e.meta.PrevID,
		NextID:     e.meta.NextID,
		UploadedAt: e.meta.UploadedAt,
		RemoteURL:  e.meta.RemoteURL,
		RemoteOnly: e.meta.RemoteOnly,
	}
	if r.State == RecStateRecording {
		r.EndedAt = nil
		r.DurationS = defs.RoundTo(math.Max(0, time.Since(e.meta.StartedAt).Seconds()), 3)
		if st, err := os.Stat(e.path); err == nil {
			r.Bytes = st.Size()
		}
	}
	return r
}
