// Package restream publishes a camera to a media server (MediaMTX is the
// reference) over RTSP, RTMP or SRT, and owns the one H.264 encode that
// the restream and the recorder share.
//
// Where things are:
//
//	encoder.go     Encoder: one ffmpeg encoding the camera's MJPEG or raw frames to H.264 while anyone subscribes
//	restreamer.go  Restreamer: the ffmpeg that copies H.264 to the server; always or on demand, backoff, status
//	sei.go         the capture-time SEI stamped into every restreamed frame (for latency measurements)
//	ffmpeg.go      both ffmpegs' command lines, the server URL's checks and redaction, ffmpeg's stderr
//
// Encode once: for an MJPEG or YUYV camera, the Encoder is an H.264
// source like an H.264 camera (FrameHub, Format, Status): the Restreamer
// and, when the recording encodes with libx264 into MP4 or MKV, the
// recorder (package record, copying H.264 as it does for an H.264 camera)
// subscribe to it, and its ffmpeg runs while at least one of them does.
// An H.264 camera needs no encode: both take its frames as they are.
package restream
