// Package record records one camera: a Recorder subscribes to the camera's
// hub (package pipeline), resamples the frames to a constant rate (an
// H.264 camera's frames: each with its capture time) and writes them into
// ffmpeg, which encodes or copies them into files that the catalogue
// (package store) lists.
//
// Where things are:
//
//	recorder_config.go  RecorderConfig: settings, their defaults (one place), validation
//	recorder.go         Recorder: its parts, the timing constants, SetActive, retention
//	supervisor.go       Run, the owner loop: one method per event (request, end, retry)
//	recorder_status.go  states and Status
//	session.go          one recording: start (camera and ffmpeg ready), run, stop
//	writer.go           frames into ffmpeg; where a file is cut (segments, max duration)
//	writer_h264.go      an H.264 camera's frames: not resampled, files and cuts at keyframes
//	camera_away.go      the camera going away, stalling or restarting, and coming back
//	files.go            files: open, rotate, replace a dead ffmpeg (backoff), fsync, finish
//	encoder.go          one ffmpeg writing one file: start, the one stop escalation; the seam tests fake
//	ffmpeg.go           ffmpeg's arguments, finding ffmpeg, its stderr
//	mkvpipe.go          the Matroska stream an encoding ffmpeg reads: each frame once, at its slot's time
//	remux.go            fragmented MP4 → plain MP4, a crashed MKV's duration; a file's event once it is final
//	resample.go         capture times to a constant frame rate
//	prerecord.go        the last seconds kept in memory
//
// Everything about time (segment cuts, maximum duration, pre-record,
// restart backoff, continuous retries, fsync interval, the stop escalation
// and its patience with an encoder's backlog, an encoder slower than the
// camera, the camera going away) is tested on
// virtual time with a process-less encoder (recorder_virtual*_test.go,
// encoder_fake_test.go); what ffmpeg makes of the frames is tested with
// ffmpeg.
package record
