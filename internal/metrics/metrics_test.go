package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
)

type camView pipeline.CameraStatus

func (c camView) Status() pipeline.CameraStatus { return pipeline.CameraStatus(c) }

type recView struct {
	st record.RecordingStatus
	n  record.Counters
}

func (r recView) Status() record.RecordingStatus { return r.st }
func (r recView) Counters() record.Counters      { return r.n }

type restreamView restream.Status

func (r restreamView) Status() restream.Status { return restream.Status(r) }

type uploadView map[string]upload.Status

func (u uploadView) Status(camera string) (upload.Status, bool) {
	s, ok := u[camera]
	return s, ok
}

// TestCollector: each figure of a camera's and a recorder's status becomes
// the series the README documents, with its type and help; a camera
// without a recorder has no recording series; the names pass the linter
// promtool uses.
func TestCollector(t *testing.T) {
	cams := []Camera{
		{Camera: camView{Name: "cam0", State: pipeline.StateStreaming, Frames: 120, FramesInvalid: 2, FramesCorrupt: 1,
			Restarts: 3, FPSMeasured: 29.5, Clients: 2, ClientDrops: 7},
			Recorder: recView{record.RecordingStatus{Active: true, Bytes: 1000, Restarts: 1, StartLatencyMS: 60},
				record.Counters{Complete: 4, Failed: 1, Bytes: 5000, DeletedKeep: 2, DeletedMinFree: 1}},
			Uploads:  uploadView{"cam0": {State: upload.StateRetrying, Pending: 2, Uploaded: 3, Bytes: 3000, Failures: 4}},
			Restream: restreamView{State: restream.StateRunning, Restarts: 2, Frames: 900}},
		{Camera: camView{Name: "garage", State: pipeline.StateDisconnected},
			Restream: restreamView{State: restream.StateRetrying, Restarts: 5}},
	}
	c := NewCollector(cams, "/srv/rec", func(dir string) (int64, int64, error) {
		if dir != "/srv/rec" {
			return 0, 0, errors.New("wrong dir")
		}
		return 100, 1000, nil
	})
	reg := NewRegistry(c, "v1.2.3")
	const want = `
# HELP camrec_camera_fps Frame rate measured over the last seconds.
# TYPE camrec_camera_fps gauge
camrec_camera_fps{camera="cam0"} 29.5
camrec_camera_fps{camera="garage"} 0
# HELP camrec_camera_frames_corrupt_total Frames the driver flagged as corrupt (dropped).
# TYPE camrec_camera_frames_corrupt_total counter
camrec_camera_frames_corrupt_total{camera="cam0"} 1
camrec_camera_frames_corrupt_total{camera="garage"} 0
# HELP camrec_camera_frames_invalid_total Frames dropped as invalid (not a whole JPEG).
# TYPE camrec_camera_frames_invalid_total counter
camrec_camera_frames_invalid_total{camera="cam0"} 2
camrec_camera_frames_invalid_total{camera="garage"} 0
# HELP camrec_camera_frames_total Frames captured.
# TYPE camrec_camera_frames_total counter
camrec_camera_frames_total{camera="cam0"} 120
camrec_camera_frames_total{camera="garage"} 0
# HELP camrec_camera_restarts_total Streams that failed after delivering frames and were reopened.
# TYPE camrec_camera_restarts_total counter
camrec_camera_restarts_total{camera="cam0"} 3
camrec_camera_restarts_total{camera="garage"} 0
# HELP camrec_camera_state 1 for the camera's current state, 0 for the others.
# TYPE camrec_camera_state gauge
camrec_camera_state{camera="cam0",state="disconnected"} 0
camrec_camera_state{camera="cam0",state="error"} 0
camrec_camera_state{camera="cam0",state="stalled"} 0
camrec_camera_state{camera="cam0",state="starting"} 0
camrec_camera_state{camera="cam0",state="streaming"} 1
camrec_camera_state{camera="garage",state="disconnected"} 1
camrec_camera_state{camera="garage",state="error"} 0
camrec_camera_state{camera="garage",state="stalled"} 0
camrec_camera_state{camera="garage",state="starting"} 0
camrec_camera_state{camera="garage",state="streaming"} 0
# HELP camrec_ffmpeg_restarts_total Times ffmpeg died and the recording went on in a new file.
# TYPE camrec_ffmpeg_restarts_total counter
camrec_ffmpeg_restarts_total{camera="cam0"} 1
# HELP camrec_preview_clients Live-preview clients connected.
# TYPE camrec_preview_clients gauge
camrec_preview_clients{camera="cam0"} 2
camrec_preview_clients{camera="garage"} 0
# HELP camrec_preview_frames_dropped_total Frames live-preview clients lost because they read too slowly.
# TYPE camrec_preview_frames_dropped_total counter
camrec_preview_frames_dropped_total{camera="cam0"} 7
camrec_preview_frames_dropped_total{camera="garage"} 0
# HELP camrec_record_dir_free_bytes Bytes free for camrec in the record dir's filesystem.
# TYPE camrec_record_dir_free_bytes gauge
camrec_record_dir_free_bytes 100
# HELP camrec_record_dir_size_bytes Size of the record dir's filesystem.
# TYPE camrec_record_dir_size_bytes gauge
camrec_record_dir_size_bytes 1000
# HELP camrec_recording_active 1 while the camera records.
# TYPE camrec_recording_active gauge
camrec_recording_active{camera="cam0"} 1
# HELP camrec_recording_bytes_total Bytes of recordings written (finished files and the one being written).
# TYPE camrec_recording_bytes_total counter
camrec_recording_bytes_total{camera="cam0"} 6000
# HELP camrec_recording_start_latency_seconds From the request to the first frame written to ffmpeg, for the recording running now.
# TYPE camrec_recording_start_latency_seconds gauge
camrec_recording_start_latency_seconds{camera="cam0"} 0.06
# HELP camrec_recordings_total Recording files finished, by outcome.
# TYPE camrec_recordings_total counter
camrec_recordings_total{camera="cam0",outcome="complete"} 4
camrec_recordings_total{camera="cam0",outcome="failed"} 1
# HELP camrec_restream_frames_total Frames handed to the media server.
# TYPE camrec_restream_frames_total counter
camrec_restream_frames_total{camera="cam0"} 900
camrec_restream_frames_total{camera="garage"} 0
# HELP camrec_restream_restarts_total Failed tries of the restream (the server gone, refusing, or the stream broken).
# TYPE camrec_restream_restarts_total counter
camrec_restream_restarts_total{camera="cam0"} 2
camrec_restream_restarts_total{camera="garage"} 5
# HELP camrec_restream_up 1 while the media server takes the camera's restream, else 0 (idle, connecting, retrying).
# TYPE camrec_restream_up gauge
camrec_restream_up{camera="cam0"} 1
camrec_restream_up{camera="garage"} 0
# HELP camrec_retention_deleted_total Recordings deleted by retention, by rule.
# TYPE camrec_retention_deleted_total counter
camrec_retention_deleted_total{camera="cam0",rule="keep"} 2
camrec_retention_deleted_total{camera="cam0",rule="max_disk"} 0
camrec_retention_deleted_total{camera="cam0",rule="min_free"} 1
# HELP camrec_upload_bytes_total Bytes of recordings uploaded and verified.
# TYPE camrec_upload_bytes_total counter
camrec_upload_bytes_total{camera="cam0"} 3000
# HELP camrec_upload_pending Finished recordings not yet uploaded.
# TYPE camrec_upload_pending gauge
camrec_upload_pending{camera="cam0"} 2
# HELP camrec_uploads_total Upload tries to S3-compatible storage, by outcome (uploaded and verified, or failed).
# TYPE camrec_uploads_total counter
camrec_uploads_total{camera="cam0",outcome="failed"} 4
camrec_uploads_total{camera="cam0",outcome="uploaded"} 3
`
	var names []string
	for _, line := range strings.Split(want, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "TYPE" {
			names = append(names, f[2])
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "camrec_build_info"); err != nil || n != 1 {
		t.Errorf("camrec_build_info: %d series, %v", n, err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestExpositionRounded: a start latency of 111.1 ms is scraped, over
// HTTP, as 0.1111 s, not as the float division's 0.11109999999999999.
func TestExpositionRounded(t *testing.T) {
	cams := []Camera{{Camera: camView{Name: "cam0", State: pipeline.StateStreaming, FPSMeasured: 29.97},
		Recorder: recView{st: record.RecordingStatus{Active: true, StartLatencyMS: 111.1}}}}
	c := NewCollector(cams, "/srv/rec", func(string) (int64, int64, error) { return 100, 1000, nil })
	srv := httptest.NewServer(Handler(NewRegistry(c, "v1.2.3")))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\ncamrec_recording_start_latency_seconds{camera=\"cam0\"} 0.1111\n",
		"\ncamrec_camera_fps{camera=\"cam0\"} 29.97\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the exposition lacks %q", strings.TrimSpace(want))
		}
	}
}
