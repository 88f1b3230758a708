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
// stream (test/bench/restreamlat) finds it and measures how late each frame
// arrives. Media servers pass SEI through (MediaMTX does, to RTSP, RTMP
// and SRT readers).
var CaptureTimeUUID = [16]byte{'c', 'a', 'm', 'r', 'e', 'c', '-', 'c', 'a', 'p', 't', 'u', 'r', 'e', 't', 's'}

// stamp returns au (Annex B) with the capture-time SEI of t in front of its
// first slice.
func stamp(au []byte, t time.Time) []byte {
	var payload [24]byte
	copy(payload[:], CaptureTimeUUID[:])
	binary.BigEndian.PutUint64(payload[16:], uint64(t.UnixMicro()))
	rbsp := append([]byte{h264.NALSEI, 5, byte(len(payload))}, payload[:]...)
	rbsp = append(rbsp, 0x80) // rbsp_trailing_bits
	nal := escape(rbsp)

	out := make([]byte, 0, len(au)+len(nal)+4)
	it := h264.Iter(au)
	placed := false
	for n, ok := it.Next(); ok; n, ok = it.Next() {
		if t := h264.Type(n); !placed && t >= 1 && t <= 5 {
			out = append(append(out, 0, 0, 0, 1), nal...)
			placed = true
		}
		out = append(append(out, 0, 0, 0, 1), n...)
	}
	return out
}

// CaptureTime returns the capture time carried by an SEI NAL unit (nal
// without its start code) that stamp wrote; false for any other NAL unit.
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

// escape inserts the emulation prevention bytes (00 00 0x, x <= 3 →
// 00 00 03 0x) that keep a NAL unit's payload from looking like a start
// code.
func escape(b []byte) []byte {
	out := make([]byte, 0, len(b)+4)
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
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
