package pipeline

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

// yuyvFrame builds a width x height YUYV frame whose left half is bright
// and right half dark, with distinct chroma per half.
func yuyvFrame(width, height int) []byte {
	raw := make([]byte, 2*width*height)
	for y := range height {
		for x := 0; x < width; x += 2 {
			p := raw[y*2*width+2*x:]
			luma, cb, cr := byte(200), byte(90), byte(160)
			if x >= width/2 {
				luma, cb, cr = 30, 170, 100
			}
			p[0], p[1], p[2], p[3] = luma, cb, luma+1, cr
		}
	}
	return raw
}

func TestYUYVToYCbCr(t *testing.T) {
	raw := yuyvFrame(8, 2)
	img, err := yuyvToYCbCr(nil, raw, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	if img.SubsampleRatio != image.YCbCrSubsampleRatio422 {
		t.Fatalf("subsample ratio %v, want 4:2:2", img.SubsampleRatio)
	}
	wantY := []byte{200, 201, 200, 201, 30, 31, 30, 31}
	if got := img.Y[img.YOffset(0, 1) : img.YOffset(0, 1)+8]; !bytes.Equal(got, wantY) {
		t.Errorf("Y row 1 = %v, want %v", got, wantY)
	}
	if got := img.Cb[img.COffset(0, 1) : img.COffset(0, 1)+4]; !bytes.Equal(got, []byte{90, 90, 170, 170}) {
		t.Errorf("Cb row 1 = %v", got)
	}
	if got := img.Cr[img.COffset(0, 0) : img.COffset(0, 0)+4]; !bytes.Equal(got, []byte{160, 160, 100, 100}) {
		t.Errorf("Cr row 0 = %v", got)
	}
	again, err := yuyvToYCbCr(img, raw, 8, 2)
	if err != nil || again != img {
		t.Errorf("same size: got a new image (%v), want the old one reused", err)
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = yuyvToYCbCr(img, raw, 8, 2) }); n != 0 {
		t.Errorf("%v allocations per conversion, want 0", n)
	}
	for _, bad := range []struct {
		raw  []byte
		w, h int
	}{{raw, 7, 2}, {raw[:10], 8, 2}, {raw, 0, 2}} {
		if _, err := yuyvToYCbCr(nil, bad.raw, bad.w, bad.h); err == nil {
			t.Errorf("%dx%d from %d bytes: no error", bad.w, bad.h, len(bad.raw))
		}
	}
}

func TestYUYVEncoderMakesJPEG(t *testing.T) {
	const w, h = 64, 48
	enc := yuyvEncoder{quality: 80}
	in := &Frame{Raw: yuyvFrame(w, h), PixFmt: PixFmtYUYV, Width: w, Height: h, Seq: 7}
	out, err := enc.encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if out == in || in.Data != nil {
		t.Fatal("encode modified its input frame")
	}
	if out.Seq != 7 || out.Width != w || &out.Raw[0] != &in.Raw[0] {
		t.Errorf("encoded frame lost the input's metadata: %+v", out)
	}
	img, err := jpeg.Decode(bytes.NewReader(out.Data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("JPEG %v, want %dx%d", b, w, h)
	}
	// Left half bright, right half dark survive the round trip.
	l, _, _, _ := img.At(4, 10).RGBA()
	r, _, _, _ := img.At(w-4, 10).RGBA()
	if l>>8 < 150 || r>>8 > 80 {
		t.Errorf("left red %d, right red %d: picture not preserved", l>>8, r>>8)
	}
	if _, err := enc.encode(&Frame{Raw: in.Raw, PixFmt: "nv12", Width: w, Height: h}); err == nil {
		t.Error("nv12 encoded without error")
	}
}

func BenchmarkYUYVEncode640x360(b *testing.B) {
	enc := yuyvEncoder{quality: DefaultJPEGQuality}
	f := &Frame{Raw: yuyvFrame(640, 360), PixFmt: PixFmtYUYV, Width: 640, Height: 360}
	b.SetBytes(int64(len(f.Raw)))
	for b.Loop() {
		if _, err := enc.encode(f); err != nil {
			b.Fatal(err)
		}
	}
}
