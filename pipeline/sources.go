package pipeline

import (
	"strings"
)

// NewSource returns the Source for a device string as the user writes it:
// "test:" (the built-in test camera), "file:PATH" (replay JPEGs), "pipe:"
// (MJPEG on standard input), "pipe:PATH" (MJPEG from a FIFO), or a V4L2
// device path.
func NewSource(device string, opts SourceOptions) (Source, error) {
	var (
		src Source
		err error
	)
	switch {
	case device == "test:":
		src, err = NewPatternSource(opts)
	case strings.HasPrefix(device, "file:"):
		src, err = NewFileSource(strings.TrimPrefix(device, "file:"), opts)
	case strings.HasPrefix(device, "pipe:"):
		src, err = NewPipeSource(strings.TrimPrefix(device, "pipe:"), opts)
	default:
		src = NewV4L2Source(device, opts)
	}
	if err != nil {
		return nil, err
	}
	return src, nil
}
