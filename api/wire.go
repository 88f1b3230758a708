// This file holds the API's JSON: the wire shape of cameras, recordings and
// controls, and the one mapping from camrec's own types to it, so that no
// rename inside camrec changes what clients see (wire_test.go pins the
// field names). The types are exported for Go clients and the tests.

package api

import (
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
	"github.com/camrec/camrec/pipeline/store"
	"github.com/camrec/camrec/v4l2"
)

// CameraBody is a camera as GET /api/v1/cameras and /api/v1/cameras/{cam}
// show it: its capture status, with its recording status.
type CameraBody struct {
	Name          string  `json:"name"`
	Device        string  `json:"device"`
	State         string  `json:"state"` // starting, streaming, stalled, disconnected, error
	Error         string  `json:"error"`
	Format        string  `json:"format"`
	Width         int     `json:"width"`
	Height        int     `json:"height"`
	FPSTarget     float64 `json:"fps_target"`
	FPSMeasured   float64 `json:"fps_measured"`
	Frames        uint64  `json:"frames"`
	FramesInvalid uint64  `json:"frames_invalid"`
	FramesCorrupt uint64  `json:"frames_corrupt"` // flagged by the driver, dropped
	FramesEncoded uint64  `json:"frames_encoded"` // preview JPEGs of a raw camera
	Restarts      uint64  `json:"restarts"`       // streams reopened after a failure
	Clients       int     `json:"clients"`
	// PreviewFramesDropped counts the frames preview clients lost because
	// they read too slowly, since camrec started.
	PreviewFramesDropped uint64 `json:"preview_frames_dropped"`
	// ClientsRefused counts preview streams refused at max_clients.
	ClientsRefused uint64 `json:"clients_refused"`
	// HasControls is true for a camera with V4L2 controls (GET
	// /api/v1/cameras/{cam}/controls lists them); false for test:, file:
	// and pipe:, whose /controls answers 404, so clients need not ask.
	HasControls bool                `json:"has_controls"`
	Recording   RecordingStatusBody `json:"recording"`
	// Upload is the camera's upload status; absent when it does not upload.
	Upload *UploadStatusBody `json:"upload,omitempty"`
	// Restream is the camera's publication to a media server; absent when
	// it has none.
	Restream *RestreamStatusBody `json:"restream,omitempty"`
	// Motion is the camera's motion detection; absent when it is off
	// (motion.enabled false).
	Motion *MotionStatusBody `json:"motion,omitempty"`
}

// MotionStatusBody is a camera's motion detection, "motion" in CameraBody.
type MotionStatusBody struct {
	Armed bool `json:"armed"` // detection runs now
	// ArmedBy says what decides: "always" (no schedule, no override),
	// "schedule", or "user" (Override, until OverrideUntil: the schedule's
	// next change; null: until changed).
	ArmedBy       string     `json:"armed_by"`
	Override      *bool      `json:"override"`
	OverrideUntil *time.Time `json:"override_until"`
	Active        bool       `json:"active"`       // an event is open: motion now or within event_gap
	ActiveZones   []string   `json:"active_zones"` // the open event's zones
	Score         float64    `json:"score"`        // the last analysed frame's changed area, percent of the unmasked picture
	Events        uint64     `json:"events"`       // events since camrec started
	// LastEventAt is when the last event started; null before the first.
	LastEventAt    *time.Time `json:"last_event_at"`
	FramesAnalysed uint64     `json:"frames_analysed"`
	// FramesSkipped counts frames the detector did not keep up with.
	FramesSkipped uint64 `json:"frames_skipped"`
	// Error says why frames cannot be analysed ("" when they can).
	Error string `json:"error"`
	// LastEventID is the last event's ID (GET /api/v1/motion-events/{id});
	// null before the first.
	LastEventID *string `json:"last_event_id"`
	// Masks and Zones in use (the config's, or those saved from the page).
	Masks []motion.Polygon `json:"masks"`
	Zones []motion.Zone    `json:"zones"`
}

// RestreamStatusBody is a camera's restream, "restream" in CameraBody.
type RestreamStatusBody struct {
	State    string    `json:"state"` // idle, connecting, running, retrying
	Error    string    `json:"error"` // why the last try failed; "" once it runs again
	Since    time.Time `json:"since"` // of state
	Restarts uint64    `json:"restarts"`
	Mode     string    `json:"mode"`   // always, on_demand
	URL      string    `json:"url"`    // the password masked
	Frames   uint64    `json:"frames"` // handed to the server since camrec started
}

// UploadStatusBody is a camera's upload to S3-compatible storage, "upload"
// in CameraBody.
type UploadStatusBody struct {
	State     string `json:"state"`      // idle, uploading, retrying
	Pending   int    `json:"pending"`    // finished recordings not yet uploaded
	LastError string `json:"last_error"` // "" once an upload succeeds again
	Uploaded  uint64 `json:"uploaded"`   // files uploaded since camrec started
	Bytes     uint64 `json:"bytes"`      // their bytes
	Failures  uint64 `json:"failures"`   // failed tries since camrec started
}

// RecordingStatusBody is a camera's recording status: GET/PUT
// /api/v1/cameras/{cam}/recording, and "recording" in CameraBody.
type RecordingStatusBody struct {
	Active           bool       `json:"active"`
	ID               string     `json:"id"`         // "" when none is active
	StartedAt        *time.Time `json:"started_at"` // nil when none is active
	Frames           uint64     `json:"frames"`     // frames written to ffmpeg
	Bytes            int64      `json:"bytes"`      // size of the file so far
	Dropped          uint64     `json:"dropped"`    // frames lost to a full queue: the active recording's, or the last one's
	Error            string     `json:"error"`
	State            string     `json:"state"` // idle, recording, finishing, failed, waiting
	Segment          int        `json:"segment"`
	Restarts         uint64     `json:"restarts"`
	RetentionDeleted uint64     `json:"retention_deleted"`
	StartLatencyMS   float64    `json:"start_latency_ms"`
	// Trigger is why the active recording runs: manual, motion
	// (record_mode events) or continuous; "" when none is active.
	Trigger  string     `json:"trigger"`
	SyncedAt *time.Time `json:"synced_at"`
}

// RecordingBody is a recording as GET /api/v1/recordings lists it, with
// the URL of its file.
type RecordingBody struct {
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
	State      string     `json:"state"` // recording, complete, failed, interrupted
	Error      string     `json:"error,omitempty"`
	PrevID     string     `json:"prev_id,omitempty"`
	NextID     string     `json:"next_id,omitempty"`
	FileURL    string     `json:"file_url"`
	// UploadedAt and RemoteURL are set once the file is in the bucket;
	// Local is false once its local copy was deleted (file_url then
	// redirects to a short-lived presigned URL of the object).
	UploadedAt *time.Time `json:"uploaded_at,omitempty"`
	RemoteURL  string     `json:"remote_url,omitempty"`
	Local      bool       `json:"local"`
}

// ControlBody is a V4L2 control as GET /api/v1/cameras/{cam}/controls
// lists it.
type ControlBody struct {
	ID      uint32          `json:"id"`
	Name    string          `json:"name"`
	Key     string          `json:"key"`
	Type    string          `json:"type"`
	Min     int64           `json:"min"`
	Max     int64           `json:"max"`
	Step    uint64          `json:"step"`
	Default int64           `json:"default"`
	Value   int64           `json:"value"`
	Flags   []string        `json:"flags"`
	Menu    []MenuEntryBody `json:"menu,omitempty"`
}

// MenuEntryBody is one entry of a menu control.
type MenuEntryBody struct {
	Index int64  `json:"index"`
	Name  string `json:"name,omitempty"`
	Value int64  `json:"value,omitempty"`
}

// SetControlBody answers a successful PUT of a control: the control as the
// driver reports it, and that the value is volatile: it is re-applied when
// the camera reconnects, but lost when camrec restarts (lasting values
// belong in controls: in the config file).
type SetControlBody struct {
	ControlBody
	Volatile bool `json:"volatile"`
}

func fileURL(id string) string { return events.FileURL(id) }

func cameraBody(c pipeline.CameraStatus, refused uint64, rec RecordingStatusBody) CameraBody {
	return CameraBody{
		Name: c.Name, Device: c.Device, State: c.State, Error: c.Error, Format: c.Format,
		Width: c.Width, Height: c.Height, FPSTarget: c.FPSTarget, FPSMeasured: c.FPSMeasured,
		Frames: c.Frames, FramesInvalid: c.FramesInvalid, FramesCorrupt: c.FramesCorrupt,
		FramesEncoded: c.FramesEncoded, Restarts: c.Restarts, Clients: c.Clients,
		PreviewFramesDropped: c.ClientDrops, ClientsRefused: refused, Recording: rec,
	}
}

func recordingStatusBody(r record.RecordingStatus) RecordingStatusBody {
	return RecordingStatusBody{
		Active: r.Active, ID: r.ID, StartedAt: r.StartedAt, Frames: r.Frames, Bytes: r.Bytes,
		Dropped: r.Dropped, Error: r.Error, State: r.State, Segment: r.Segment, Restarts: r.Restarts,
		RetentionDeleted: r.RetentionDeleted, StartLatencyMS: r.StartLatencyMS, SyncedAt: r.SyncedAt, Trigger: r.Trigger,
	}
}

func recordingBody(r store.Recording) RecordingBody {
	return RecordingBody{
		ID: r.ID, Camera: r.Camera, StartedAt: r.StartedAt, EndedAt: r.EndedAt, DurationS: r.DurationS,
		Bytes: r.Bytes, Container: r.Container, VideoCodec: r.VideoCodec, Width: r.Width, Height: r.Height,
		State: r.State, Error: r.Error, PrevID: r.PrevID, NextID: r.NextID,
		FileURL: fileURL(r.ID), UploadedAt: r.UploadedAt, RemoteURL: r.RemoteURL, Local: !r.RemoteOnly,
	}
}

func restreamStatusBody(r restream.Status) *RestreamStatusBody {
	return &RestreamStatusBody{State: r.State, Error: r.Error, Since: r.Since.UTC(), Restarts: r.Restarts,
		Mode: r.Mode, URL: r.URL, Frames: r.Frames}
}

func uploadStatusBody(u upload.Status) *UploadStatusBody {
	return &UploadStatusBody{State: u.State, Pending: u.Pending, LastError: u.LastError,
		Uploaded: u.Uploaded, Bytes: u.Bytes, Failures: u.Failures}
}

func controlBody(c v4l2.Control) ControlBody {
	b := ControlBody{
		ID: c.ID, Name: c.Name, Key: c.Key, Type: c.Type, Min: c.Min, Max: c.Max, Step: c.Step,
		Default: c.Default, Value: c.Value, Flags: c.Flags,
	}
	if b.Flags == nil {
		b.Flags = []string{}
	}
	for _, m := range c.Menu {
		b.Menu = append(b.Menu, MenuEntryBody{Index: m.Index, Name: m.Name, Value: m.Value})
	}
	return b
}
