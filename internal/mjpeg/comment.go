package mjpeg

import (
	"strconv"
	"strings"
)

// maxComment is the most text one COM segment can hold.
const maxComment = 0xFFFF - 2

// WithComment returns a copy of b with a COM segment holding text inserted
// right after SOI. Text longer than a segment can hold is cut. b must start
// with SOI; if it does not, WithComment returns b unchanged.
func WithComment(b []byte, text string) []byte {
	if len(b) < 2 || b[0] != 0xFF || b[1] != markerSOI {
		return b
	}
	if len(text) > maxComment {
		text = text[:maxComment]
	}
	n := len(text) + 2
	out := make([]byte, 0, len(b)+2+n)
	out = append(out, 0xFF, markerSOI, 0xFF, markerCOM, byte(n>>8), byte(n))
	out = append(out, text...)
	return append(out, b[2:]...)
}

// Comment returns the text of the first COM segment before the first scan.
func Comment(b []byte) (string, bool) {
	var text string
	found := false
	_ = walkHeader(b, func(s segment) bool {
		if s.marker == markerCOM {
			text, found = string(s.payload), true
			return false
		}
		return true
	})
	return text, found
}

const camrecPrefix = "camrec seq="

// FormatCamrecComment returns the comment camrec stamps on frames it makes:
// "camrec seq=<n> ts=<unix-nanoseconds>".
func FormatCamrecComment(seq uint64, ts int64) string {
	var buf [64]byte
	return string(AppendCamrecComment(buf[:0], seq, ts))
}

// AppendCamrecComment appends FormatCamrecComment(seq, ts) to dst without
// allocating when dst has room.
func AppendCamrecComment(dst []byte, seq uint64, ts int64) []byte {
	dst = append(dst, camrecPrefix...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, " ts="...)
	return strconv.AppendInt(dst, ts, 10)
}

// ParseCamrecComment parses exactly the text FormatCamrecComment makes
// (no leading zeros, no extra spaces or signs).
func ParseCamrecComment(s string) (seq uint64, ts int64, ok bool) {
	rest, found := strings.CutPrefix(s, camrecPrefix)
	if !found {
		return 0, 0, false
	}
	seqText, tsText, found := strings.Cut(rest, " ts=")
	if !found {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	ts, err = strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	var buf [64]byte
	if string(AppendCamrecComment(buf[:0], seq, ts)) != s {
		return 0, 0, false
	}
	return seq, ts, true
}
