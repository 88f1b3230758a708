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
	// ErrClosed: the device was closed.
	ErrClosed = errors.New("device closed")
)

// noMJPEGError names what a camera without MJPEG offers.
type noMJPEGError struct {
	path   string
	offers []string // human names, e.g. "YUYV 4:2:2"
	yuyv   bool
}

func (e *noMJPEGError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "camera %s offers no MJPEG", e.path)
	if len(e.offers) > 0 {
		fmt.Fprintf(&b, " (offers: %s)", strings.Join(e.offers, ", "))
	} else {
		b.WriteString(" (offers no capture format at all)")
	}
	if e.yuyv {
		b.WriteString("; YUYV support comes later")
	}
	return b.String()
}

func (e *noMJPEGError) Is(target error) bool { return target == ErrNoMJPEG }
