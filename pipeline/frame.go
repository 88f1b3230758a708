package pipeline

import "time"

// Frame is one complete JPEG image (SOI .. EOI) with its capture metadata,
// or, from a camera that delivers raw pixels (YUYV), one raw image with an
// optional JPEG of it, or, from an H.264 camera, one access unit (PixFmt
// "h264") with an optional JPEG of it. Nothing may modify a Frame or its Data or Raw once it
// has been published.
type Frame struct {
	// Data is the JPEG, starting with FF D8 and ending with FF D9. For raw
	// frames it is nil unless the camera encoded a preview of this frame.
	Data []byte
	// Raw is the raw image of a raw camera: Height rows of Width pixels in
	// PixFmt, without padding (yuyv422: 2*Width bytes a row); for an H.264
	// camera, one access unit in Annex B form (start codes), a keyframe
	// carrying its SPS and PPS. nil for MJPEG.
	Raw []byte
	// PixFmt names Raw's layout the way ffmpeg's -pix_fmt does ("yuyv422"),
	// or "h264"; "" for MJPEG.
	PixFmt string
	// Width and Height of Raw (of an H.264 picture: what its SPS says); 0
	// for MJPEG frames (their SOF says).
	Width, Height int
	// Key marks an H.264 keyframe (IDR): a file or a decoder can start
	// there. Always false for other frames.
	Key bool
	// Seq counts the frames of one source from 0.
	Seq uint64
	// Time is the capture time (wall clock).
	Time time.Time
}

// Format describes what a source delivers after negotiation.
type Format struct {
	// Name is the pixel format as the user knows it ("mjpeg", "yuyv").
	Name   string
	Width  int
	Height int
	FPS    float64
}
