package store

import "time"

// Recording states in the catalogue.
const (
	RecStateRecording   = "recording"
	RecStateComplete    = "complete"
	RecStateFailed      = "failed"
	RecStateInterrupted = "interrupted" // found on disk after a crash
)

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
