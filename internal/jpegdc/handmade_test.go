package jpegdc

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// Handmade JPEGs: small enough to check bit by bit, and to break on
// purpose. They use the standard Huffman tables (no DHT), in which, for
// luma, DC category 3 is "100" and the AC end of block is "1010".

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// seg is a marker segment with its payload.
func seg(marker byte, payload ...byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
}

var (
	soi = []byte{0xFF, markerSOI}
	eoi = []byte{0xFF, markerEOI}
	// dqt defines table 0 with Q0 = 16 (and 1 elsewhere).
	dqt = seg(markerDQT, slices.Concat([]byte{0x00, 16}, bytes.Repeat([]byte{1}, 63))...)
	// sos is the scan header of a 1-component frame, tables 0/0.
	sos = seg(markerSOS, 1, 1, 0x00, 0, 63, 0)
	// Entropy-coded data of one 8x8 block with DC difference +5 (category
	// 3 "100", bits "101") and no AC: 1001011010 then 1s to the byte.
	oneBlock = []byte{0x96, 0xBF}
	// The same block twice without a break: the second one's DC is 10.
	twoBlocks = []byte{0x96, 0xA5, 0xAF}
)

// sof0 is a baseline frame header of size w x h with the given components
// (id, HV sampling, quantisation table).
func sof0(w, h int, comps ...[3]byte) []byte {
	p := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(comps))}
	for _, c := range comps {
		p = append(p, c[:]...)
	}
	return seg(markerSOF0, p...)
}

var gray = [3]byte{1, 0x11, 0}

// dri is a restart interval of n MCUs.
func dri(n int) []byte { return seg(markerDRI, byte(n>>8), byte(n)) }

// TestHandmade checks values bit by bit: DC*Q0/8 + 128 with Q0 = 16, the
// DC predictor, and its reset at each restart.
func TestHandmade(t *testing.T) {
	cases := []struct {
		name string
		jpeg []byte
		want Image
	}{
		{"one block", cat(soi, dqt, sof0(8, 8, gray), sos, oneBlock, eoi),
			Image{1, 1, []uint8{138}}},
		{"partial block", cat(soi, dqt, sof0(3, 5, gray), sos, oneBlock, eoi),
			Image{1, 1, []uint8{138}}},
		{"predictor carries over", cat(soi, dqt, sof0(16, 8, gray), sos, twoBlocks, eoi),
			Image{2, 1, []uint8{138, 148}}},
		{"restart resets the predictor", cat(soi, dqt, sof0(16, 8, gray), dri(1), sos, oneBlock, []byte{0xFF, 0xD0}, oneBlock, eoi),
			Image{2, 1, []uint8{138, 138}}},
		{"fill bytes before RST and EOI", cat(soi, dqt, sof0(16, 8, gray), dri(1), sos, oneBlock, []byte{0xFF, 0xFF, 0xD0}, oneBlock, []byte{0xFF}, eoi),
			Image{2, 1, []uint8{138, 138}}},
		{"restart interval longer than the scan", cat(soi, dqt, sof0(16, 8, gray), dri(5), sos, twoBlocks, eoi),
			Image{2, 1, []uint8{138, 148}}},
		{"clamped", cat(soi, seg(markerDQT, slices.Concat([]byte{0x00, 255}, bytes.Repeat([]byte{1}, 63))...), sof0(8, 8, gray), sos, oneBlock, eoi),
			Image{1, 1, []uint8{255}}},
		{"16-bit quantisation table", cat(soi, seg(markerDQT, slices.Concat([]byte{0x10, 0, 16}, bytes.Repeat([]byte{0, 1}, 63))...), sof0(8, 8, gray), sos, oneBlock, eoi),
			Image{1, 1, []uint8{138}}},
		{"SOF1", cat(soi, dqt, seg(markerSOF1, 8, 0, 8, 0, 8, 1, 1, 0x11, 0), sos, oneBlock, eoi),
			Image{1, 1, []uint8{138}}},
		{"junk, TEM and stray RST between segments", cat(soi, []byte{0, 1, 0xFF, 0x01, 0xFF, 0xD3}, dqt, sof0(8, 8, gray), sos, oneBlock, eoi),
			Image{1, 1, []uint8{138}}},
		{"only the luma's sampling counts in a 1-component frame", cat(soi, dqt, sof0(16, 8, [3]byte{1, 0x22, 0}), sos, twoBlocks, eoi),
			Image{2, 1, []uint8{138, 148}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var img Image
			if err := d.Decode(&img, tc.jpeg); err != nil {
				t.Fatal(err)
			}
			if img.W != tc.want.W || img.H != tc.want.H || !bytes.Equal(img.Pix, tc.want.Pix) {
				t.Fatalf("got %dx%d %v, want %dx%d %v", img.W, img.H, img.Pix, tc.want.W, tc.want.H, tc.want.Pix)
			}
			if !strings.Contains(tc.name, "TEM") { // image/jpeg reads TEM as a segment
				check(t, img, tc.jpeg)
			}
		})
	}
}

// errorCase is a JPEG Decode must refuse, with this exact error; the cases
// also seed FuzzDecode.
type errorCase struct {
	name        string
	jpeg        []byte
	want        string
	unsupported bool // errors.Is(err, ErrUnsupported)
}

func errorCases(tb testing.TB) []errorCase {
	goColor := encodeGo(tb, speckle(32, 16, false), 80)
	// patch returns a copy of goColor with b written at the frame
	// header's offset off (0 is its 0xFF).
	patch := func(off int, b ...byte) []byte {
		c := bytes.Clone(goColor)
		copy(c[sof(tb, c)+off:], b)
		return c
	}
	// patchSOS does the same in the scan header.
	patchSOS := func(c []byte, off int, b ...byte) []byte {
		segs := headerSegments(tb, c)
		copy(c[segs[len(segs)-1].start+off:], b)
		return c
	}
	withSegment := func(s []byte, b []byte) []byte { return cat(soi, s, b[2:]) }
	adobe := seg(markerAP14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0)
	frame := cat(soi, dqt, sof0(8, 8, gray))
	const corrupt = "jpegdc: corrupt JPEG: "
	const unsup = "jpegdc: unsupported JPEG: "
	return []errorCase{
		{"empty", nil, "jpegdc: not a JPEG (no SOI)", false},
		{"not a JPEG", []byte("GIF89a"), "jpegdc: not a JPEG (no SOI)", false},
		{"SOI EOI", cat(soi, eoi), corrupt + "EOI before any frame header", false},
		{"SOI only", soi, "jpegdc: truncated JPEG", false},
		{"cut segment", cat(soi, dqt[:20]), "jpegdc: truncated JPEG", false},
		{"segment length 1", cat(soi, []byte{0xFF, markerDQT, 0, 1}, eoi), corrupt + "segment DB of length 1", false},
		{"second SOI", cat(soi, soi), corrupt + "SOI inside the frame", false},
		{"SOS before SOF", cat(soi, dqt, sos, oneBlock, eoi), corrupt + "SOS before SOF", false},
		{"two frame headers", cat(frame, sof0(8, 8, gray), sos, oneBlock, eoi), corrupt + "second frame header", false},
		{"width 0", cat(soi, dqt, sof0(0, 8, gray), sos, oneBlock, eoi), corrupt + "picture width 0", false},
		{"sampling 0x1", cat(soi, dqt, sof0(8, 8, [3]byte{1, 0x01, 0}), sos, oneBlock, eoi), corrupt + "sampling factors 0x1", false},
		{"quantisation table 4", cat(soi, dqt, sof0(8, 8, [3]byte{1, 0x11, 4}), sos, oneBlock, eoi), corrupt + "quantisation table 4", false},
		{"component twice", patch(13, 1), corrupt + "component 1 defined twice", false},
		{"SOF of wrong length", cat(soi, dqt, seg(markerSOF0, 8, 0, 8, 0, 8, 1, 1, 0x11), sos, oneBlock, eoi), corrupt + "SOF of length 10 for 1 components", false},
		{"no DQT", cat(soi, sof0(8, 8, gray), sos, oneBlock, eoi), corrupt + "luma quantisation table 0 not defined", false},
		{"short DQT", cat(soi, seg(markerDQT, 0, 16, 1), sof0(8, 8, gray), sos, oneBlock, eoi), corrupt + "short DQT", false},
		{"DQT table 5", cat(soi, seg(markerDQT, slices.Concat([]byte{0x05}, bytes.Repeat([]byte{1}, 64))...), eoi), corrupt + "DQT table 5 of precision 0", false},
		{"DRI of length 3", cat(frame, seg(markerDRI, 1), sos, oneBlock, eoi), corrupt + "DRI of length 3", false},
		{"overfull DHT", cat(frame, seg(markerDHT, slices.Concat([]byte{0x00, 3}, make([]byte, 15), []byte{0, 1, 2})...), sos, oneBlock, eoi),
			corrupt + "DHT table with too many codes of some length", false},
		{"DHT without codes", cat(frame, seg(markerDHT, make([]byte, 17)...), sos, oneBlock, eoi), corrupt + "DHT table of 0 codes", false},
		{"DHT cut short", cat(frame, seg(markerDHT, slices.Concat([]byte{0x00, 2}, make([]byte, 15), []byte{0})...), sos, oneBlock, eoi), corrupt + "DHT table of 2 codes", false},
		{"short DHT", cat(frame, seg(markerDHT, 0x00, 1), sos, oneBlock, eoi), corrupt + "short DHT", false},
		{"DHT class 2", cat(frame, seg(markerDHT, slices.Concat([]byte{0x20, 1}, make([]byte, 15), []byte{0})...), sos, oneBlock, eoi), corrupt + "DHT table 0 of class 2", false},
		{"Huffman table 2 not defined", cat(frame, seg(markerSOS, 1, 1, 0x22, 0, 63, 0), oneBlock, eoi), corrupt + "Huffman table 2/2 not defined", false},
		{"Huffman table 4", cat(frame, seg(markerSOS, 1, 1, 0x04, 0, 63, 0), oneBlock, eoi), corrupt + "scan uses Huffman table 0/4", false},
		{"scan of unknown component", cat(frame, seg(markerSOS, 1, 9, 0x00, 0, 63, 0), oneBlock, eoi), corrupt + "scan of unknown component 9", false},
		{"component twice in a scan", patchSOS(bytes.Clone(goColor), 7, 1), corrupt + "component 1 twice in a scan", false},
		{"SOS of wrong length", cat(frame, seg(markerSOS, 2, 1, 0x00, 0, 63, 0), oneBlock, eoi), corrupt + "SOS of length 8 for 2 components", false},
		{"too many blocks per MCU", cat(soi, dqt, sof0(32, 32, [3]byte{1, 0x44, 0}, [3]byte{2, 0x11, 0}, [3]byte{3, 0x11, 0}),
			seg(markerSOS, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0), oneBlock, eoi), corrupt + "more than 10 blocks per MCU", false},
		{"EOI before the scan", cat(frame, eoi), corrupt + "EOI before the luma scan", false},
		{"no data", cat(frame, sos, eoi), "jpegdc: truncated JPEG", false},
		{"data cut", cat(soi, dqt, sof0(16, 8, gray), sos, oneBlock, eoi), "jpegdc: truncated JPEG", false},
		{"no EOI", cat(frame, sos, oneBlock), "jpegdc: truncated JPEG", false},
		{"cut after the luma's data", cat(frame, sos, oneBlock, []byte{0xFF}), "jpegdc: truncated JPEG", false},
		{"huge picture, little data", cat(soi, dqt, sof0(65535, 65535, gray), sos, oneBlock, eoi), "jpegdc: truncated JPEG", false},
		{"bad Huffman code", cat(frame, sos, []byte{0xFF, 0x00, 0xFF, 0x00}, eoi), corrupt + "bad Huffman code", false},
		{"DC of 12 bits", cat(frame, seg(markerDHT, slices.Concat([]byte{0x00, 1}, make([]byte, 15), []byte{12})...), sos, []byte{0x00, 0x00, 0x00}, eoi),
			corrupt + "DC difference of 12 bits", false},
		{"wrong RST", cat(soi, dqt, sof0(16, 8, gray), dri(1), sos, oneBlock, []byte{0xFF, 0xD1}, oneBlock, eoi), corrupt + "expected RST0, found FF D1", false},
		{"missing RST", cat(soi, dqt, sof0(16, 8, gray), dri(1), sos, twoBlocks, eoi), corrupt + "data left over before RST0", false},
		{"cut before RST", cat(soi, dqt, sof0(16, 8, gray), dri(1), sos, oneBlock), "jpegdc: truncated JPEG", false},

		{"progressive", patch(1, 0xC2), unsup + "progressive (SOF2)", true},
		{"lossless", patch(1, 0xC3), unsup + "lossless (SOF3)", true},
		{"hierarchical", patch(1, 0xC5), unsup + "hierarchical (SOF5)", true},
		{"arithmetic", patch(1, 0xC9), unsup + "arithmetic coding (SOF9)", true},
		{"arithmetic progressive", patch(1, 0xCA), unsup + "arithmetic coding (SOF10)", true},
		{"12-bit", patch(4, 12), unsup + "12-bit samples", true},
		{"height by DNL", patch(5, 0, 0), unsup + "height defined by DNL", true},
		{"DNL", cat(frame, seg(markerDNL, 0, 8), sos, oneBlock, eoi), unsup + "DNL", true},
		{"2 components", patch(9, 2), unsup + "2 components", true},
		{"4 components (CMYK)", patch(9, 4), unsup + "4 components", true},
		{"chroma sampled more finely", patch(11, 0x11, 0, 2, 0x22), unsup + "chroma sampled more finely than luma", true},
		{"RGB components", patchSOS(patch(10, 'R', 0x22, 0, 'G', 0x11, 1, 'B'), 5, 'R', 0x00, 'G', 0x11, 'B'), unsup + "RGB, no luma", true},
		{"Adobe RGB", withSegment(adobe, goColor), unsup + "RGB, no luma", true},
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range errorCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var img Image
			err := d.Decode(&img, tc.jpeg)
			if err == nil {
				t.Fatalf("decoded %dx%d, want error %q", img.W, img.H, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q, want %q", err, tc.want)
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tc.unsupported)
			}
		})
	}
}

// TestAdobeWithJFIF checks that a JFIF frame is YCbCr whatever an Adobe
// segment says, as in image/jpeg.
func TestAdobeWithJFIF(t *testing.T) {
	b := ffmpegJPEG(t, "testsrc2", "64x48", "yuvj420p")
	adobe := seg(markerAP14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0)
	b = cat(b[:2], adobe, b[2:])
	var d Decoder
	var img Image
	if err := d.Decode(&img, b); err != nil {
		t.Fatal(err)
	}
	check(t, img, b)
}
