package jpegdc

import (
	"bytes"
	"errors"
	"testing"
)

// validFrames are small JPEGs Decode reads, made without external tools:
// the libjpeg-turbo fixtures, handmade frames and image/jpeg's.
func validFrames(tb testing.TB) map[string][]byte {
	return map[string][]byte{
		"restart-420-every-mcu.jpg": readFixture(tb, "restart-420-every-mcu.jpg"),
		"restart-422-every-row.jpg": readFixture(tb, "restart-422-every-row.jpg"),
		"restart-411.jpg":           readFixture(tb, "restart-411.jpg"),
		"gray-restart.jpg":          readFixture(tb, "gray-restart.jpg"),
		"scans-420-luma-second.jpg": readFixture(tb, "scans-420-luma-second.jpg"),
		"handmade restart":          cat(soi, dqt, sof0(16, 8, gray), dri(1), sos, oneBlock, []byte{0xFF, 0xD0}, oneBlock, eoi),
		"image/jpeg 420":            encodeGo(tb, speckle(48, 32, false), 80),
		"image/jpeg gray":           encodeGo(tb, speckle(33, 17, true), 60),
		"image/jpeg 420 no DHT":     stripDHT(tb, encodeGo(tb, speckle(40, 24, false), 90)),
	}
}

// TestTruncated cuts frames at every byte: each cut must be an error (not
// ErrUnsupported), except a cut after the end of the luma's scan when
// other scans follow it.
func TestTruncated(t *testing.T) {
	for name, b := range validFrames(t) {
		t.Run(name, func(t *testing.T) {
			var d Decoder
			var whole Image
			if err := d.Decode(&whole, b); err != nil {
				t.Fatal(err)
			}
			// Where the luma is complete: at the marker after its
			// scan; without other scans, never before EOI.
			complete := len(b)
			if name == "scans-420-luma-second.jpg" {
				complete = nthIndex(b, []byte{0xFF, markerSOS}, 3) + 2
			}
			var img Image
			for i := range len(b) {
				err := d.Decode(&img, b[:i])
				switch {
				case i >= complete:
					if err != nil || !bytes.Equal(img.Pix, whole.Pix) {
						t.Fatalf("cut at %d of %d, after the luma's scan: %v", i, len(b), err)
					}
				case err == nil:
					t.Fatalf("cut at %d of %d: no error", i, len(b))
				case errors.Is(err, ErrUnsupported):
					t.Fatalf("cut at %d of %d: %v", i, len(b), err)
				}
			}
		})
	}
}

// nthIndex is the index of the n-th (from 1) occurrence of sep in b.
func nthIndex(b, sep []byte, n int) int {
	at := -1
	for range n {
		i := bytes.Index(b[at+1:], sep)
		if i < 0 {
			return -1
		}
		at += 1 + i
	}
	return at
}

// TestCorrupted changes bytes of small frames (every byte of the header,
// every 5th of the entropy-coded data) in a few ways: Decode may succeed
// or fail, but must not panic, and what it returns must hold together.
// One Decoder sees all the corrupted frames in turn, as one camera's
// would. (FuzzDecode goes further.)
func TestCorrupted(t *testing.T) {
	first := firstFrame(t)
	for name, b := range validFrames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			segs := headerSegments(t, b)
			data := segs[len(segs)-1].end
			c := bytes.Clone(b)
			var used Decoder
			for i := range c {
				if i >= data && (i-data)%5 != 0 {
					continue
				}
				for _, x := range []byte{0x01, 0xFF} {
					c[i] ^= x
					decodeChecked(t, &used, first, c)
					c[i] ^= x
				}
			}
		})
	}
}

// decodeChecked decodes b with a new Decoder and with used (nil for a new
// one too) after it decoded the frame first: both must give the same
// result, and a result that holds together.
func decodeChecked(t *testing.T, used *Decoder, first, b []byte) {
	t.Helper()
	var fresh Decoder
	if used == nil {
		used = new(Decoder)
	}
	var img, img2 Image
	err := fresh.Decode(&img, b)
	if err := used.Decode(&img2, first); err != nil {
		t.Fatal(err)
	}
	err2 := used.Decode(&img2, b)
	if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
		t.Fatalf("a fresh Decoder says %v, a used one %v", err, err2)
	}
	if err != nil {
		return
	}
	if img.W < 1 || img.H < 1 || img.W > 8192 || img.H > 8192 || len(img.Pix) != img.W*img.H {
		t.Fatalf("decoded a %dx%d image of %d values", img.W, img.H, len(img.Pix))
	}
	if img2.W != img.W || img2.H != img.H || !bytes.Equal(img.Pix, img2.Pix) {
		t.Fatal("a used Decoder decodes differently")
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range validFrames(f) {
		f.Add(b)
	}
	for _, tc := range errorCases(f) {
		f.Add(tc.jpeg)
	}
	for _, name := range []string{"progressive.jpg", "arithmetic.jpg", "rgb.jpg"} {
		f.Add(readFixture(f, name))
	}
	first := firstFrame(f)
	f.Fuzz(func(t *testing.T, b []byte) { decodeChecked(t, nil, first, b) })
}

// firstFrame is what the "used" Decoder of decodeChecked decodes first: a
// frame whose Huffman tables libjpeg-turbo optimised for it, so that the
// Decoder keeps tables of its own.
func firstFrame(tb testing.TB) []byte {
	return readFixture(tb, "restart-422-every-row.jpg")
}
