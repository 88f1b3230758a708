package mjpeg

import "bytes"

var eoi = []byte{0xFF, markerEOI}

// Trim checks that b starts with SOI and cuts it after the EOI that ends
// its last scan: some drivers (v4l2loopback, some UVC cameras) report a
// whole buffer, the JPEG followed by junk that may hold an old frame's tail
// and its EOI. It follows the marker segments and the entropy-coded data
// (skipping stuffed bytes and restart markers), so an EOI inside a header
// segment (an EXIF thumbnail) or in the junk does not count. When the
// structure cannot be followed it falls back to the last EOI in b. The
// result is a subslice of b.
func Trim(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0xFF || b[1] != markerSOI {
		return nil, ErrNoSOI
	}
	if end := frameEnd(b); end > 0 {
		return b[:end], nil
	}
	i := bytes.LastIndex(b[2:], eoi)
	if i < 0 {
		return nil, ErrNoEOI
	}
	return b[:2+i+2], nil
}

// frameEnd returns the offset just past the EOI that ends the frame that
// starts at b[0], or -1 when the structure cannot be followed to an EOI.
func frameEnd(b []byte) int {
	i, scanned := 2, false
	for i+2 <= len(b) {
		if b[i] != 0xFF {
			return -1
		}
		m := b[i+1]
		switch {
		case m == 0xFF:
			i++
			continue
		case m == markerEOI:
			if !scanned {
				return -1
			}
			return i + 2
		case m == 0x00 || m == markerSOI:
			return -1
		case standalone(m):
			i += 2
			continue
		}
		if i+4 > len(b) {
			return -1
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 {
			return -1
		}
		i += 2 + n
		if m != markerSOS {
			continue
		}
		scanned = true
		// Entropy-coded data: runs to the next marker that is not a
		// stuffed 0xFF00 or a restart marker.
		for {
			j := bytes.IndexByte(b[min(i, len(b)):], 0xFF)
			if j < 0 {
				return -1
			}
			i += j
			if i+1 >= len(b) {
				return -1
			}
			if n := b[i+1]; n == 0x00 || (n >= markerRST0 && n <= markerRST7) {
				i += 2
				continue
			}
			if b[i+1] == 0xFF {
				i++
				continue
			}
			break
		}
	}
	return -1
}

// Size returns the image size stated in the frame's SOF segment. It walks
// the header segments only, so it costs the same for any image size.
func Size(b []byte) (w, h int, err error) {
	found := false
	err = walkHeader(b, func(s segment) bool {
		if isSOF(s.marker) && len(s.payload) >= 5 {
			h = int(s.payload[1])<<8 | int(s.payload[2])
			w = int(s.payload[3])<<8 | int(s.payload[4])
			found = true
			return false
		}
		return true
	})
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, ErrNoSOF
	}
	return w, h, nil
}
