package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/pipeline/eventlog"
)

// StateFile keeps what users change at run time, per camera: the arming
// override and the masks and zones drawn on the page. It is one JSON file
// (<record_dir>/.events/motion.json), written atomically with mode 0640 on
// every change, read at start-up; what it holds for a camera takes
// precedence over the camera's config. Safe for concurrent use.
type StateFile struct {
	path string
	mu   sync.Mutex
	cams map[string]CameraState
}

// CameraState is one camera's run-time changes; nil fields are not set
// (the config rules).
type CameraState struct {
	// Armed is the user's arming override, Until when it ends (the
	// schedule's next change; zero: until changed).
	Armed *bool     `json:"armed,omitempty"`
	Until time.Time `json:"armed_until,omitzero"`
	// Masks and Zones replace the config's.
	Masks *[]motion.Polygon `json:"masks,omitempty"`
	Zones *[]motion.Zone    `json:"zones,omitempty"`
}

// OpenState reads path (a missing file is an empty state). A file that
// cannot be read as a state is moved aside to <path>.bad and logged: the
// cameras start from their config, nothing else is lost.
func OpenState(path string, log *slog.Logger) (*StateFile, error) {
	f := &StateFile{path: path, cams: make(map[string]CameraState)}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("motion state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &f.cams); err != nil {
		bad := path + ".bad"
		log.Error("motion state unreadable: moved aside, the cameras start from their config", "file", path, "moved_to", bad, "error", err.Error())
		if err := os.Rename(path, bad); err != nil {
			return nil, fmt.Errorf("motion state %s: unreadable, and cannot move it aside: %w", path, err)
		}
		f.cams = make(map[string]CameraState)
	}
	return f, nil
}

// Get returns camera's state.
func (f *StateFile) Get(camera string) CameraState {
	if f == nil {
		return CameraState{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cams[camera]
}

// Update applies change to camera's state and writes the file.
func (f *StateFile) Update(camera string, change func(*CameraState)) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.cams[camera]
	change(&st)
	next := make(map[string]CameraState, len(f.cams))
	for k, v := range f.cams {
		next[k] = v
	}
	if st == (CameraState{}) {
		delete(next, camera)
	} else {
		next[camera] = st
	}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("motion state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o750); err != nil {
		return fmt.Errorf("motion state: %w", err)
	}
	if err := eventlog.WriteAtomic(f.path, append(b, '\n')); err != nil {
		return fmt.Errorf("motion state: %w", err)
	}
	f.cams = next
	return nil
}
