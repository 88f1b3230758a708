package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/eventlog"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
	"github.com/camrec/camrec/pipeline/store"
	"github.com/camrec/camrec/v4l2"
)

// TestWireShape pins the JSON field names clients (the page, Home
// Assistant, scripts) rely on: a field renamed or dropped inside camrec
// must not change them. Each body is made from camrec's own types by the
// one mapping the handlers use, with every field set.
func TestWireShape(t *testing.T) {
	now := time.Now()
	rec := recordingStatusBody(record.RecordingStatus{Active: true, ID: "cam0-20260101-120000.mp4", StartedAt: &now,
		Frames: 1, Bytes: 1, Dropped: 1, Error: "e", State: record.RecorderRecording, Segment: 1, Restarts: 1,
		RetentionDeleted: 1, StartLatencyMS: 1, SyncedAt: &now})
	tests := []struct {
		name string
		body any
		want string // the keys, sorted
	}{
		{"camera", cameraBody(pipeline.CameraStatus{Name: "cam0", State: pipeline.StateStreaming}, 1, rec),
			"clients clients_refused device error format fps_measured fps_target frames frames_corrupt frames_encoded frames_invalid has_controls height name preview_frames_dropped recording restarts state width"},
		{"camera uploading", func() CameraBody {
			b := cameraBody(pipeline.CameraStatus{Name: "cam0"}, 0, rec)
			b.Upload = uploadStatusBody(upload.Status{State: upload.StateRetrying, Pending: 1, LastError: "e", Uploaded: 1, Bytes: 1, Failures: 1})
			return b
		}(), "clients clients_refused device error format fps_measured fps_target frames frames_corrupt frames_encoded frames_invalid has_controls height name preview_frames_dropped recording restarts state upload width"},
		{"camera restreamed", func() CameraBody {
			b := cameraBody(pipeline.CameraStatus{Name: "cam0"}, 0, rec)
			b.Restream = restreamStatusBody(restream.Status{State: restream.StateRunning, Mode: restream.ModeAlways, URL: "rtsp://h/x"})
			return b
		}(), "clients clients_refused device error format fps_measured fps_target frames frames_corrupt frames_encoded frames_invalid has_controls height name preview_frames_dropped recording restarts restream state width"},
		{"camera with motion detection", func() CameraBody {
			b := cameraBody(pipeline.CameraStatus{Name: "cam0"}, 0, rec)
			b.Motion = motionStatusBody(detect.Status{Enabled: true, Armed: true, Active: true, Score: 1, Events: 1, LastEvent: now})
			return b
		}(), "clients clients_refused device error format fps_measured fps_target frames frames_corrupt frames_encoded frames_invalid has_controls height motion name preview_frames_dropped recording restarts state width"},
		{"motion status", motionStatusBody(detect.Status{Enabled: true}),
			"active active_zones armed armed_by error events frames_analysed frames_skipped last_event_at last_event_id masks override override_until score zones"},
		{"motion event", events.Event{ID: 1, Type: events.MotionEnded, Time: now, Camera: "cam0", DurationS: 1, Score: 2.5, Zones: []string{"door"},
			EventID: "cam0-20260101T120000.000Z", SnapshotURL: "/api/v1/motion-events/cam0-20260101T120000.000Z/snapshot.jpg"}.Body(),
			"camera duration_s event_id id score snapshot_url time type zones"},
		{"catalogued motion event", motionEventBody(eventlog.Event{ID: "cam0-20260101T120000.000Z", Camera: "cam0", Start: now, End: now,
			Peak: 1, Zones: []string{"door"}, Snapshot: true}, []store.Recording{{ID: "r", Camera: "cam0", StartedAt: now.Add(-time.Second), EndedAt: &now}}),
			"active camera duration_s end id peak_score recordings snapshot_url start zones"},
		{"restream status", restreamStatusBody(restream.Status{State: restream.StateIdle}),
			"error frames mode restarts since state url"},
		{"upload status", uploadStatusBody(upload.Status{State: upload.StateIdle}),
			"bytes failures last_error pending state uploaded"},
		{"recording status", rec,
			"active bytes dropped error frames id restarts retention_deleted segment start_latency_ms started_at state synced_at trigger"},
		{"recording", recordingBody(store.Recording{ID: "cam0-20260101-120000.mp4", Camera: "cam0", StartedAt: now, EndedAt: &now,
			DurationS: 1, Bytes: 1, Container: "mp4", VideoCodec: "h264", Width: 1, Height: 1, State: store.RecStateFailed,
			Error: "e", PrevID: "p", NextID: "n", UploadedAt: &now, RemoteURL: "http://s3/b/k", RemoteOnly: true}),
			"bytes camera container duration_s ended_at error file_url height id local next_id prev_id remote_url started_at state uploaded_at video_codec width"},
		{"event", events.Event{ID: 1, Type: events.RecordingStopped, Time: now, Camera: "cam0", RecordingID: "cam0-20260101-120000.mp4",
			Path: "/var/lib/camrec/cam0-20260101-120000.mp4", DurationS: 1, Bytes: 1, State: "s", Error: "e", Rule: "r"}.Body(),
			"bytes camera duration_s error file_url id recording_id rule state time type"},
		{"control", SetControlBody{ControlBody: controlBody(v4l2.Control{ID: 1, Name: "Power Line Frequency", Key: "power_line_frequency",
			Type: v4l2.TypeMenu, Max: 2, Step: 1, Menu: []v4l2.MenuEntry{{Index: 1, Name: "50 Hz"}}}), Volatile: true},
			"default flags id key max menu min name step type value volatile"},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if got := strings.Join(keys, " "); got != tc.want {
			t.Errorf("%s: keys\n %s\nwant\n %s", tc.name, got, tc.want)
		}
	}
	// The one field only the API knows.
	if got := recordingBody(store.Recording{ID: "a b.mp4"}).FileURL; got != "/api/v1/recordings/a%20b.mp4/file" {
		t.Errorf("file_url %q", got)
	}
	// A control without flags shows [] (the page iterates over it).
	if b, _ := json.Marshal(controlBody(v4l2.Control{})); !strings.Contains(string(b), `"flags":[]`) {
		t.Errorf("control without flags: %s", b)
	}
}
