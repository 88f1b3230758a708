// Package metrics exposes camrec's state to Prometheus. Nothing is counted
// twice: at each scrape, a Collector reads the status and counters the
// cameras and recorders keep anyway, so the hot path pays nothing for
// metrics.
package metrics

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/upload"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/restream"
)

// CameraView is what the collector reads of a camera.
type CameraView interface {
	Status() pipeline.CameraStatus
}

// RecorderView is what the collector reads of a camera's recorder.
type RecorderView interface {
	Status() record.RecordingStatus
	Counters() record.Counters
}

// UploadView is what the collector reads of the uploads.
type UploadView interface {
	Status(camera string) (upload.Status, bool)
}

// RestreamView is what the collector reads of a camera's restream.
type RestreamView interface {
	Status() restream.Status
}

// MotionView is what the collector reads of a camera's motion detection.
type MotionView interface {
	Status() detect.Status
}

// Camera is one camera to report: its recorder, uploads, restream and
// motion detection may be nil.
type Camera struct {
	Camera   CameraView
	Recorder RecorderView
	Uploads  UploadView
	Restream RestreamView
	Motion   MotionView
}

// Collector reads the cameras' and recorders' status at each scrape.
type Collector struct {
	cams      []Camera
	recordDir string
	diskFree  func(dir string) (free, total int64, err error)

	frames, invalid, corrupt, restarts, fps, state, clients, clientDrops   *prometheus.Desc
	recActive, recBytes, recFiles, ffmpegRestarts, startLatency, retention *prometheus.Desc
	dirFree, dirSize                                                       *prometheus.Desc
	uploads, uploadBytes, uploadPending                                    *prometheus.Desc
	restreamUp, restreamRestarts, restreamFrames                           *prometheus.Desc
	motionActive, motionEvents, motionFrames, motionSkipped, motionSeconds *prometheus.Desc
}

// NewCollector returns a collector of cams, and of the free space in
// recordDir as diskFree tells it.
func NewCollector(cams []Camera, recordDir string, diskFree func(string) (int64, int64, error)) *Collector {
	cam := []string{"camera"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("camrec_"+name, help, labels, nil)
	}
	return &Collector{
		cams: cams, recordDir: recordDir, diskFree: diskFree,
		frames:           d("camera_frames_total", "Frames captured.", cam...),
		invalid:          d("camera_frames_invalid_total", "Frames dropped as invalid (not a whole JPEG).", cam...),
		corrupt:          d("camera_frames_corrupt_total", "Frames the driver flagged as corrupt (dropped).", cam...),
		restarts:         d("camera_restarts_total", "Streams that failed after delivering frames and were reopened.", cam...),
		fps:              d("camera_fps", "Frame rate measured over the last seconds.", cam...),
		state:            d("camera_state", "1 for the camera's current state, 0 for the others.", "camera", "state"),
		clients:          d("preview_clients", "Live-preview clients connected.", cam...),
		clientDrops:      d("preview_frames_dropped_total", "Frames live-preview clients lost because they read too slowly.", cam...),
		recActive:        d("recording_active", "1 while the camera records.", cam...),
		recBytes:         d("recording_bytes_total", "Bytes of recordings written (finished files and the one being written).", cam...),
		recFiles:         d("recordings_total", "Recording files finished, by outcome.", "camera", "outcome"),
		ffmpegRestarts:   d("ffmpeg_restarts_total", "Times ffmpeg died and the recording went on in a new file.", cam...),
		startLatency:     d("recording_start_latency_seconds", "From the request to the first frame written to ffmpeg, for the recording running now.", cam...),
		retention:        d("retention_deleted_total", "Recordings deleted by retention, by rule.", "camera", "rule"),
		dirFree:          d("record_dir_free_bytes", "Bytes free for camrec in the record dir's filesystem."),
		dirSize:          d("record_dir_size_bytes", "Size of the record dir's filesystem."),
		uploads:          d("uploads_total", "Upload tries to S3-compatible storage, by outcome (uploaded and verified, or failed).", "camera", "outcome"),
		uploadBytes:      d("upload_bytes_total", "Bytes of recordings uploaded and verified.", cam...),
		uploadPending:    d("upload_pending", "Finished recordings not yet uploaded.", cam...),
		restreamUp:       d("restream_up", "1 while the media server takes the camera's restream, else 0 (idle, connecting, retrying).", cam...),
		restreamRestarts: d("restream_restarts_total", "Failed tries of the restream (the server gone, refusing, or the stream broken).", cam...),
		restreamFrames:   d("restream_frames_total", "Frames handed to the media server.", cam...),
		motionActive:     d("motion_active", "1 while a motion event is open (motion now or within event_gap).", cam...),
		motionEvents:     d("motion_events_total", "Motion events started.", cam...),
		motionFrames:     d("motion_frames_analysed_total", "Frames the motion detector analysed.", cam...),
		motionSkipped:    d("motion_frames_skipped_total", "Frames the motion detector did not keep up with.", cam...),
		motionSeconds:    d("motion_analysis_seconds_total", "Time the motion detector spent decoding and analysing frames.", cam...),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.frames, c.invalid, c.corrupt, c.restarts, c.fps, c.state, c.clients,
		c.clientDrops, c.recActive, c.recBytes, c.recFiles, c.ffmpegRestarts, c.startLatency, c.retention,
		c.dirFree, c.dirSize, c.uploads, c.uploadBytes, c.uploadPending,
		c.restreamUp, c.restreamRestarts, c.restreamFrames,
		c.motionActive, c.motionEvents, c.motionFrames, c.motionSkipped, c.motionSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, cam := range c.cams {
		st := cam.Camera.Status()
		name := st.Name
		counter(c.frames, st.Frames, name)
		counter(c.invalid, st.FramesInvalid, name)
		counter(c.corrupt, st.FramesCorrupt, name)
		counter(c.restarts, st.Restarts, name)
		gauge(c.fps, st.FPSMeasured, name)
		for _, s := range [...]string{pipeline.StateStarting, pipeline.StateStreaming, pipeline.StateStalled,
			pipeline.StateDisconnected, pipeline.StateError} {
			gauge(c.state, boolValue(st.State == s), name, s)
		}
		gauge(c.clients, float64(st.Clients), name)
		counter(c.clientDrops, st.ClientDrops, name)
		if cam.Uploads != nil {
			if u, ok := cam.Uploads.Status(name); ok {
				counter(c.uploads, u.Uploaded, name, "uploaded")
				counter(c.uploads, u.Failures, name, "failed")
				counter(c.uploadBytes, u.Bytes, name)
				gauge(c.uploadPending, float64(u.Pending), name)
			}
		}
		if cam.Restream != nil {
			r := cam.Restream.Status()
			gauge(c.restreamUp, boolValue(r.State == restream.StateRunning), name)
			counter(c.restreamRestarts, r.Restarts, name)
			counter(c.restreamFrames, r.Frames, name)
		}
		if cam.Motion != nil {
			if m := cam.Motion.Status(); m.Enabled {
				gauge(c.motionActive, boolValue(m.Active), name)
				counter(c.motionEvents, m.Events, name)
				counter(c.motionFrames, m.FramesAnalysed, name)
				counter(c.motionSkipped, m.FramesSkipped, name)
				ch <- prometheus.MustNewConstMetric(c.motionSeconds, prometheus.CounterValue, defs.RoundTo(m.AnalysisSeconds, 6), name)
			}
		}
		if cam.Recorder == nil {
			continue
		}
		rs, n := cam.Recorder.Status(), cam.Recorder.Counters()
		gauge(c.recActive, boolValue(rs.Active), name)
		counter(c.recBytes, n.Bytes+uint64(max(rs.Bytes, 0)), name)
		counter(c.recFiles, n.Complete, name, "complete")
		counter(c.recFiles, n.Failed, name, "failed")
		counter(c.ffmpegRestarts, rs.Restarts, name)
		// Milliseconds to 0.1 are seconds to 4 decimals: 0.1111, not
		// 0.11109999999999999.
		gauge(c.startLatency, defs.RoundTo(rs.StartLatencyMS/1000, 4), name)
		counter(c.retention, n.DeletedKeep, name, "keep")
		counter(c.retention, n.DeletedMaxDisk, name, "max_disk")
		counter(c.retention, n.DeletedMinFree, name, "min_free")
	}
	if free, total, err := c.diskFree(c.recordDir); err == nil {
		gauge(c.dirFree, float64(free))
		gauge(c.dirSize, float64(total))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry registers c, camrec's build info, and the Go runtime's and
// the process's collectors.
func NewRegistry(c *Collector, version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "camrec_build_info",
			Help:        "Always 1: camrec's version and the Go version it was built with.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// Handler serves reg's exposition.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
