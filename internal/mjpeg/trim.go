package mjpeg

import "bytes"

var eoi = []byte{0xFF, markerEOI}

// Trim checks that b starts with SOI and cuts it after its last EOI: some
// drivers (v4l2loopback, some UVC cameras) report a whole buffer with junk
// after the JPEG. It cuts at the last EOI, not the first, because a header
// segment (an EXIF thumbnail) may hold a complete JPEG of its own. The result
// is a subslice of b.
func Trim(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0xFF || b[1] != markerSOI {
		return nil, ErrNoSOI
	}
	i := bytes.LastIndex(b[2:], eoi)
	if i < 0 {
		return nil, ErrNoEOI
	}
	return b[:2+i+2], nil
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
