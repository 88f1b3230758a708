// Package eventlog is the catalogue of motion events: for each event, its
// camera, start, end, peak score, zones and one snapshot (the JPEG of the
// frame with the most motion). The detection stage (package detect) writes
// it; the API lists, serves and deletes from it.
//
// Each event is two files in <record_dir>/.events/<camera>/: <id>.json and
// <id>.jpg, written atomically (a temporary file renamed over the old one).
// The in-memory index is rebuilt from them at start-up; an event that was
// still open when camrec stopped is closed at its last known motion. Files
// are written outside the index's lock, so listing never waits for a disk.
//
// Which recordings an event lies in is not stored: the API joins an event
// with the recordings catalogue (package store) when it answers, so segments,
// continuous files and recordings deleted later are always told as they are.
package eventlog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// Event is one motion event as catalogued.
type Event struct {
	ID     string    `json:"id"`
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	// End is its last motion's capture time so far.
	End time.Time `json:"end"`
	// Open: the event is still going on.
	Open bool `json:"open"`
	// Peak is the highest score (changed area, % of the unmasked picture),
	// PeakTime that frame's capture time: the snapshot's frame.
	Peak     float64   `json:"peak_score"`
	PeakTime time.Time `json:"peak_time"`
	Zones    []string  `json:"zones"`
	// Snapshot: the event has a snapshot file.
	Snapshot bool `json:"snapshot"`
}

// Duration is the event's length so far.
func (e Event) Duration() time.Duration { return e.End.Sub(e.Start) }

// Defaults of the catalogue's retention.
const (
	// DefaultKeep: events older than this are deleted when no retention
	// `keep` is set for the camera.
	DefaultKeep = 30 * 24 * time.Hour
	// DefaultMaxPerCamera: a camera's oldest events beyond this many are
	// deleted (with snapshots of ~50-150 KB at 720p, ~0.5-1.5 GB).
	DefaultMaxPerCamera = 10000
)

// idPattern: <camera>-<UTC time to the millisecond>, e.g.
// door-20261208T142003.123Z. Camera names are [A-Za-z0-9][A-Za-z0-9_-]*.
var idPattern = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_-]{0,63})-(\d{8}T\d{6}\.\d{3}Z)(?:-(\d{1,4}))?$`)

const idTime = "20060102T150405.000Z"

// ErrBadID is wrapped by the error of an ID that cannot name an event
// (HTTP 404, like an unknown one: nothing about the disk is revealed).
var ErrBadID = fmt.Errorf("bad event id: %w", defs.ErrNotFound)

// Log is the catalogue. Its methods are safe for concurrent use.
type Log struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	events map[string]*Event
}

// Open reads the catalogue in dir (<record_dir>/.events), creating dir.
// Unreadable entries are logged and skipped; events left open by a stop
// are closed at their last motion.
func Open(dir string, log *slog.Logger) (*Log, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("events dir: %w", err)
	}
	l := &Log{dir: dir, log: log, events: make(map[string]*Event)}
	cams, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("events dir: %w", err)
	}
	for _, c := range cams {
		if !c.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, c.Name()))
		if err != nil {
			log.Warn("events: cannot read camera dir", "dir", c.Name(), "error", err.Error())
			continue
		}
		for _, f := range files {
			name := f.Name()
			id, ok := strings.CutSuffix(name, ".json")
			if !ok || !idPattern.MatchString(id) {
				continue
			}
			e, err := readEvent(filepath.Join(dir, c.Name(), name))
			if err != nil || e.ID != id || e.Camera != c.Name() {
				log.Warn("events: skipping unreadable event", "file", filepath.Join(c.Name(), name), "error", fmt.Sprint(err))
				continue
			}
			if e.Open {
				e.Open = false
				if err := l.write(&e); err != nil {
					log.Warn("events: cannot close an interrupted event", "id", id, "error", err.Error())
				}
			}
			l.events[id] = &e
		}
	}
	return l, nil
}

func readEvent(path string) (Event, error) {
	var e Event
	b, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	err = json.Unmarshal(b, &e)
	return e, err
}

// Begin catalogues a new event of camera with its first snapshot (nil:
// none yet) and returns its ID.
func (l *Log) Begin(camera string, e Event, snapshot []byte) (string, error) {
	if !idPattern.MatchString(camera + "-" + e.Start.UTC().Format(idTime)) {
		return "", fmt.Errorf("event of camera %q: bad camera name", camera)
	}
	e.Camera, e.Open = camera, true
	e.Zones = slices.Clone(e.Zones)
	base := camera + "-" + e.Start.UTC().Format(idTime)
	l.mu.Lock()
	e.ID = base
	for n := 2; l.events[e.ID] != nil; n++ {
		e.ID = fmt.Sprintf("%s-%d", base, n)
	}
	reserved := e
	l.events[e.ID] = &reserved
	l.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(l.dir, camera), 0o750); err != nil {
		return e.ID, fmt.Errorf("event %s: %w", e.ID, err)
	}
	if err := l.Update(e, snapshot); err != nil {
		return e.ID, err
	}
	return e.ID, nil
}

// Update rewrites event e (by e.ID) and, when snapshot is not nil, its
// snapshot. An event deleted meanwhile stays deleted.
func (l *Log) Update(e Event, snapshot []byte) error {
	l.mu.Lock()
	cur := l.events[e.ID]
	if cur == nil {
		l.mu.Unlock()
		return fmt.Errorf("event %s: %w", e.ID, defs.ErrNotFound)
	}
	e.Camera = cur.Camera
	e.Snapshot = cur.Snapshot || snapshot != nil
	l.mu.Unlock()
	dir := filepath.Join(l.dir, e.Camera) // made by Begin
	if snapshot != nil {
		if err := WriteAtomic(filepath.Join(dir, e.ID+".jpg"), snapshot); err != nil {
			return fmt.Errorf("event %s: snapshot: %w", e.ID, err)
		}
	}
	if err := l.write(&e); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events[e.ID] == nil { // deleted while written
		_ = os.Remove(filepath.Join(dir, e.ID+".json"))
		_ = os.Remove(filepath.Join(dir, e.ID+".jpg"))
		return fmt.Errorf("event %s: %w", e.ID, defs.ErrNotFound)
	}
	e.Zones = slices.Clone(e.Zones)
	*l.events[e.ID] = e
	return nil
}

func (l *Log) write(e *Event) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteAtomic(filepath.Join(l.dir, e.Camera, e.ID+".json"), append(b, '\n')); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	return nil
}

// WriteAtomic writes b to path (mode 0640) through a temporary file
// renamed over it: a reader sees the old file or the new one. It does not
// fsync: an event lost to a power cut costs a JSON, never a recording.
func WriteAtomic(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// Filter selects events for List. Zero fields select everything.
type Filter struct {
	// Cameras: only these cameras' events (nil: all).
	Cameras []string
	// From, To: only events that overlap [From, To).
	From, To time.Time
	// Limit: at most this many, the newest (0: all).
	Limit int
}

// List returns the events f selects, newest first.
func (l *Log) List(f Filter) []Event {
	l.mu.Lock()
	out := make([]Event, 0, len(l.events))
	for _, e := range l.events {
		if f.Cameras != nil && !slices.Contains(f.Cameras, e.Camera) {
			continue
		}
		if !f.From.IsZero() && e.End.Before(f.From) {
			continue
		}
		if !f.To.IsZero() && !e.Start.Before(f.To) {
			continue
		}
		out = append(out, *e)
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b Event) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(b.ID, a.ID))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// Get returns the event id.
func (l *Log) Get(id string) (Event, error) {
	if !idPattern.MatchString(id) {
		return Event{}, ErrBadID
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events[id]
	if e == nil {
		return Event{}, fmt.Errorf("event %s: %w", id, defs.ErrNotFound)
	}
	return *e, nil
}

// SnapshotPath returns the path of event id's snapshot.
func (l *Log) SnapshotPath(id string) (string, error) {
	e, err := l.Get(id)
	if err != nil {
		return "", err
	}
	if !e.Snapshot {
		return "", fmt.Errorf("event %s has no snapshot yet: %w", id, defs.ErrNotFound)
	}
	return filepath.Join(l.dir, e.Camera, id+".jpg"), nil
}

// Snapshot returns event id's snapshot JPEG.
func (l *Log) Snapshot(id string) ([]byte, error) {
	path, err := l.SnapshotPath(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("event %s: snapshot: %w", id, err)
	}
	return b, nil
}

// Delete deletes event id and its snapshot. An open event cannot be
// deleted (ErrConflict).
func (l *Log) Delete(id string) error {
	if !idPattern.MatchString(id) {
		return ErrBadID
	}
	l.mu.Lock()
	e := l.events[id]
	if e == nil {
		l.mu.Unlock()
		return fmt.Errorf("event %s: %w", id, defs.ErrNotFound)
	}
	if e.Open {
		l.mu.Unlock()
		return fmt.Errorf("event %s is still going on: %w", id, defs.ErrConflict)
	}
	delete(l.events, id)
	cam := e.Camera
	l.mu.Unlock()
	return l.remove(cam, id)
}

func (l *Log) remove(cam, id string) error {
	var errs []error
	for _, ext := range []string{".jpg", ".json"} {
		if err := os.Remove(filepath.Join(l.dir, cam, id+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete event %s: %w", id, err)
	}
	return nil
}

// Prune deletes camera's closed events that ended before now-keep, and
// its oldest closed events beyond maxEvents. It returns how many it deleted.
func (l *Log) Prune(camera string, now time.Time, keep time.Duration, maxEvents int) int {
	evs := l.List(Filter{Cameras: []string{camera}}) // newest first
	var doomed []string
	kept := 0
	for _, e := range evs {
		if e.Open {
			continue
		}
		if (keep > 0 && e.End.Before(now.Add(-keep))) || (maxEvents > 0 && kept >= maxEvents) {
			doomed = append(doomed, e.ID)
			continue
		}
		kept++
	}
	n := 0
	for _, id := range doomed {
		l.mu.Lock()
		delete(l.events, id)
		l.mu.Unlock()
		if err := l.remove(camera, id); err != nil {
			l.log.Warn("events: prune", "error", err.Error())
			continue
		}
		n++
	}
	if n > 0 {
		l.log.Info("events pruned", "camera", camera, "deleted", n)
	}
	return n
}

// pruneEvery is how often RunRetention prunes.
const pruneEvery = time.Hour

// RunRetention prunes each camera of keep (camera → how long its events
// are kept; 0 means DefaultKeep) at start and every hour, keeping at most
// DefaultMaxPerCamera events a camera, until ctx is done.
func (l *Log) RunRetention(ctx context.Context, keep map[string]time.Duration) error {
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		for cam, k := range keep {
			if k <= 0 {
				k = DefaultKeep
			}
			l.Prune(cam, time.Now(), k, DefaultMaxPerCamera)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
