package jpegdc

import (
	"bytes"
	"sync"

	"github.com/camrec/camrec/internal/mjpeg"
)

// lutBits is how many bits of the stream one table lookup looks at: codes
// up to that long are found in one lookup, longer ones (rare) by the
// canonical code ranges (table.slow). 12 bits make a table of 8 KiB, so
// the four a frame uses stay in the L1 cache. A 16-bit table (128 KiB,
// every code in one lookup, no slow path) was measured 25-45% slower on
// the noisy 1280x720 frame of BenchmarkDecode (1.45-1.7 vs 1.1-1.2 ms on a
// 2-vCPU AMD EPYC); 9 to 12 bits were within noise of one another.
const lutBits = 12

// Table classes, as in DHT's Tc.
const (
	classDC = 0
	classAC = 1
)

// Fields of an AC table entry (a uint16): the bits to skip (the code and
// its extra bits) in the low 5 bits, how far the coefficient index moves
// above them.
const (
	acBitsMask = 1<<5 - 1
	acAdvShift = 5
	acAdvEOB   = 64 // an end of block ends the block whatever the index
)

// Fields of a DC table entry: the code's length in the high byte, the
// symbol (SSSS, the number of extra bits) in the low byte.
const dcLenShift = 8

// table is one Huffman table ready for decoding.
//
// Every entry of lut whose index starts with a code of the table of at
// most lutBits bits describes that code, whatever the index's remaining
// bits: for a DC table the code's length and symbol; for an AC table how
// many bits to skip (the code and its SSSS extra bits, whose value does
// not matter here) and how far the coefficient index moves (RRRR+1, 16 for
// ZRL, acAdvEOB for an end of block). The other entries are 0: the start
// of a longer code, or of no code at all.
type table struct {
	lut [1 << lutBits]uint16
	// maxCode[l] is the largest code of length l (-1 if none), first[l]
	// the index in spec's symbols of the first code of length l, which
	// is minCode[l].
	maxCode [17]int32
	minCode [17]int32
	first   [17]int32
	// spec is the table's DHT definition (the 16 counts, then the
	// symbols), kept to notice that the next frame defines the same one.
	spec    [16 + 256]byte
	specLen int
}

// build fills t from a DHT definition: counts[i] codes of length i+1, whose
// symbols follow in vals. It returns false when the counts overflow the
// code space (the table is corrupt); t is then unusable.
func (t *table) build(class int, counts []byte, vals []byte) bool {
	t.specLen = copy(t.spec[:], counts)
	t.specLen += copy(t.spec[t.specLen:], vals)
	clear(t.lut[:])
	code, k := 0, 0
	for l := 1; l <= 16; l++ {
		t.minCode[l], t.first[l], t.maxCode[l] = int32(code), int32(k), -1
		if counts[l-1] > 0 {
			t.maxCode[l] = int32(code) + int32(counts[l-1]) - 1
		}
		for range int(counts[l-1]) {
			if code >= 1<<l {
				return false // more codes than this length has
			}
			var e uint16
			sym := vals[k]
			if class == classDC {
				e = uint16(l)<<dcLenShift | uint16(sym)
			} else {
				e = acEntry(sym, uint(l))
			}
			if l <= lutBits {
				lo := code << (lutBits - l)
				hi := (code + 1) << (lutBits - l)
				for i := lo; i < hi; i++ {
					t.lut[i] = e
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	return true
}

// same reports whether t was built from this definition.
func (t *table) same(counts, vals []byte) bool {
	return t.specLen == len(counts)+len(vals) &&
		bytes.Equal(t.spec[:16], counts) && bytes.Equal(t.spec[16:t.specLen], vals)
}

// standardTables returns the Annex K tables, indexed [class][slot] (slot 0
// luminance, 1 chrominance), built once and shared read-only by every
// Decoder.
var standardTables = sync.OnceValue(func() *[2][2]*table {
	var t [2][2]*table
	for _, spec := range mjpeg.StandardHuffmanTables() {
		tb := new(table)
		if !tb.build(int(spec.Class), spec.Counts[:], spec.Values) {
			panic("jpegdc: bad standard Huffman table")
		}
		t[spec.Class][spec.ID] = tb
	}
	return &t
})

// slow decodes a code longer than lutBits from the next 16 bits of the
// stream, returning its symbol and length; ok is false if no code of the
// table starts these bits.
func (t *table) slow(next16 uint64) (sym byte, l uint, ok bool) {
	for l := lutBits + 1; l <= 16; l++ {
		c := int32(next16 >> (16 - l))
		if c <= t.maxCode[l] {
			return t.spec[16+t.first[l]+c-t.minCode[l]], uint(l), true
		}
	}
	return 0, 0, false
}

// acEntry is the AC table entry of a code of length l for symbol sym
// (RRRRSSSS).
func acEntry(sym byte, l uint) uint16 {
	run, size := uint16(sym>>4), uint16(sym&15)
	adv := run + 1
	if size == 0 && run != 15 {
		// EOB (0x00). Other RRRR0000 symbols are not defined in a
		// sequential scan; libjpeg and image/jpeg end the block on
		// them too.
		adv = acAdvEOB
	}
	return adv<<acAdvShift | uint16(l) + size
}
