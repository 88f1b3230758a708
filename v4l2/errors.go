package v4l2

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors that callers branch on.
var (
	// ErrNoMJPEG: the device offers no MJPEG format. The wrapping error
	// names the formats it does offer.
	ErrNoMJPEG = errors.New("no MJPEG")
	// ErrDisconnected: the device is gone (ENODEV, typically an unplug).
	// Errors wrapping it also wrap syscall.ENODEV. Reopen by a stable
	// path (/dev/v4l/by-id/...) with backoff.
	ErrDisconnected = errors.New("camera disconnected")
	// ErrInvalidFrame: one frame was dropped because it is not a complete
	// JPEG (no SOI or no EOI). Count it and read on.
	ErrInvalidFrame = errors.New("invalid frame")
	// ErrNoFormat: the device offers none of the formats asked for (MJPEG
	// or YUYV). The wrapping error names the formats it does offer.
	ErrNoFormat = errors.New("no usable format")
	// ErrCorruptFrame: the driver flagged one buffer as corrupt
	// (V4L2_BUF_FLAG_ERROR); it was dropped. Count it and read on.
	ErrCorruptFrame = errors.New("driver flagged the frame as corrupt")
	// ErrClosed: the device was closed.
	ErrClosed = errors.New("device closed")
)

// noFormatError names what a camera without the wanted format offers.
type noFormatError struct {
	path   string
	want   string   // "MJPEG", "YUYV", "MJPEG or YUYV"
	offers []string // human names, e.g. "YUYV 4:2:2"
	yuyv   bool
}

func (e *noFormatError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "camera %s offers no %s", e.path, e.want)
	if len(e.offers) > 0 {
		fmt.Fprintf(&b, " (offers: %s)", strings.Join(e.offers, ", "))
	} else {
		b.WriteString(" (offers no capture format at all)")
	}
	if e.yuyv && e.want == "MJPEG" {
		b.WriteString("; use format auto or yuyv")
	}
	return b.String()
}

func (e *noFormatError) Is(target error) bool {
	return target == ErrNoFormat || (target == ErrNoMJPEG && e.want == "MJPEG")
}
