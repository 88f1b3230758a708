// Package v4l2 opens Video4Linux2 capture devices, negotiates MJPEG at the
// size and rate nearest to the one asked for, and reads frames out of the
// driver's buffers as fresh, trimmed JPEG byte slices with a capture time.
// It also enumerates devices for `camrec -list-devices`.
//
// It is the only package of camrec that imports github.com/blackjack/webcam,
// and it knows nothing of hubs, recorders or HTTP: it hands out bytes,
// timestamps and device errors (ErrDisconnected when the camera is gone).
package v4l2
