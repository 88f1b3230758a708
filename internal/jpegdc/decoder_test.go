package jpegdc

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// ffmpegCase is a picture ffmpeg's mjpeg encoder makes.
type ffmpegCase struct {
	name, src, size, pixFmt string
	opts                    []string
}

var ffmpegCases = []ffmpegCase{
	// Like a webcam's frame: 4:2:2, 720p, sensor noise, about 87 KB.
	{"422 1280x720 noisy bars", "smptehdbars", "1280x720", "yuvj422p", []string{"-vf", "noise=alls=8:allf=t", "-q:v", "5"}},
	{"422 1280x720 standard tables", "testsrc2", "1280x720", "yuvj422p", []string{"-q:v", "3", "-huffman", "default"}},
	{"420 1280x720", "testsrc2", "1280x720", "yuvj420p", []string{"-q:v", "5"}},
	{"444 1280x720", "mandelbrot", "1280x720", "yuvj444p", []string{"-q:v", "2"}},
	{"420 640x360", "testsrc2", "640x360", "yuvj420p", []string{"-q:v", "5"}},
	{"422 640x360 bars", "smptehdbars", "640x360", "yuvj422p", []string{"-q:v", "4"}},
	// Sizes that are not a multiple of the MCU: partial blocks and MCUs.
	{"420 322x242", "testsrc2", "322x242", "yuvj420p", []string{"-q:v", "5"}},
	{"422 322x242", "testsrc2", "322x242", "yuvj422p", []string{"-q:v", "5"}},
	{"444 322x242", "testsrc2", "322x242", "yuvj444p", []string{"-q:v", "5"}},
	{"422 75x53 noisy", "testsrc2", "75x53", "yuvj422p", []string{"-vf", "noise=alls=10:allf=t", "-q:v", "2"}},
	{"444 9x7", "testsrc2", "9x7", "yuvj444p", []string{"-q:v", "2"}},
	// -slices makes ffmpeg write DRI and an RSTn after every MCU row.
	{"420 322x242 restart every row", "testsrc2", "322x242", "yuvj420p", []string{"-q:v", "5", "-slices", "4", "-threads", "4"}},
	{"422 1280x720 restart every row", "smptehdbars", "1280x720", "yuvj422p", []string{"-vf", "noise=alls=8:allf=t", "-q:v", "5", "-slices", "8", "-threads", "8"}},
}

func TestDecodeMatchesImageJPEG(t *testing.T) {
	for _, tc := range ffmpegCases {
		t.Run(tc.name, func(t *testing.T) {
			b := ffmpegJPEG(t, tc.src, tc.size, tc.pixFmt, tc.opts...)
			if slices.Contains(tc.opts, "-slices") && countRST(b) == 0 {
				t.Fatal("ffmpeg wrote no restart markers")
			}
			var d Decoder
			var img Image
			if err := d.Decode(&img, b); err != nil {
				t.Fatal(err)
			}
			a := check(t, img, b)
			t.Logf("%d bytes: max error %.2f (unclipped blocks), %.2f (clipped); partial blocks vs visible pixels only %.2f",
				len(b), a.unclipped, a.clipped, a.visibleOnly)
		})
	}
}

// TestDecodeGray decodes 1-component JPEGs (one non-interleaved scan), made
// by image/jpeg's encoder from pictures of ffmpeg and of Go.
func TestDecodeGray(t *testing.T) {
	cases := []struct {
		name string
		jpeg func(t *testing.T) []byte
	}{
		{"ffmpeg testsrc2 322x242", func(t *testing.T) []byte {
			return encodeGo(t, ffmpegGray(t, "testsrc2", 322, 242, "-vf", "noise=alls=10:allf=t"), 85)
		}},
		{"ffmpeg bars 1280x720", func(t *testing.T) []byte {
			return encodeGo(t, ffmpegGray(t, "smptehdbars", 1280, 720), 90)
		}},
		{"speckle 33x17", func(t *testing.T) []byte { return encodeGo(t, speckle(33, 17, true), 75) }},
		{"speckle 8x8", func(t *testing.T) []byte { return encodeGo(t, speckle(8, 8, true), 75) }},
		{"speckle 1x1", func(t *testing.T) []byte { return encodeGo(t, speckle(1, 1, true), 75) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.jpeg(t)
			if n := b[sof(t, b)+9]; n != 1 {
				t.Fatalf("the JPEG has %d components", n)
			}
			var d Decoder
			var img Image
			if err := d.Decode(&img, b); err != nil {
				t.Fatal(err)
			}
			a := check(t, img, b)
			t.Logf("max error %.2f (unclipped blocks), %.2f (clipped)", a.unclipped, a.clipped)
		})
	}
}

// TestFixtures decodes the libjpeg-turbo fixtures of testdata (see its
// README): restart intervals, 4:1:1, several scans; and refuses the
// progressive, arithmetic and RGB ones.
func TestFixtures(t *testing.T) {
	cases := []struct {
		file    string
		rst     bool   // the fixture must have restart markers
		wantErr string // "" to decode, else the exact error
	}{
		{file: "restart-420-every-mcu.jpg", rst: true},
		{file: "restart-422-every-row.jpg", rst: true},
		{file: "restart-411.jpg", rst: true},
		{file: "gray-restart.jpg", rst: true},
		{file: "scans-420-luma-second.jpg"},
		{file: "progressive.jpg", wantErr: "jpegdc: unsupported JPEG: progressive (SOF2)"},
		{file: "arithmetic.jpg", wantErr: "jpegdc: unsupported JPEG: arithmetic coding (SOF9)"},
		{file: "rgb.jpg", wantErr: "jpegdc: unsupported JPEG: RGB, no luma"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b := readFixture(t, tc.file)
			if tc.rst && countRST(b) == 0 {
				t.Fatal("the fixture has no restart markers")
			}
			var d Decoder
			var img Image
			err := d.Decode(&img, b)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrUnsupported) {
					t.Fatalf("got error %v, want %q (ErrUnsupported)", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := check(t, img, b)
			t.Logf("max error %.2f (unclipped blocks), %.2f (clipped)", a.unclipped, a.clipped)
		})
	}
}

// countRST counts the RSTn markers in b.
func countRST(b []byte) int {
	n := 0
	for i := range len(b) - 1 {
		if b[i] == 0xFF && b[i+1] >= markerRST0 && b[i+1] <= markerRST7 {
			n++
		}
	}
	return n
}

// TestWithoutHuffmanTables decodes frames without DHT (UVC "AVI1" MJPEG)
// with the standard tables: the same values as the same frames with the
// tables they were encoded with.
func TestWithoutHuffmanTables(t *testing.T) {
	frames := map[string][]byte{
		"ffmpeg 422 1280x720": ffmpegJPEG(t, "smptehdbars", "1280x720", "yuvj422p",
			"-vf", "noise=alls=8:allf=t", "-q:v", "5", "-huffman", "default"),
		"ffmpeg 420 322x242 restart": ffmpegJPEG(t, "testsrc2", "322x242", "yuvj420p",
			"-q:v", "5", "-huffman", "default", "-slices", "4", "-threads", "4"),
		"image/jpeg 420":        encodeGo(t, speckle(100, 60, false), 80),
		"image/jpeg gray":       encodeGo(t, speckle(100, 60, true), 80),
		"cjpeg gray restart":    readFixture(t, "gray-restart.jpg"),
		"cjpeg 420 restart":     readFixture(t, "restart-420-every-mcu.jpg"),
		"cjpeg 420 three scans": readFixture(t, "scans-420-luma-second.jpg"),
	}
	for name, b := range frames {
		t.Run(name, func(t *testing.T) {
			var d Decoder
			var with, without Image
			if err := d.Decode(&with, b); err != nil {
				t.Fatal(err)
			}
			if err := d.Decode(&without, stripDHT(t, b)); err != nil {
				t.Fatal(err)
			}
			if with.W != without.W || with.H != without.H || !bytes.Equal(with.Pix, without.Pix) {
				t.Fatal("the frame without DHT decodes differently")
			}
			check(t, without, b)
		})
	}
}

// TestTablesDoNotLeak checks that a frame without DHT gets the standard
// tables, not those of the frame before, and that a Decoder's history does
// not change its results.
func TestTablesDoNotLeak(t *testing.T) {
	// ffmpeg's default writes tables optimised for each frame.
	optimal := ffmpegJPEG(t, "testsrc2", "322x242", "yuvj422p", "-q:v", "5")
	other := ffmpegJPEG(t, "mandelbrot", "322x242", "yuvj422p", "-q:v", "5")
	avi1 := stripDHT(t, ffmpegJPEG(t, "smptehdbars", "322x242", "yuvj422p", "-q:v", "5", "-huffman", "default"))
	frames := [][]byte{optimal, avi1, other, optimal, avi1, avi1, other, other, optimal}
	var d Decoder
	var img Image
	for i, b := range frames {
		if err := d.Decode(&img, b); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var fresh Image
		if err := new(Decoder).Decode(&fresh, b); err != nil {
			t.Fatalf("frame %d, fresh decoder: %v", i, err)
		}
		if !bytes.Equal(img.Pix, fresh.Pix) {
			t.Fatalf("frame %d decodes differently after the frames before it", i)
		}
	}
}

// TestSteadyState checks that Decode reuses dst.Pix and allocates nothing
// once the Decoder has seen the frames' tables, even when every frame
// brings tables of its own.
func TestSteadyState(t *testing.T) {
	big := ffmpegJPEG(t, "testsrc2", "1280x720", "yuvj422p", "-q:v", "5")
	small := ffmpegJPEG(t, "mandelbrot", "322x242", "yuvj420p", "-q:v", "5")
	avi1 := stripDHT(t, ffmpegJPEG(t, "testsrc2", "640x360", "yuvj422p", "-q:v", "5", "-huffman", "default"))
	gray := encodeGo(t, speckle(64, 48, true), 80)
	var d Decoder
	var img Image
	if err := d.Decode(&img, big); err != nil {
		t.Fatal(err)
	}
	if img.W != 160 || img.H != 90 || len(img.Pix) != 160*90 {
		t.Fatalf("got %dx%d with %d values, want 160x90", img.W, img.H, len(img.Pix))
	}
	p := &img.Pix[0]
	if err := d.Decode(&img, small); err != nil {
		t.Fatal(err)
	}
	if img.W != 41 || img.H != 31 || len(img.Pix) != 41*31 || &img.Pix[0] != p {
		t.Fatalf("got %dx%d with %d values (reused: %v), want 41x31 in the same array",
			img.W, img.H, len(img.Pix), &img.Pix[0] == p)
	}
	allocs := testing.AllocsPerRun(10, func() {
		for _, b := range [][]byte{big, small, avi1, gray} {
			if err := d.Decode(&img, b); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round of 4 frames, want 0", allocs)
	}
}

// TestClippedBlocks shows what the DC means where the full decode clips:
// bars quantised hard ring around their edges, the full decode clips the
// ringing to 0..255, and the DC keeps the mean before clipping. So a block
// whose pixels clip only at 255 has a DC mean above the clipped mean, never
// below (beyond rounding), and the reverse at 0; blocks without clipped
// pixels stay within tolerUnclipped.
func TestClippedBlocks(t *testing.T) {
	b := ffmpegJPEG(t, "smptehdbars", "640x360", "yuvj422p", "-q:v", "20")
	var d Decoder
	var img Image
	if err := d.Decode(&img, b); err != nil {
		t.Fatal(err)
	}
	pix, stride, _, _ := lumaOf(t, b)
	var worst, unclipped float64
	for by := range img.H {
		for bx := range img.W {
			sum, hi, lo := 0, false, false
			for y := by * 8; y < by*8+8; y++ {
				for x := bx * 8; x < bx*8+8; x++ {
					v := pix[y*stride+x]
					sum += int(v)
					hi, lo = hi || v == 255, lo || v == 0
				}
			}
			e := float64(img.Pix[by*img.W+bx]) - float64(sum)/64
			switch {
			case !hi && !lo:
				unclipped = max(unclipped, abs(e))
			case hi && !lo && e < -tolerUnclipped, lo && !hi && e > tolerUnclipped:
				t.Errorf("block %d,%d: DC mean %d, full decode %.2f: off on the wrong side of the clipping",
					bx, by, img.Pix[by*img.W+bx], float64(sum)/64)
			}
			if hi || lo {
				worst = max(worst, abs(e))
			}
		}
	}
	if unclipped > tolerUnclipped {
		t.Errorf("max error %.2f on blocks without clipped pixels, tolerance %d", unclipped, tolerUnclipped)
	}
	if worst <= tolerAll {
		t.Errorf("max error on clipped blocks %.2f: this picture no longer shows clipping", worst)
	}
	t.Logf("max error %.2f (unclipped blocks), %.2f (clipped)", unclipped, worst)
}
