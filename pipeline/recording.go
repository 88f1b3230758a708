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
	Error string `json:"error"`
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
	FileURL    string     `json:"file_url"` // /api/v1/recordings/{id}/file
	Error      string     `json:"error,omitempty"`
}
