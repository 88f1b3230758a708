// Package v4l2 opens Video4Linux2 capture devices, negotiates MJPEG or YUYV
// at the size and rate nearest to the one asked for, and reads frames out of
// the driver's buffers as fresh byte slices (trimmed JPEGs, or packed YUYV)
// with the driver's capture time and sequence number. It also enumerates
// devices for `camrec -list-devices`.
//
// It is the only package of camrec that imports github.com/blackjack/webcam.
// The library sets up, requeues and tears down the buffer queue; camrec
// dequeues buffers itself (queue.go) because the library drops their flags
// (V4L2_BUF_FLAG_ERROR) and timestamps. The package knows nothing of hubs,
// recorders or HTTP: it hands out bytes, timestamps and device errors
// (ErrDisconnected when the camera is gone or not there).
package v4l2
