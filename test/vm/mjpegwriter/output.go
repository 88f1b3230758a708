package main

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// V4L2 constants and structs (linux/videodev2.h) for the two ioctls the
// writer needs on a v4l2loopback output node.
const (
	bufTypeVideoOutput = 2          // V4L2_BUF_TYPE_VIDEO_OUTPUT
	fieldNone          = 1          // V4L2_FIELD_NONE
	colorspaceJPEG     = 7          // V4L2_COLORSPACE_JPEG
	pixFmtMJPEG        = 0x47504A4D // 'MJPG'
)

// pixFormat is struct v4l2_pix_format.
type pixFormat struct {
	Width, Height, PixelFormat, Field, BytesPerLine, SizeImage uint32
	Colorspace, Priv, Flags, YCbCrEnc, Quantization, XferFunc  uint32
}

// format is struct v4l2_format on 64-bit: the union is 8-byte aligned
// (struct v4l2_window holds pointers) and 200 bytes long.
type format struct {
	Type uint32
	_    uint32
	Pix  pixFormat
	_    [200 - unsafe.Sizeof(pixFormat{})]byte
}

// outputParm is struct v4l2_outputparm.
type outputParm struct {
	Capability, OutputMode  uint32
	Numerator, Denominator  uint32
	ExtendedMode, WriteBufs uint32
	_                       [4]uint32
}

// streamParm is struct v4l2_streamparm with the output member of its
// 200-byte union.
type streamParm struct {
	Type uint32
	Out  outputParm
	_    [200 - unsafe.Sizeof(outputParm{})]byte
}

func iowr(nr, size uintptr) uintptr { return 3<<30 | size<<16 | 'V'<<8 | nr }

// The ioctl numbers encode the struct sizes: fail the build if they drift.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(format{})-208]     // v4l2_format on 64-bit
	_ = [1]struct{}{}[unsafe.Sizeof(streamParm{})-204] // v4l2_streamparm
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// setOutputFormat sets MJPEG at w×h on the output side of fd (VIDIOC_S_FMT)
// and returns the buffer size the driver chose.
func setOutputFormat(fd, w, h int) (sizeImage int, err error) {
	f := format{Type: bufTypeVideoOutput, Pix: pixFormat{
		Width: uint32(w), Height: uint32(h), PixelFormat: pixFmtMJPEG, Field: fieldNone,
		SizeImage: uint32(w * h * 2), Colorspace: colorspaceJPEG,
	}}
	if err := ioctl(fd, iowr(5, unsafe.Sizeof(f)), unsafe.Pointer(&f)); err != nil {
		return 0, fmt.Errorf("VIDIOC_S_FMT MJPG %dx%d: %w", w, h, err)
	}
	if f.Pix.PixelFormat != pixFmtMJPEG || int(f.Pix.Width) != w || int(f.Pix.Height) != h {
		return 0, fmt.Errorf("VIDIOC_S_FMT: driver chose %#x %dx%d instead of MJPG %dx%d",
			f.Pix.PixelFormat, f.Pix.Width, f.Pix.Height, w, h)
	}
	return int(f.Pix.SizeImage), nil
}

// setOutputRate announces the frame rate to readers (VIDIOC_S_PARM). The
// rate is fps/1000 frames per second with millihertz precision.
func setOutputRate(fd int, fps float64) error {
	p := streamParm{Type: bufTypeVideoOutput, Out: outputParm{Numerator: 1000, Denominator: uint32(fps*1000 + 0.5)}}
	if err := ioctl(fd, iowr(22, unsafe.Sizeof(p)), unsafe.Pointer(&p)); err != nil {
		return fmt.Errorf("VIDIOC_S_PARM %g fps: %w", fps, err)
	}
	return nil
}
