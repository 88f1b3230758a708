// Package pipeline moves camera frames from a Source through a Camera to
// its Hubs, whose subscribers are the live-preview clients, the snapshot
// endpoint and each camera's recorder (package record).
//
// A *Frame is immutable once published: the one copy of the image bytes
// happens where a frame enters the process (the V4L2 buffer, a pipe, a file),
// and every consumer shares that slice.
//
// Where things are:
//
//	frame.go          Frame and Format
//	source.go         Source and Sink; sources.go picks one for a device string
//	source_*.go       the sources: V4L2, the test camera (test:), file:, pipe: (MJPEG or H.264)
//	camera.go         Camera: runs a source, states, counters, restarts after a failure
//	camera_status.go  CameraStatus; the measured rate and stall detection
//	hub.go            Hub: non-blocking fan-out, a bounded queue per subscriber
//	controls.go       V4L2 controls, run on the capture goroutine
//	yuyv.go           JPEG previews of raw (YUYV) cameras
//	h264preview.go    JPEG previews of H.264 cameras: an ffmpeg decoder run only while watched
//
// Recording lives in pipeline/record, the recordings on disk in
// pipeline/store; imports go one way: v4l2 ← pipeline ← record → store.
// The sentinel errors, RoundTo and Backoff are internal/defs', below all
// of them.
package pipeline
