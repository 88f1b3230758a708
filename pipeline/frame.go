package pipeline

import "time"

// Frame is one complete JPEG image (SOI .. EOI) with its capture metadata.
// Nothing may modify a Frame or its Data once it has been published.
type Frame struct {
	// Data is the JPEG, starting with FF D8 and ending with FF D9.
	Data []byte
	// Seq counts the frames of one source from 0.
	Seq uint64
	// Time is the capture time (wall clock).
	Time time.Time
}

// Format describes what a source delivers after negotiation.
type Format struct {
	// Name is the pixel format as the user knows it ("mjpeg").
	Name   string  `json:"format"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps_target"`
}
