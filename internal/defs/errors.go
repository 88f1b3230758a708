package defs

import "errors"

// Sentinel errors that callers branch on; the API maps them to HTTP codes.
var (
	// ErrNotFound: no such camera or recording (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the current state, such as
	// deleting a recording that is still being written (HTTP 409).
	ErrConflict = errors.New("conflict")
	// ErrFFmpegMissing: recording is impossible because ffmpeg cannot be run
	// (HTTP 503). Errors wrapping it carry the message for the user.
	ErrFFmpegMissing = errors.New("ffmpeg not found")
	// ErrUnavailable: something needed is not there yet, such as a snapshot
	// before the first frame (HTTP 503).
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the request is not valid for its target, such as a
	// control value out of range (HTTP 400). Errors wrapping it say what is
	// wrong.
	ErrInvalid = errors.New("invalid")
)

// RootCause returns the innermost error, so that "exec: "x": stat x: no
// such file" reads as "no such file or directory".
func RootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
