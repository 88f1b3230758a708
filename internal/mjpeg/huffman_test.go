package mjpeg

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

func TestStandardDHTIsWhatGoWrites(t *testing.T) {
	frame := encodeTestJPEG(t, 16, 16)
	var got []byte
	if err := walkHeader(frame, func(s segment) bool {
		if s.marker == markerDHT {
			got = frame[s.off : s.off+4+len(s.payload)]
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, standardDHT) {
		t.Fatalf("standardDHT differs from the DHT Go's encoder writes (%d vs %d bytes)", len(standardDHT), len(got))
	}
}

func TestStandalone(t *testing.T) {
	for _, size := range []image.Point{{16, 16}, {641, 359}, {1280, 720}} {
		orig := encodeTestJPEG(t, size.X, size.Y)
		stripped := removeSegments(t, orig, markerDHT)
		if HasHuffmanTables(stripped) || !HasHuffmanTables(orig) {
			t.Fatalf("%v: HasHuffmanTables = %v for stripped, %v for original", size, HasHuffmanTables(stripped), HasHuffmanTables(orig))
		}
		if _, err := jpeg.Decode(bytes.NewReader(stripped)); err == nil {
			t.Fatalf("%v: a JPEG without DHT decoded; the test proves nothing", size)
		}
		fixed := Standalone(stripped)
		want, err := jpeg.Decode(bytes.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		got, err := jpeg.Decode(bytes.NewReader(fixed))
		if err != nil {
			t.Fatalf("%v: decode after Standalone: %v", size, err)
		}
		wy, gy := want.(*image.YCbCr), got.(*image.YCbCr)
		if !bytes.Equal(wy.Y, gy.Y) || !bytes.Equal(wy.Cb, gy.Cb) || !bytes.Equal(wy.Cr, gy.Cr) {
			t.Fatalf("%v: pixels differ after Standalone", size)
		}
		if len(fixed) != len(orig) {
			t.Errorf("%v: Standalone made %d bytes, the original has %d", size, len(fixed), len(orig))
		}
		if out := Standalone(orig); &out[0] != &orig[0] {
			t.Errorf("%v: Standalone copied a JPEG that has tables", size)
		}
	}
	if junk := []byte("not a jpeg"); &Standalone(junk)[0] != &junk[0] {
		t.Error("Standalone changed data it cannot parse")
	}
}

func BenchmarkStandalone(b *testing.B) {
	stripped := removeSegments(b, encodeTestJPEG(b, 1280, 720), markerDHT)
	b.SetBytes(int64(len(stripped)))
	b.ReportAllocs()
	for b.Loop() {
		Standalone(stripped)
	}
}
