package h264

import "bytes"

// NAL unit types (ITU-T H.264 table 7-1) that camrec looks at.
const (
	NALSlice = 1 // coded slice of a non-IDR picture
	NALIDR   = 5 // coded slice of an IDR picture: a keyframe
	NALSEI   = 6
	NALSPS   = 7
	NALPPS   = 8
	NALAUD   = 9 // access unit delimiter
)

var startCode = []byte{0, 0, 1}

// NALs iterates over the NAL units of an Annex B buffer. The zero value
// is not usable; see Iter. It allocates nothing.
type NALs struct {
	b   []byte
	pos int // offset of the next start code search
}

// Iter returns an iterator over the NAL units of b.
func Iter(b []byte) NALs { return NALs{b: b} }

// Next returns the next NAL unit (header byte first, without start code
// and without trailing zero bytes), or false at the end. Bytes before the
// first start code are ignored.
func (it *NALs) Next() ([]byte, bool) {
	for {
		i := bytes.Index(it.b[it.pos:], startCode)
		if i < 0 {
			it.pos = len(it.b)
			return nil, false
		}
		begin := it.pos + i + 3
		j := bytes.Index(it.b[begin:], startCode)
		end := len(it.b)
		if j >= 0 {
			end = begin + j
		}
		it.pos = end
		for end > begin && it.b[end-1] == 0 {
			end--
		}
		if end > begin {
			return it.b[begin:end], true
		}
	}
}

// Type is the type of the NAL unit nal (its header byte's low five bits).
func Type(nal []byte) int {
	if len(nal) == 0 {
		return 0
	}
	return int(nal[0] & 0x1F)
}

// isVCL reports whether t is the type of a coded slice.
func isVCL(t int) bool { return t >= 1 && t <= 5 }

// firstMBZero reports whether the slice NAL unit nal starts a picture:
// first_mb_in_slice, the first ue(v) of its header, is 0 (a single 1 bit).
func firstMBZero(nal []byte) bool { return len(nal) >= 2 && nal[1]&0x80 != 0 }

// Info is what an access unit holds.
type Info struct {
	Key      bool   // it has an IDR slice
	SPS, PPS []byte // its (last) SPS and PPS, nil if none; subslices of the unit
	Pictures int    // slices starting a picture (first_mb_in_slice == 0)
}

// Inspect walks the NAL units of the access unit au.
func Inspect(au []byte) Info {
	var in Info
	it := Iter(au)
	for nal, ok := it.Next(); ok; nal, ok = it.Next() {
		switch t := Type(nal); {
		case t == NALSPS:
			in.SPS = nal
		case t == NALPPS:
			in.PPS = nal
		case isVCL(t):
			if t == NALIDR {
				in.Key = true
			}
			if firstMBZero(nal) {
				in.Pictures++
			}
		}
	}
	return in
}
