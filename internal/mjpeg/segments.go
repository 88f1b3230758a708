package mjpeg

import (
	"errors"
	"fmt"
)

// Marker codes (the byte after 0xFF) used in this package.
const (
	markerSOF0  = 0xC0
	markerDHT   = 0xC4
	markerJPG   = 0xC8
	markerDAC   = 0xCC
	markerSOF15 = 0xCF
	markerRST0  = 0xD0
	markerRST7  = 0xD7
	markerSOI   = 0xD8
	markerEOI   = 0xD9
	markerSOS   = 0xDA
	markerDRI   = 0xDD
	markerCOM   = 0xFE
	markerTEM   = 0x01
)

// Sentinel errors.
var (
	// ErrNoSOI: the data does not start with a JPEG start-of-image marker.
	ErrNoSOI = errors.New("mjpeg: no SOI marker at start")
	// ErrNoEOI: the data holds no JPEG end-of-image marker.
	ErrNoEOI = errors.New("mjpeg: no EOI marker")
	// ErrNoSOF: the header holds no start-of-frame segment before the scan.
	ErrNoSOF = errors.New("mjpeg: no SOF segment")
	// ErrBadSegment: the header's marker segments are malformed or truncated.
	ErrBadSegment = errors.New("mjpeg: malformed marker segment")
)

// standalone reports whether marker m has no length field.
func standalone(m byte) bool {
	return m == markerTEM || (m >= markerRST0 && m <= markerEOI)
}

// isSOF reports whether m starts a frame (SOF0..SOF15 minus DHT, JPG, DAC).
func isSOF(m byte) bool {
	return m >= markerSOF0 && m <= markerSOF15 && m != markerDHT && m != markerJPG && m != markerDAC
}

// segment is one marker segment of a JPEG header.
type segment struct {
	marker  byte
	off     int    // offset of the 0xFF of the marker
	payload []byte // bytes after the length field; nil for standalone markers
}

// walkHeader calls fn for each marker segment after SOI up to and including
// the first SOS, without looking into entropy-coded data. It stops early when
// fn returns false. It fails when b does not start with SOI or the segments
// are malformed before an SOS was reached.
func walkHeader(b []byte, fn func(s segment) bool) error {
	if len(b) < 2 || b[0] != 0xFF || b[1] != markerSOI {
		return ErrNoSOI
	}
	i := 2
	for {
		if i+2 > len(b) {
			return fmt.Errorf("%w: header ends at byte %d", ErrBadSegment, i)
		}
		if b[i] != 0xFF {
			return fmt.Errorf("%w: byte %d is %#02x, want a marker", ErrBadSegment, i, b[i])
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte before a marker
			i++
			continue
		case m == 0x00:
			return fmt.Errorf("%w: stuffed byte at %d outside a scan", ErrBadSegment, i)
		case m == markerEOI:
			return fmt.Errorf("%w: EOI at %d before any scan", ErrBadSegment, i)
		case standalone(m):
			if !fn(segment{marker: m, off: i}) {
				return nil
			}
			i += 2
			continue
		}
		if i+4 > len(b) {
			return fmt.Errorf("%w: segment %#02x at %d truncated", ErrBadSegment, m, i)
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return fmt.Errorf("%w: segment %#02x at %d has length %d", ErrBadSegment, m, i, n)
		}
		if !fn(segment{marker: m, off: i, payload: b[i+4 : i+2+n]}) || m == markerSOS {
			return nil
		}
		i += 2 + n
	}
}
