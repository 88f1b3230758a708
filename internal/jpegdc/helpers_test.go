package jpegdc

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/internal/testutil"
)

// ffmpegJPEG encodes one frame of the lavfi source src (e.g. "testsrc2")
// at size ("WxH") with ffmpeg's mjpeg encoder in pixel format pixFmt,
// with the given extra output options (filters, -q:v, -huffman, -slices).
func ffmpegJPEG(tb testing.TB, src, size, pixFmt string, opts ...string) []byte {
	tb.Helper()
	ffmpeg := testutil.RequireTool(tb, "ffmpeg")
	out := filepath.Join(tb.TempDir(), "f.jpg")
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", src + "=s=" + size + ":r=1"}
	args = append(args, opts...)
	args = append(args, "-frames:v", "1", "-pix_fmt", pixFmt, "-c:v", "mjpeg", "-f", "mjpeg", out)
	cmd := exec.Command(ffmpeg, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %q: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ffmpegGray renders one frame of the lavfi source src at size as 8-bit
// gray with ffmpeg, and returns it as an image.
func ffmpegGray(tb testing.TB, src string, w, h int, opts ...string) *image.Gray {
	tb.Helper()
	ffmpeg := testutil.RequireTool(tb, "ffmpeg")
	args := []string{"-v", "error", "-f", "lavfi", "-i", src + "=s=" + strconv.Itoa(w) + "x" + strconv.Itoa(h) + ":r=1"}
	args = append(args, opts...)
	args = append(args, "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo", "-")
	var stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, args...)
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil || len(raw) != w*h {
		tb.Fatalf("ffmpeg %q: %v, %d bytes\n%s", args, err, len(raw), stderr.Bytes())
	}
	return &image.Gray{Pix: raw, Stride: w, Rect: image.Rect(0, 0, w, h)}
}

// encodeGo encodes img with image/jpeg, which writes a baseline JPEG of 1
// component for a gray image and of 3 (4:2:0) otherwise, always with DHT.
func encodeGo(tb testing.TB, img image.Image, quality int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// speckle is a deterministic picture with detail everywhere (a gradient
// with pseudo-random speckle), needing no external tool.
func speckle(w, h int, gray bool) image.Image {
	var img interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	if gray {
		img = image.NewGray(image.Rect(0, 0, w, h))
	} else {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	seed := uint32(1)
	for y := range h {
		for x := range w {
			seed = seed*1664525 + 1013904223
			n := uint8(seed >> 27)
			img.Set(x, y, color.RGBA{uint8(x*255/max(w, 1)) ^ n, uint8(y*255/max(h, 1)) + n, uint8((x+y)*3) - n, 255})
		}
	}
	return img
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// segment is a header segment of a JPEG: its marker and where it starts
// (at its 0xFF) and ends.
type segment struct {
	marker     byte
	start, end int
}

// headerSegments lists the segments of b up to and including the first
// SOS.
func headerSegments(tb testing.TB, b []byte) []segment {
	tb.Helper()
	var segs []segment
	pos := 2
	for {
		if pos+4 > len(b) || b[pos] != 0xFF {
			tb.Fatalf("no SOS in the header (at %d)", pos)
		}
		m := b[pos+1]
		n := int(b[pos+2])<<8 | int(b[pos+3])
		segs = append(segs, segment{m, pos, pos + 2 + n})
		if m == markerSOS {
			return segs
		}
		pos += 2 + n
	}
}

// sof returns the position of the frame header's marker in b.
func sof(tb testing.TB, b []byte) int {
	tb.Helper()
	for _, s := range headerSegments(tb, b) {
		if s.marker >= 0xC0 && s.marker <= 0xCF && s.marker != markerDHT && s.marker != markerDAC {
			return s.start
		}
	}
	tb.Fatal("no SOF")
	return 0
}

// stripDHT returns a copy of b without the DHT segments of its header.
func stripDHT(tb testing.TB, b []byte) []byte {
	tb.Helper()
	out := []byte{0xFF, markerSOI}
	segs := headerSegments(tb, b)
	for _, s := range segs {
		if s.marker != markerDHT {
			out = append(out, b[s.start:s.end]...)
		}
	}
	out = append(out, b[segs[len(segs)-1].end:]...)
	if mjpeg.HasHuffmanTables(out) {
		tb.Fatal("DHT left after stripping")
	}
	return out
}

// withStandardDHT returns b with the standard Huffman tables inserted if
// it has none, for image/jpeg.
func withStandardDHT(b []byte) []byte {
	if mjpeg.HasHuffmanTables(b) {
		return b
	}
	return mjpeg.Standalone(b)
}

// padded returns a copy of b whose frame header declares the picture's
// size rounded up to whole blocks. The entropy-coded data is the same (a
// multiple of 8 never changes the count of MCUs or blocks), so a full
// decode of it shows the pixels the encoder padded the partial blocks
// with, which a block's DC averages too.
func padded(tb testing.TB, b []byte) []byte {
	tb.Helper()
	c := bytes.Clone(b)
	p := sof(tb, c) + 5
	h := int(c[p])<<8 | int(c[p+1])
	w := int(c[p+2])<<8 | int(c[p+3])
	h, w = (h+7)&^7, (w+7)&^7
	c[p], c[p+1], c[p+2], c[p+3] = byte(h>>8), byte(h), byte(w>>8), byte(w)
	return c
}

// lumaOf decodes b fully with image/jpeg and returns its luma plane.
func lumaOf(tb testing.TB, b []byte) (pix []uint8, stride, w, h int) {
	tb.Helper()
	img, err := jpeg.Decode(bytes.NewReader(withStandardDHT(b)))
	if err != nil {
		tb.Fatalf("image/jpeg: %v", err)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		pix, stride = m.Y, m.YStride
	case *image.Gray:
		pix, stride = m.Pix, m.Stride
	default:
		tb.Fatalf("image/jpeg decoded a %T", img)
	}
	return pix, stride, img.Bounds().Dx(), img.Bounds().Dy()
}

// accuracy is how far Decode's values are from the block means of a full
// decode by image/jpeg.
type accuracy struct {
	// Largest |error| over blocks none of whose pixels the full decode
	// clipped to 0 or 255, and over blocks with clipped pixels.
	unclipped, clipped float64
	// Largest |error| over the partial blocks of the last column and row
	// against the mean of their pixels inside the picture only (the DC
	// also averages the encoder's padding): for information.
	visibleOnly float64
}

// measure compares got, Decode's image of b, with the 8x8 block means of
// image/jpeg's decode of b (of padded(b), so that partial blocks are
// whole).
func measure(tb testing.TB, got Image, b []byte) accuracy {
	tb.Helper()
	_, _, w, h := lumaOf(tb, b)
	bw, bh := (w+7)/8, (h+7)/8
	if got.W != bw || got.H != bh || len(got.Pix) != bw*bh {
		tb.Fatalf("got a %dx%d image of %d values, want %dx%d", got.W, got.H, len(got.Pix), bw, bh)
	}
	pix, stride, _, _ := lumaOf(tb, padded(tb, b))
	var a accuracy
	for by := range bh {
		for bx := range bw {
			sum, visSum, vis, clipped := 0, 0, 0, false
			for y := by * 8; y < by*8+8; y++ {
				for x := bx * 8; x < bx*8+8; x++ {
					v := pix[y*stride+x]
					sum += int(v)
					clipped = clipped || v == 0 || v == 255
					if x < w && y < h {
						visSum += int(v)
						vis++
					}
				}
			}
			v := float64(got.Pix[by*bw+bx])
			e := abs(v - float64(sum)/64)
			if clipped {
				a.clipped = max(a.clipped, e)
			} else {
				a.unclipped = max(a.unclipped, e)
			}
			if vis < 64 {
				a.visibleOnly = max(a.visibleOnly, abs(v-float64(visSum)/float64(vis)))
			}
		}
	}
	return a
}

// Tolerances of Decode against the full decode, in levels.
//
// A block's DC is exactly the mean of the 64 values the IDCT produces
// before they are rounded and clipped to 0..255, so where nothing is
// clipped the two differ only by rounding: Decode's value is rounded to an
// integer (up to 0.5) and image/jpeg's integer IDCT rounds each pixel
// (measured in all: at most 0.58): tolerUnclipped = 1. Where the full
// decode clips pixels (ringing around saturated edges: bars, text), the DC
// is the mean before clipping; at the qualities webcams send (ffmpeg
// -q:v 2..5) that moved the mean by up to 1.1 (measured), hence
// tolerAll = 2 for every block. Heavier quantisation moves it further
// (5.2 levels measured on bars at -q:v 20; see TestClippedBlocks).
const (
	tolerUnclipped = 1
	tolerAll       = 2
)

// check fails tb unless got, Decode's image of b, is within the
// tolerances; it returns the measured accuracy.
func check(tb testing.TB, got Image, b []byte) accuracy {
	tb.Helper()
	a := measure(tb, got, b)
	if a.unclipped > tolerUnclipped || a.clipped > tolerAll {
		tb.Errorf("max error %.2f on blocks without clipped pixels (tolerance %d), %.2f with (tolerance %d)",
			a.unclipped, tolerUnclipped, a.clipped, tolerAll)
	}
	return a
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
