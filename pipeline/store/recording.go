package store

import "time"

// Recording states in the catalogue.
const (
	RecStateRecording   = "recording"
	RecStateComplete    = "complete"
	RecStateFailed      = "failed"
	RecStateInterrupted = "interrupted" // found on disk after a crash
)

// Recording is one entry of the recordings catalogue (the API shows it as
// RecordingBody, with the URL of its file).
type Recording struct {
	ID         string
	Camera     string
	StartedAt  time.Time
	EndedAt    *time.Time // nil while recording
	DurationS  float64
	Bytes      int64
	Container  string // mp4, mkv, avi
	VideoCodec string // h264, mjpeg, ...
	Width      int
	Height     int
	State      string
	Error      string
	// PrevID and NextID link the files of one recording (segments, or the
	// new file after ffmpeg died); "" at either end.
	PrevID string
	NextID string
	// UploadedAt and RemoteURL are set once the file is uploaded (see
	// Sidecar); RemoteOnly once its local copy was deleted.
	UploadedAt *time.Time
	RemoteURL  string
	RemoteOnly bool
}
