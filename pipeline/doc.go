// Package pipeline moves camera frames from a Source through a Hub to their
// consumers: live-preview clients, the snapshot endpoint and the Recorder that
// feeds ffmpeg. It also keeps the catalogue of recordings on disk.
//
// A *Frame is immutable once published: the one copy of the image bytes
// happens where a frame enters the process (the V4L2 buffer, a pipe, a file),
// and every consumer shares that slice.
//
// Where things are:
//
//	  frame.go            Frame; errors.go: the sentinel errors callers branch on
//	capture and fan-out
//	  source*.go          Sources: V4L2, the test camera, file:, pipe:
//	  camera.go           Camera: runs a source, states, counters, restarts
//	  hub.go              Hub: non-blocking fan-out, a bounded queue per subscriber
//	  controls.go         V4L2 controls, run on the capture goroutine
//	  yuyv.go             JPEG preview of raw cameras
//	recording (one Recorder per camera)
//	  recorder_config.go  settings, defaults, validation
//	  recorder.go         Recorder: the owner loop, start/stop requests, restarts
//	  recorder_status.go  states and Status
//	  session.go          one recording: start (camera and ffmpeg ready), run, stop
//	  writer.go           frames into ffmpeg; the camera going away or coming back
//	  recording_files.go  files: open, cut into segments, replace a dead ffmpeg, fsync, finish
//	  resample.go         capture times to a constant frame rate
//	  prerecord.go        the last seconds kept in memory
//	  ffmpeg.go           ffmpeg's arguments, remux, ffprobe
//	recordings on disk
//	  recording.go        Recording and RecordingStatus as reported
//	  catalog.go          Catalog: List, Get, Delete
//	  catalog_files.go    opening a recording to serve it (no links, inside the dir)
//	  catalog_scan.go     rebuilding from disk at start-up, interrupted recordings
//	  catalog_write.go    the write side the recorder uses, remux bookkeeping
//	  sidecar.go          the JSON beside each recording
//	  retention.go        keep, max disk, min free
package pipeline
