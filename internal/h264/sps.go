package h264

import (
	"errors"
	"fmt"
)

// SPSInfo is what camrec reads from a sequence parameter set.
type SPSInfo struct {
	Profile, Constraints, Level int // profile_idc, constraint flags byte, level_idc
	Width, Height               int // after cropping
}

// ProfileName is the profile as ffprobe names it ("High", "Main",
// "Constrained Baseline"...), or "profile N".
func (s SPSInfo) ProfileName() string {
	switch s.Profile {
	case 66:
		if s.Constraints&0x40 != 0 {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		return "High 10"
	case 122:
		return "High 4:2:2"
	case 244:
		return "High 4:4:4 Predictive"
	}
	return fmt.Sprintf("profile %d", s.Profile)
}

var errShortSPS = errors.New("h264: SPS too short")

// bitReader reads the RBSP of a NAL unit: emulation prevention bytes
// (00 00 03) are skipped as it goes.
type bitReader struct {
	b     []byte
	pos   int // next byte
	bit   uint
	cur   byte
	zeros int
	err   error
}

func (r *bitReader) u1() uint {
	if r.bit == 0 {
		for {
			if r.pos >= len(r.b) {
				r.err = errShortSPS
				return 0
			}
			c := r.b[r.pos]
			r.pos++
			if r.zeros >= 2 && c == 3 {
				r.zeros = 0
				continue
			}
			if c == 0 {
				r.zeros++
			} else {
				r.zeros = 0
			}
			r.cur, r.bit = c, 8
			break
		}
	}
	r.bit--
	return uint(r.cur>>r.bit) & 1
}

func (r *bitReader) u(n int) uint {
	var v uint
	for range n {
		v = v<<1 | r.u1()
	}
	return v
}

func (r *bitReader) ue() uint {
	lz := 0
	for r.u1() == 0 {
		if r.err != nil || lz > 31 {
			r.err = errShortSPS
			return 0
		}
		lz++
	}
	return (1<<lz - 1) + r.u(lz)
}

func (r *bitReader) se() int {
	v := r.ue()
	if v&1 != 0 {
		return int(v+1) / 2
	}
	return -int(v / 2)
}

// ParseSPS reads an SPS NAL unit (header byte first).
func ParseSPS(nal []byte) (SPSInfo, error) {
	var s SPSInfo
	if len(nal) < 4 || Type(nal) != NALSPS {
		return s, errShortSPS
	}
	s.Profile, s.Constraints, s.Level = int(nal[1]), int(nal[2]), int(nal[3])
	r := &bitReader{b: nal[4:]}
	r.ue() // seq_parameter_set_id
	chroma := uint(1)
	separate := false
	switch s.Profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma == 3 {
			separate = r.u1() == 1
		}
		r.ue()           // bit_depth_luma_minus8
		r.ue()           // bit_depth_chroma_minus8
		r.u1()           // qpprime_y_zero_transform_bypass_flag
		if r.u1() == 1 { // seq_scaling_matrix_present_flag
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if r.u1() == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := 8, 8
					for range size {
						if next != 0 {
							next = (last + r.se() + 256) % 256
						}
						if next != 0 {
							last = next
						}
					}
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue()
	case 1:
		r.u1()
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return s, errors.New("h264: bad SPS")
		}
		for range n {
			r.se()
		}
	}
	r.ue() // max_num_ref_frames
	r.u1() // gaps_in_frame_num_value_allowed_flag
	wMbs := r.ue() + 1
	hMapUnits := r.ue() + 1
	frameMbsOnly := r.u1()
	if frameMbsOnly == 0 {
		r.u1() // mb_adaptive_frame_field_flag
	}
	r.u1() // direct_8x8_inference_flag
	var cl, cr, ct, cb uint
	if r.u1() == 1 {
		cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return s, r.err
	}
	cropX, cropY := uint(1), 2-frameMbsOnly
	if chroma != 0 && !separate {
		subW, subH := uint(2), uint(2)
		if chroma == 2 {
			subH = 1
		}
		if chroma == 3 {
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*(2-frameMbsOnly)
	}
	w := wMbs*16 - cropX*(cl+cr)
	h := (2-frameMbsOnly)*hMapUnits*16 - cropY*(ct+cb)
	if wMbs > 1024 || hMapUnits > 1024 || int(w) <= 0 || int(h) <= 0 {
		return s, fmt.Errorf("h264: bad SPS size %dx%d", int(w), int(h))
	}
	s.Width, s.Height = int(w), int(h)
	return s, nil
}
