package events

import (
	"net/url"
	"time"
)

// Body is an event as camrec sends it out: the data of a Server-Sent
// Event, an MQTT event message, a hook's standard input and a webhook's
// POST body are all this JSON, so that a script written for one reads the
// others.
type Body struct {
	ID          uint64    `json:"id"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	Camera      string    `json:"camera"`
	RecordingID string    `json:"recording_id,omitempty"`
	FileURL     string    `json:"file_url,omitempty"` // the recording's file, while it exists
	DurationS   float64   `json:"duration_s,omitempty"`
	Bytes       int64     `json:"bytes,omitempty"`
	State       string    `json:"state,omitempty"` // a camera's new state
	Error       string    `json:"error,omitempty"`
	Rule        string    `json:"rule,omitempty"`         // the retention rule that deleted the recording
	Score       float64   `json:"score,omitempty"`        // a motion event's peak changed area, percent of the picture
	Zones       []string  `json:"zones,omitempty"`        // the zones a motion event moved in
	EventID     string    `json:"event_id,omitempty"`     // a motion event's ID (GET /api/v1/motion-events/{id})
	SnapshotURL string    `json:"snapshot_url,omitempty"` // a motion event's snapshot JPEG
}

// Body returns e's outside shape. The file's path on disk (Path) is not in
// it: only hooks, which run on the same host, are given that.
func (e Event) Body() Body {
	b := Body{ID: e.ID, Type: string(e.Type), Time: e.Time, Camera: e.Camera, RecordingID: e.RecordingID,
		DurationS: e.DurationS, Bytes: e.Bytes, State: e.State, Error: e.Error, Rule: e.Rule, Score: e.Score, Zones: e.Zones,
		EventID: e.EventID, SnapshotURL: e.SnapshotURL}
	if e.RecordingID != "" && e.Type != RetentionDeleted && e.Type != RecordingDeleted {
		b.FileURL = FileURL(e.RecordingID)
	}
	return b
}

// FileURL is the API path of a recording's file.
func FileURL(id string) string { return "/api/v1/recordings/" + url.PathEscape(id) + "/file" }
