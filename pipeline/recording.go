package pipeline

import "time"

// Recording states in the catalogue.
const (
	RecStateRecording   = "recording"
	RecStateComplete    = "complete"
	RecStateFailed      = "failed"
	RecStateInterrupted = "interrupted" // found on disk after a crash
)

// RecordingStatus is the recording part of a camera's status and the body of
// GET/PUT /api/v1/cameras/{cam}/recording.
type RecordingStatus struct {
	Active    bool       `json:"active"`
	ID        string     `json:"id"`         // "" when none is active
	StartedAt *time.Time `json:"started_at"` // nil when none is active
	Frames    uint64     `json:"frames"`     // frames written to ffmpeg
	Bytes     int64      `json:"bytes"`      // size of the file so far
	Dropped   uint64     `json:"dropped"`    // frames lost to a full queue
	// Error is why the last recording failed (with ffmpeg's last stderr
	// lines), or why recording is impossible (ffmpeg missing); "" otherwise.
	// While recording, it is why the previous file ended badly (ffmpeg died
	// and the recording went on in a new file).
	Error string `json:"error"`
	// State is "idle", "recording", "finishing" (a stopped recording's
	// ffmpeg is finishing its file), "failed" (the last recording failed)
	// or "waiting" (continuous recording retries after a failure).
	State string `json:"state"`
	// Segment is the index of the file being written in this recording
	// (segments and restarts start new files), from 0.
	Segment int `json:"segment"`
	// Restarts counts, since camrec started, the times ffmpeg died and the
	// recording went on in a new file.
	Restarts uint64 `json:"restarts"`
	// RetentionDeleted counts, since camrec started, the recordings of
	// this camera deleted by retention (keep, max_disk, min_free).
	RetentionDeleted uint64 `json:"retention_deleted"`
	// StartLatencyMS is the delay from the request to the first frame
	// written to ffmpeg (0 before it).
	StartLatencyMS float64 `json:"start_latency_ms"`
	// SyncedAt is when the file being written was last flushed to the disk
	// (every fsync_interval); nil before the first flush.
	SyncedAt *time.Time `json:"synced_at"`
}

// Recording is one entry of the recordings catalogue.
type Recording struct {
	ID         string     `json:"id"`
	Camera     string     `json:"camera"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"` // nil while recording
	DurationS  float64    `json:"duration_s"`
	Bytes      int64      `json:"bytes"`
	Container  string     `json:"container"`   // mp4, mkv, avi
	VideoCodec string     `json:"video_codec"` // h264, mjpeg, ...
	Width      int        `json:"width"`
	Height     int        `json:"height"`
	State      string     `json:"state"`
	Error      string     `json:"error,omitempty"`
	// PrevID and NextID link the files of one recording (segments, or the
	// new file after ffmpeg died); "" at either end.
	PrevID string `json:"prev_id,omitempty"`
	NextID string `json:"next_id,omitempty"`
}
