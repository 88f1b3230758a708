package jpegdc

import (
	"bytes"
	"image/jpeg"
	"testing"
)

// benchFrames are 1280x720 4:2:2 frames like a webcam's, made by ffmpeg:
// SMPTE HD bars with temporal noise (about 87 KB at -q:v 5, the size of a
// real webcam's frame) and the same bars without noise (about 20 KB), with
// the Huffman tables ffmpeg optimises for each frame; and the noisy one
// with the standard tables, sent without DHT as UVC cameras do (about
// 114 KB: the standard tables fit it less well).
func benchFrames(b *testing.B) []struct {
	name string
	jpeg []byte
} {
	noisy := ffmpegJPEG(b, "smptehdbars", "1280x720", "yuvj422p", "-vf", "noise=alls=8:allf=t", "-q:v", "5")
	flat := ffmpegJPEG(b, "smptehdbars", "1280x720", "yuvj422p", "-q:v", "5")
	avi1 := stripDHT(b, ffmpegJPEG(b, "smptehdbars", "1280x720", "yuvj422p", "-vf", "noise=alls=8:allf=t", "-q:v", "5", "-huffman", "default"))
	return []struct {
		name string
		jpeg []byte
	}{
		{"noisy422", noisy},
		{"flat422", flat},
		{"noisy422-AVI1", avi1},
	}
}

// BenchmarkDecode measures Decode in steady state (one Decoder, one Image
// reused), which must not allocate.
func BenchmarkDecode(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name, func(b *testing.B) {
			var d Decoder
			var img Image
			if err := d.Decode(&img, f.jpeg); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(f.jpeg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(&img, f.jpeg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkImageJPEG decodes the same frames fully with image/jpeg, for
// the ratio (the AVI1 frame with its tables put back, which image/jpeg
// needs).
func BenchmarkImageJPEG(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name, func(b *testing.B) {
			data := withStandardDHT(f.jpeg)
			b.SetBytes(int64(len(f.jpeg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
