package mjpeg

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"testing"
)

// encodeTestJPEG encodes a deterministic picture with some detail (a
// gradient with a pseudo-random speckle) with Go's encoder, which writes
// SOI, DQT, SOF0, DHT (the standard tables), SOS, data, EOI.
func encodeTestJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := range h {
		for x := range w {
			seed = seed*1664525 + 1013904223
			n := uint8(seed >> 28)
			img.Set(x, y, color.RGBA{uint8(x*255/max(w, 1)) ^ n, uint8(y*255/max(h, 1)) + n, uint8((x+y)*3) - n, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		tb.Fatalf("encode %dx%d: %v", w, h, err)
	}
	return buf.Bytes()
}

// removeSegments returns a copy of b without the header segments with the
// given marker.
func removeSegments(tb testing.TB, b []byte, marker byte) []byte {
	tb.Helper()
	out := []byte{0xFF, markerSOI}
	last := 2
	err := walkHeader(b, func(s segment) bool {
		if s.marker == markerSOS {
			return false
		}
		end := s.off + 2
		if s.payload != nil {
			end = s.off + 4 + len(s.payload)
		}
		if s.marker != marker {
			out = append(out, b[s.off:end]...)
		}
		last = end
		return true
	})
	if err != nil {
		tb.Fatalf("walk header: %v", err)
	}
	return append(out, b[last:]...)
}

// ffmpegFrames returns the frames of the ffmpeg-made fixture, split at the
// SOI markers that follow an EOI (the fixture is known to be clean).
func ffmpegFrames(tb testing.TB) [][]byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/testsrc2_160x120.mjpeg")
	if err != nil {
		tb.Fatal(err)
	}
	var frames [][]byte
	for len(data) > 0 {
		i := bytes.Index(data, []byte{0xFF, 0xD9, 0xFF, 0xD8})
		if i < 0 {
			frames = append(frames, data)
			break
		}
		frames = append(frames, data[:i+2])
		data = data[i+2:]
	}
	if len(frames) != 3 {
		tb.Fatalf("fixture has %d frames, want 3", len(frames))
	}
	return frames
}
