// This file holds the sidecars: the hidden JSON beside each recording with
// what camrec knows of it, written durably; and the record dir check.

package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// Sidecar is the JSON file kept next to each recording.
type Sidecar struct {
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
	// UploadedAt is when the file (and this sidecar) was uploaded to
	// S3-compatible storage and verified there, at RemoteURL (the object's
	// URL, without credentials); UploadedBytes is the object's size. A
	// finished recording without UploadedAt is pending upload when upload
	// is configured for its camera: this field is the upload queue.
	UploadedAt    *time.Time `json:"uploaded_at,omitempty"`
	RemoteURL     string     `json:"remote_url,omitempty"`
	UploadedBytes int64      `json:"uploaded_bytes,omitempty"`
	// RemoteOnly is true once the local file was deleted after its upload
	// (delete_local_after): the sidecar stays, and the recording is played
	// from the bucket.
	RemoteOnly bool `json:"remote_only,omitempty"`
}

func SidecarPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".json")
}

func ReadSidecar(path string) (Sidecar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Sidecar{}, err
	}
	var s Sidecar
	if err := json.Unmarshal(b, &s); err != nil {
		return Sidecar{}, fmt.Errorf("sidecar %s: %w", path, err)
	}
	return s, nil
}

// WriteSidecar replaces path atomically (temp file + rename).
func WriteSidecar(path string, s Sidecar) error {
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
		return fmt.Errorf("record dir %s cannot be created by uid %d: %w", dir, os.Geteuid(), defs.RootCause(err))
	}
	f, err := os.CreateTemp(dir, ".camrec-write-test-*")
	if err != nil {
		return fmt.Errorf("record dir %s is not writable by uid %d: %w", dir, os.Geteuid(), defs.RootCause(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
