package jpegdc

import "encoding/binary"

// maxBlocksPerMCU is T.81's limit on the blocks of one MCU (B.2.3).
const maxBlocksPerMCU = 10

// block is one block of an MCU, in decoding order.
type block struct {
	dc, ac *table
	comp   int  // index of its component in the scan (its DC predictor)
	luma   bool // whether the block's DC goes to the output
	dx, dy int  // its place in the MCU, in blocks (luma only)
}

// scan is the plan of the scan that holds the luma.
type scan struct {
	blocks  [maxBlocksPerMCU]block
	nblocks int
	mcusX   int // MCUs per row
	mcusY   int // MCU rows
	lumaH   int // luma blocks per MCU across
	lumaV   int // and down
	restart int // MCUs per restart interval, 0 for none
	q0      int // the luma DC quantiser
}

// bitReader reads the entropy-coded segment of a scan: bits, most
// significant first, out of bytes with the 0xFF 0x00 stuffing removed. At
// a marker (or the end of the data) it goes on with zero bits, counting
// them in pad, so that a decoder that reads past the real data notices it
// (pad > n) instead of reading garbage.
//
// The bits themselves, acc and n, are the decoder's local variables (kept
// in registers), which fill takes and returns.
type bitReader struct {
	data []byte
	pos  int  // next byte of data to load
	pad  uint // of the n bits buffered, the trailing ones that are not data
}

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// fill loads bytes into acc, which holds n bits (the next ones, most
// significant first, zeros below), until it holds at least 57.
func (br *bitReader) fill(acc uint64, n uint) (uint64, uint) {
	if br.pad == 0 && br.pos+8 <= len(br.data) {
		w := binary.BigEndian.Uint64(br.data[br.pos:])
		// No 0xFF in the next 8 bytes: no stuffing, no marker; take
		// as many whole bytes as fit.
		if x := ^w; (x-ones)&^x&high == 0 {
			k := (64 - n) >> 3
			acc |= w >> (64 - 8*k) << (64 - 8*k - n)
			br.pos += int(k)
			return acc, n + 8*k
		}
	}
	for n <= 56 {
		var b byte
		switch {
		case br.pad > 0 || br.pos >= len(br.data):
			br.pad += 8
		case br.data[br.pos] != 0xFF:
			b = br.data[br.pos]
			br.pos++
		case br.pos+1 < len(br.data) && br.data[br.pos+1] == 0x00:
			b = 0xFF
			br.pos += 2
		default:
			// A marker: the segment ends at pos.
			br.pad += 8
		}
		acc |= uint64(b) << (56 - n)
		n += 8
	}
	return acc, n
}

// restart ends a restart interval, with n bits still buffered: those
// must be the last byte's padding, and the marker RST<want> must follow.
// The caller then empties its buffer.
func (br *bitReader) restart(n uint, want byte) error {
	if n < br.pad {
		return errTruncated
	}
	if n-br.pad >= 8 {
		return errorf("data left over before RST%d", want)
	}
	p := br.pos
	for p < len(br.data) && br.data[p] == 0xFF && p+1 < len(br.data) && br.data[p+1] == 0xFF {
		p++ // fill bytes before the marker
	}
	if p+1 >= len(br.data) {
		return errTruncated
	}
	if br.data[p] != 0xFF || br.data[p+1] != 0xD0+want {
		return errorf("expected RST%d, found % X", want, br.data[p:p+2])
	}
	br.pos = p + 2
	br.pad = 0
	return nil
}

// decodeScan decodes the entropy-coded data of scan s, which starts at
// data[0], writing the luma blocks' means into pix, a w x h image.
func decodeScan(s *scan, data []byte, pix []uint8, w, h int) error {
	br := bitReader{data: data}
	var acc uint64 // the next n bits of the stream, most significant first
	var n uint
	var pred [4]int
	rst := 0
	left := s.restart
	q0 := s.q0
	for my := range s.mcusY {
		for mx := range s.mcusX {
			if s.restart > 0 {
				if left == 0 {
					if err := br.restart(n, byte(rst&7)); err != nil {
						return err
					}
					acc, n = 0, 0
					rst++
					left = s.restart
					pred = [4]int{}
				}
				left--
			}
			for i := range s.blocks[:s.nblocks] {
				b := &s.blocks[i]
				// DC: a code giving SSSS, then SSSS bits of the
				// difference to the component's previous DC.
				if n < 32 {
					acc, n = br.fill(acc, n)
				}
				e := b.dc.lut[acc>>(64-lutBits)]
				l := uint(e >> dcLenShift)
				size := uint(e & 0xFF)
				if e == 0 {
					sym, sl, ok := b.dc.slow(acc >> 48)
					if !ok {
						return errBadCode
					}
					l, size = sl, uint(sym)
				}
				if size > 11 {
					return errorf("DC difference of %d bits", size)
				}
				acc <<= l
				n -= l
				dc := pred[b.comp]
				if size > 0 {
					v := int(acc >> (64 - size))
					acc <<= size
					n -= size
					if v < 1<<(size-1) {
						v += 1 - 1<<size
					}
					dc += v
					pred[b.comp] = dc
				}
				// AC: skipped, one code (and its extra bits) at a time.
				ac := &b.ac.lut
				for k := 1; k < 64; {
					if n < 32 {
						acc, n = br.fill(acc, n)
					}
					e := ac[acc>>(64-lutBits)]
					if e == 0 {
						sym, sl, ok := b.ac.slow(acc >> 48)
						if !ok {
							return errBadCode
						}
						e = acEntry(sym, sl)
					}
					c := uint(e & acBitsMask)
					acc <<= c
					n -= c
					k += int(e >> acAdvShift)
				}
				if b.luma {
					x, y := mx*s.lumaH+b.dx, my*s.lumaV+b.dy
					if x < w && y < h {
						v := (dc*q0+4)>>3 + 128
						pix[y*w+x] = uint8(min(max(v, 0), 255))
					}
				}
			}
			if n < br.pad {
				return errTruncated
			}
		}
	}
	// The scan must end at a marker (the frame's EOI, or the next
	// segment): a frame cut just after its last MCU is still cut.
	p := br.pos
	for {
		if p+1 >= len(data) {
			return errTruncated
		}
		if data[p] == 0xFF && data[p+1] != 0x00 {
			return nil
		}
		p++
	}
}
