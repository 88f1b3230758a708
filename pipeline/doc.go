// Package pipeline moves camera frames from a Source through a Hub to their
// consumers: live-preview clients, the snapshot endpoint and the Recorder that
// feeds ffmpeg. It also keeps the catalogue of recordings on disk.
//
// A *Frame is immutable once published: the one copy of the image bytes
// happens where a frame enters the process (the V4L2 buffer, a pipe, a file),
// and every consumer shares that slice.
package pipeline
