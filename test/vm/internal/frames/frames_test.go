package frames

import (
	"bytes"
	"image/jpeg"
	"testing"
)

func TestStampRoundTrip(t *testing.T) {
	base, err := Base(64, 48, 3)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Base(64, 48, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range base {
		if !bytes.Equal(base[i], again[i]) {
			t.Fatalf("Base is not deterministic: frame %d differs", i)
		}
		for j := range i {
			if bytes.Equal(base[i], base[j]) {
				t.Fatalf("frames %d and %d are equal", i, j)
			}
		}
	}
	for _, seq := range []uint64{0, 1, 2, 3, 1000} {
		f := Stamp(base, seq, 1700000000123456789)
		gotSeq, gotTS, ok := Parse(f)
		if !ok || gotSeq != seq || gotTS != 1700000000123456789 {
			t.Errorf("Parse(Stamp(seq=%d)) = %d, %d, %v", seq, gotSeq, gotTS, ok)
		}
		img, err := jpeg.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("stamped frame %d does not decode: %v", seq, err)
		}
		if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
			t.Errorf("frame %d is %v, want 64x48", seq, b)
		}
	}
}
