package restream

import (
	"encoding/binary"
	"time"

	"github.com/camrec/camrec/internal/h264"
)

// Every frame camrec restreams carries its capture time in an SEI message
// of type user_data_unregistered (H.264 D.1.6): the 16 bytes of
// CaptureTimeUUID, then the capture time in microseconds since the Unix
// epoch, 8 bytes big-endian. Decoders skip it; a reader of the server's
// stream (test/bench/restreamcpu, the tests) finds it and measures how
// late each frame arrives. Media servers pass SEI through (MediaMTX does, to RTSP, RTMP
// and SRT readers).
var CaptureTimeUUID = [16]byte{'c', 'a', 'm', 'r', 'e', 'c', '-', 'c', 'a', 'p', 't', 'u', 'r', 'e', 't', 's'}

// appendCaptureSEI appends the capture-time SEI NAL unit of t (without a
// start code) to dst.
func appendCaptureSEI(dst []byte, t time.Time) []byte {
	var rbsp [3 + 24 + 1]byte
	rbsp[0], rbsp[1], rbsp[2] = h264.NALSEI, 5, 24 // user_data_unregistered, 24 bytes
	copy(rbsp[3:], CaptureTimeUUID[:])
	binary.BigEndian.PutUint64(rbsp[19:], uint64(t.UnixMicro()))
	rbsp[27] = 0x80 // rbsp_trailing_bits
	return appendEscaped(dst, rbsp[:])
}

// CaptureTime returns the capture time carried by an SEI NAL unit (nal
// without its start code) that appendCaptureSEI wrote; false for any other
// NAL unit.
func CaptureTime(nal []byte) (time.Time, bool) {
	if h264.Type(nal) != h264.NALSEI {
		return time.Time{}, false
	}
	b := unescape(nal[1:])
	if len(b) < 2+24 || b[0] != 5 || b[1] != 24 || [16]byte(b[2:18]) != CaptureTimeUUID {
		return time.Time{}, false
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b[18:26]))), true
}

// appendEscaped appends b with the emulation prevention bytes (00 00 0x,
// x <= 3 → 00 00 03 0x) that keep a NAL unit's payload from looking like
// a start code.
func appendEscaped(dst, b []byte) []byte {
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// unescape removes emulation prevention bytes.
func unescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
