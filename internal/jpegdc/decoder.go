package jpegdc

import (
	"errors"
	"fmt"
)

// Image is a luma image at 1/8 scale: W x H values, one per 8x8 block of
// the picture's luma, row after row.
type Image struct {
	W, H int
	Pix  []uint8
}

// ErrUnsupported is returned (wrapped, with the reason) for a JPEG this
// package does not read but a full decoder may: progressive, lossless,
// hierarchical or arithmetic-coded, 12-bit samples, CMYK or RGB, luma
// sampled below chroma, a height given by DNL. Callers fall back to a full
// decode. Every other error means the data is not a well-formed JPEG.
var ErrUnsupported = errors.New("jpegdc: unsupported JPEG")

var (
	errNoSOI     = errors.New("jpegdc: not a JPEG (no SOI)")
	errTruncated = errors.New("jpegdc: truncated JPEG")
	errBadCode   = errors.New("jpegdc: corrupt JPEG: bad Huffman code")
)

func errorf(format string, args ...any) error {
	return fmt.Errorf("jpegdc: corrupt JPEG: "+format, args...)
}

func unsupported(what string) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, what)
}

// Markers (ITU T.81, B.1.1.3).
const (
	markerSOF0 = 0xC0 // baseline
	markerSOF1 = 0xC1 // extended sequential, Huffman
	markerDHT  = 0xC4
	markerDAC  = 0xCC
	markerRST0 = 0xD0
	markerRST7 = 0xD7
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerDQT  = 0xDB
	markerDNL  = 0xDC
	markerDRI  = 0xDD
	markerAPP0 = 0xE0
	markerAP14 = 0xEE
	markerTEM  = 0x01
)

// component is one component of the frame (SOF).
type component struct {
	id   byte
	h, v int
	tq   int
}

// Decoder decodes frames one after another, reusing its buffers and
// tables; not safe for concurrent use. The zero value is ready to use.
type Decoder struct {
	// Huffman tables of the current frame, [class][slot]; nil until
	// defined. Frames do not inherit tables: a frame without DHT uses the
	// standard ones.
	tables [2][4]*table
	// owned holds the tables this Decoder built from DHT segments, kept
	// from frame to frame so that a camera repeating the same DHT in
	// every frame costs a comparison, not a rebuild.
	owned [2][4]*table

	q0    [4]int // first entry (DC) of each quantisation table
	qSet  [4]bool
	comps [3]component
	ncomp int // 0 until SOF
	w, h  int // picture size in pixels

	restart        int
	jfif           bool
	adobe          bool
	adobeTransform byte

	scan scan
}

func (d *Decoder) reset() {
	d.tables = [2][4]*table{}
	d.qSet = [4]bool{}
	d.ncomp = 0
	d.restart = 0
	d.jfif, d.adobe = false, false
}

// Decode reads jpeg (SOI .. EOI) into dst, growing dst.Pix only when needed.
// Each value is the mean luma of one 8x8 block (DC*Q0/8 + 128, clamped);
// the last column and row cover the picture's partial blocks, padding
// included. It stops after the scan that holds the luma. On error dst's
// content is unspecified.
func (d *Decoder) Decode(dst *Image, jpeg []byte) error {
	d.reset()
	b := jpeg
	if len(b) < 2 || b[0] != 0xFF || b[1] != markerSOI {
		return errNoSOI
	}
	pos := 2
	for {
		// Next marker. Bytes that are not one are skipped, as libjpeg
		// and image/jpeg do; 0xFF fill bytes may precede it.
		for pos < len(b) && b[pos] != 0xFF {
			pos++
		}
		for pos < len(b) && b[pos] == 0xFF {
			pos++
		}
		if pos >= len(b) {
			return errTruncated
		}
		m := b[pos]
		pos++
		switch {
		case m == 0x00 || m == markerTEM || (m >= markerRST0 && m <= markerRST7):
			continue // no segment: stuffing outside a scan, TEM, stray RSTn
		case m == markerSOI:
			return errorf("SOI inside the frame")
		case m == markerEOI:
			if d.ncomp == 0 {
				return errorf("EOI before any frame header")
			}
			return errorf("EOI before the luma scan")
		}
		if pos+2 > len(b) {
			return errTruncated
		}
		n := int(b[pos])<<8 | int(b[pos+1])
		if n < 2 {
			return errorf("segment %02X of length %d", m, n)
		}
		if pos+n > len(b) {
			return errTruncated
		}
		seg := b[pos+2 : pos+n]
		pos += n
		var err error
		switch {
		case m == markerSOF0 || m == markerSOF1:
			err = d.parseSOF(seg)
		case m >= 0xC0 && m <= 0xCF && m != markerDHT && m != markerDAC:
			err = unsupported(sofName(m))
		case m == markerDHT:
			err = d.parseDHT(seg)
		case m == markerDQT:
			err = d.parseDQT(seg)
		case m == markerDRI:
			if len(seg) != 2 {
				return errorf("DRI of length %d", n)
			}
			d.restart = int(seg[0])<<8 | int(seg[1])
		case m == markerDNL:
			err = unsupported("DNL")
		case m == markerAPP0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case m == markerAP14:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe, d.adobeTransform = true, seg[11]
			}
		case m == markerSOS:
			var luma bool
			luma, err = d.parseSOS(seg)
			if err != nil {
				return err
			}
			if luma {
				return d.decodeLuma(dst, b[pos:])
			}
			pos, err = skipScan(b, pos)
		}
		if err != nil {
			return err
		}
	}
}

func sofName(m byte) string {
	switch m {
	case 0xC2:
		return "progressive (SOF2)"
	case 0xC3:
		return "lossless (SOF3)"
	case 0xC5, 0xC6, 0xC7:
		return fmt.Sprintf("hierarchical (SOF%d)", m-0xC0)
	case 0xC8:
		return "JPEG extension (JPG marker)"
	default:
		return fmt.Sprintf("arithmetic coding (SOF%d)", m-0xC0)
	}
}

// skipScan returns the position of the marker that ends the entropy-coded
// data starting at pos, RSTn markers being part of that data.
func skipScan(b []byte, pos int) (int, error) {
	for ; pos+1 < len(b); pos++ {
		if b[pos] != 0xFF {
			continue
		}
		if m := b[pos+1]; m != 0x00 && m != 0xFF && (m < markerRST0 || m > markerRST7) {
			return pos, nil
		}
	}
	return 0, errTruncated
}

func (d *Decoder) parseSOF(seg []byte) error {
	if d.ncomp != 0 {
		return errorf("second frame header")
	}
	if len(seg) < 6 {
		return errorf("short SOF")
	}
	if seg[0] != 8 {
		return unsupported(fmt.Sprintf("%d-bit samples", seg[0]))
	}
	h := int(seg[1])<<8 | int(seg[2])
	w := int(seg[3])<<8 | int(seg[4])
	nc := int(seg[5])
	if h == 0 {
		return unsupported("height defined by DNL")
	}
	if w == 0 {
		return errorf("picture width 0")
	}
	if nc != 1 && nc != 3 {
		return unsupported(fmt.Sprintf("%d components", nc))
	}
	if len(seg) != 6+3*nc {
		return errorf("SOF of length %d for %d components", len(seg)+2, nc)
	}
	for i := range nc {
		c := seg[6+3*i:]
		comp := component{id: c[0], h: int(c[1] >> 4), v: int(c[1] & 15), tq: int(c[2])}
		if comp.h < 1 || comp.h > 4 || comp.v < 1 || comp.v > 4 {
			return errorf("sampling factors %dx%d", comp.h, comp.v)
		}
		if comp.tq > 3 {
			return errorf("quantisation table %d", comp.tq)
		}
		for _, o := range d.comps[:i] {
			if o.id == comp.id {
				return errorf("component %d defined twice", comp.id)
			}
		}
		d.comps[i] = comp
	}
	if nc == 3 {
		y := d.comps[0]
		for _, c := range d.comps[1:3] {
			if c.h > y.h || c.v > y.v {
				return unsupported("chroma sampled more finely than luma")
			}
		}
	}
	d.ncomp, d.w, d.h = nc, w, h
	return nil
}

func (d *Decoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return errorf("DQT table %d of precision %d", tq, pq)
		}
		size := 1 + 64*(1+int(pq))
		if len(seg) < size {
			return errorf("short DQT")
		}
		if pq == 0 {
			d.q0[tq] = int(seg[1])
		} else {
			d.q0[tq] = int(seg[1])<<8 | int(seg[2])
		}
		d.qSet[tq] = true
		seg = seg[size:]
	}
	return nil
}

func (d *Decoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errorf("short DHT")
		}
		class, slot := int(seg[0]>>4), int(seg[0]&15)
		if class > 1 || slot > 3 {
			return errorf("DHT table %d of class %d", slot, class)
		}
		counts := seg[1:17]
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if total == 0 || total > 256 || len(seg) < 17+total {
			return errorf("DHT table of %d codes", total)
		}
		vals := seg[17 : 17+total]
		seg = seg[17+total:]
		std := standardTables()
		if slot < 2 && std[class][slot].same(counts, vals) {
			d.tables[class][slot] = std[class][slot]
			continue
		}
		t := d.owned[class][slot]
		if t == nil {
			t = new(table)
			d.owned[class][slot] = t
		} else if t.specLen > 0 && t.same(counts, vals) {
			d.tables[class][slot] = t
			continue
		}
		if !t.build(class, counts, vals) {
			t.specLen = 0
			return errorf("DHT table with too many codes of some length")
		}
		d.tables[class][slot] = t
	}
	return nil
}

// parseSOS reads a scan header. It reports whether the scan holds the
// luma; if it does, d.scan is its plan.
func (d *Decoder) parseSOS(seg []byte) (bool, error) {
	if d.ncomp == 0 {
		return false, errorf("SOS before SOF")
	}
	if len(seg) < 1 {
		return false, errorf("short SOS")
	}
	ns := int(seg[0])
	if ns < 1 || ns > d.ncomp || len(seg) != 4+2*ns {
		return false, errorf("SOS of length %d for %d components", len(seg)+2, ns)
	}
	// Ss, Se, Ah/Al (the last 3 bytes) mean nothing in a sequential
	// scan; libjpeg and image/jpeg ignore them too.
	var idx [4]int
	luma := false
	for i := range ns {
		id := seg[1+2*i]
		idx[i] = -1
		for j, c := range d.comps[:d.ncomp] {
			if c.id == id {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return false, errorf("scan of unknown component %d", id)
		}
		for _, o := range idx[:i] {
			if o == idx[i] {
				return false, errorf("component %d twice in a scan", id)
			}
		}
		luma = luma || idx[i] == 0
	}
	if !luma {
		return false, nil
	}
	if d.ncomp == 3 && !d.jfif && (d.adobe && d.adobeTransform == 0 ||
		d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B') {
		return false, unsupported("RGB, no luma")
	}
	s := &d.scan
	*s = scan{restart: d.restart}
	y := d.comps[0]
	if !d.qSet[y.tq] {
		return false, errorf("luma quantisation table %d not defined", y.tq)
	}
	s.q0 = d.q0[y.tq]
	std := standardTables()
	// The picture's size in MCUs: luma blocks of maximal sampling.
	if ns == 1 {
		// Non-interleaved: one block per MCU, the luma's blocks
		// in raster order, as many as the luma plane holds.
		s.mcusX, s.mcusY = (d.w+7)/8, (d.h+7)/8
		s.lumaH, s.lumaV = 1, 1
	} else {
		s.mcusX, s.mcusY = (d.w+8*y.h-1)/(8*y.h), (d.h+8*y.v-1)/(8*y.v)
		s.lumaH, s.lumaV = y.h, y.v
	}
	for i := range ns {
		td, ta := int(seg[2+2*i]>>4), int(seg[2+2*i]&15)
		if td > 3 || ta > 3 {
			return false, errorf("scan uses Huffman table %d/%d", td, ta)
		}
		dc, ac := d.tables[classDC][td], d.tables[classAC][ta]
		// Missing tables: the standard ones (AVI1 MJPEG), as
		// libjpeg does for slots 0 and 1.
		if dc == nil && td < 2 {
			dc = std[classDC][td]
		}
		if ac == nil && ta < 2 {
			ac = std[classAC][ta]
		}
		if dc == nil || ac == nil {
			return false, errorf("Huffman table %d/%d not defined", td, ta)
		}
		c := d.comps[idx[i]]
		h, v := c.h, c.v
		if ns == 1 {
			h, v = 1, 1
		}
		if s.nblocks+h*v > maxBlocksPerMCU {
			return false, errorf("more than %d blocks per MCU", maxBlocksPerMCU)
		}
		for by := range v {
			for bx := range h {
				s.blocks[s.nblocks] = block{dc: dc, ac: ac, comp: i, luma: idx[i] == 0, dx: bx, dy: by}
				s.nblocks++
			}
		}
	}
	return true, nil
}

// decodeLuma decodes the luma scan whose entropy-coded data starts at
// data[0] into dst.
func (d *Decoder) decodeLuma(dst *Image, data []byte) error {
	s := &d.scan
	w, h := (d.w+7)/8, (d.h+7)/8
	// Every block takes at least 2 bits (a DC and an AC code): refuse a
	// header that promises more blocks than the data can hold before
	// allocating for them.
	if int64(s.mcusX)*int64(s.mcusY)*int64(s.nblocks)*2 > 8*int64(len(data)) {
		return errTruncated
	}
	if cap(dst.Pix) < w*h {
		dst.Pix = make([]uint8, w*h)
	}
	dst.W, dst.H, dst.Pix = w, h, dst.Pix[:w*h]
	return decodeScan(s, data, dst.Pix, w, h)
}
