// Package vmtest holds the tests that run inside the test VM (test/vm/run.sh)
// against real kernel V4L2 drivers: vivid (a YUYV capture device) and
// v4l2loopback fed by mjpegwriter (an MJPEG camera). On any other machine
// they skip: they run only when CAMREC_VM=1, which the VM's guest script sets
// together with the paths of the binaries under test:
//
//	CAMREC_VM_BIN     the camrec binary
//	CAMREC_VM_WRITER  the mjpegwriter binary
//	CAMREC_VM_FFMPEG  an ffmpeg wrapper that runs the host's ffmpeg
//	CAMREC_VM_OUT     a folder shared with the host (logs land here)
package vmtest
