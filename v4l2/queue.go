package v4l2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blackjack/webcam's GetFrame runs VIDIOC_DQBUF and throws away the buffer's
// flags, timestamp and sequence. camrec needs them (V4L2_BUF_FLAG_ERROR
// frames are corrupt; the driver's timestamp is the capture time), so it
// dequeues buffers itself on the same descriptor and reads them through its
// own read-only mappings of the driver's buffers. The library still sets
// up, requeues (ReleaseFrame = VIDIOC_QBUF) and tears down the queue.

// V4L2 constants (linux/videodev2.h).
const (
	bufTypeVideoCapture = 1
	memoryMMAP          = 1

	bufFlagError         = 0x00000040
	bufFlagTimestampMask = 0x0000e000
	bufFlagTimestampMono = 0x00002000
)

// v4l2Buffer is struct v4l2_buffer. The union m holds the mmap offset in its
// first four bytes (little-endian machines: amd64, arm64, arm).
type v4l2Buffer struct {
	index     uint32
	typ       uint32
	bytesused uint32
	flags     uint32
	field     uint32
	timestamp unix.Timeval
	timecode  [16]byte
	sequence  uint32
	memory    uint32
	m         [unsafe.Sizeof(uintptr(0))]byte
	length    uint32
	reserved2 uint32
	reserved  uint32
}

// v4l2Format is struct v4l2_format; fmt starts with struct v4l2_pix_format
// (width, height, pixelformat, field, bytesperline, sizeimage, ...).
type v4l2Format struct {
	typ uint32
	_   [unsafe.Sizeof(uintptr(0)) - 4]byte // the union is pointer-aligned
	fmt [200]byte
}

// _IOWR('V', nr, size)
func iowr(nr, size uintptr) uintptr {
	const read, write = 2, 1
	return (read|write)<<30 | size<<16 | 'V'<<8 | nr
}

var (
	vidiocGFmt     = iowr(4, unsafe.Sizeof(v4l2Format{}))
	vidiocQueryBuf = iowr(9, unsafe.Sizeof(v4l2Buffer{}))
	vidiocDQBuf    = iowr(17, unsafe.Sizeof(v4l2Buffer{}))
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// pixFormat is what VIDIOC_G_FMT says the device delivers.
type pixFormat struct {
	width, height, code, bytesPerLine, sizeImage uint32
}

// getFormat runs VIDIOC_G_FMT: unlike the library's SetImageFormat, which
// returns the size asked for, it reports the size the driver set.
func getFormat(fd int) (pixFormat, error) {
	f := v4l2Format{typ: bufTypeVideoCapture}
	if err := ioctl(fd, vidiocGFmt, unsafe.Pointer(&f)); err != nil {
		return pixFormat{}, fmt.Errorf("VIDIOC_G_FMT: %w", err)
	}
	le := binary.LittleEndian
	return pixFormat{
		width:        le.Uint32(f.fmt[0:]),
		height:       le.Uint32(f.fmt[4:]),
		code:         le.Uint32(f.fmt[8:]),
		bytesPerLine: le.Uint32(f.fmt[16:]),
		sizeImage:    le.Uint32(f.fmt[20:]),
	}, nil
}

// mapBuffers maps every buffer of the device's (streaming) queue read-only,
// indexed by buffer index. unmapBuffers undoes it; it must run before the
// library closes the device, or the queue stays allocated.
func mapBuffers(fd int) ([][]byte, error) {
	var maps [][]byte
	for i := uint32(0); ; i++ {
		b := v4l2Buffer{index: i, typ: bufTypeVideoCapture, memory: memoryMMAP}
		err := ioctl(fd, vidiocQueryBuf, unsafe.Pointer(&b))
		if errors.Is(err, unix.EINVAL) && i > 0 {
			return maps, nil // past the last buffer
		}
		if err != nil {
			unmapBuffers(maps)
			return nil, fmt.Errorf("VIDIOC_QUERYBUF %d: %w", i, err)
		}
		offset := binary.LittleEndian.Uint32(b.m[:4])
		m, err := unix.Mmap(fd, int64(offset), int(b.length), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			unmapBuffers(maps)
			return nil, fmt.Errorf("mmap buffer %d: %w", i, err)
		}
		maps = append(maps, m)
		if i > 64 {
			return maps, nil // no driver hands out more; do not loop forever
		}
	}
}

func unmapBuffers(maps [][]byte) {
	for _, m := range maps {
		_ = unix.Munmap(m)
	}
}

// dequeued is one buffer taken from the driver by VIDIOC_DQBUF.
type dequeued struct {
	// data is valid until the buffer is requeued or the device closed.
	data  []byte
	index uint32
	// corrupt: the driver set V4L2_BUF_FLAG_ERROR.
	corrupt bool
	// time is the driver's capture time converted to wall time; zero when
	// the driver gives no monotonic timestamp.
	time     time.Time
	sequence uint32
}

// dequeue runs VIDIOC_DQBUF on fd and returns the buffer from maps.
func dequeue(fd int, maps [][]byte) (dequeued, error) {
	b := v4l2Buffer{typ: bufTypeVideoCapture, memory: memoryMMAP}
	if err := ioctl(fd, vidiocDQBuf, unsafe.Pointer(&b)); err != nil {
		return dequeued{}, err
	}
	if int(b.index) >= len(maps) {
		return dequeued{}, fmt.Errorf("driver returned buffer %d of %d", b.index, len(maps))
	}
	m := maps[b.index]
	n := min(int(b.bytesused), len(m))
	d := dequeued{data: m[:n], index: b.index, corrupt: b.flags&bufFlagError != 0, sequence: b.sequence}
	if b.flags&bufFlagTimestampMask == bufFlagTimestampMono && (b.timestamp.Sec != 0 || b.timestamp.Usec != 0) {
		d.time = monoToWall(time.Duration(b.timestamp.Nano()), time.Now(), monoNow())
	}
	return d, nil
}

// monoNow reads CLOCK_MONOTONIC, the clock V4L2 timestamps buffers with.
func monoNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// maxFrameAge bounds a plausible driver timestamp: a frame older than this
// (or from the future) is a driver bug, and the time of dequeue is used.
const maxFrameAge = 10 * time.Second

// monoToWall converts a CLOCK_MONOTONIC capture time to wall time, given the
// wall and monotonic clocks read now.
func monoToWall(captured time.Duration, wallNow time.Time, monoNow time.Duration) time.Time {
	age := monoNow - captured
	if monoNow == 0 || age < 0 || age > maxFrameAge {
		return wallNow
	}
	return wallNow.Add(-age)
}
