// Package frames makes the deterministic JPEG frames that mjpegwriter feeds
// into v4l2loopback, so that the in-VM tests can rebuild any frame from its
// comment and compare what camrec serves byte for byte.
package frames

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/camrec/camrec/internal/mjpeg"
)

// quality is the JPEG quality of the base frames.
const quality = 80

// Base returns n distinct baseline JPEGs of w×h pixels: a gradient with a
// bright bar whose position and colour depend on the index. The result
// depends only on the arguments.
func Base(w, h, n int) ([][]byte, error) {
	if w <= 0 || h <= 0 || n <= 0 {
		return nil, fmt.Errorf("frames: bad size %dx%d or count %d", w, h, n)
	}
	out := make([][]byte, n)
	for i := range out {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		bar := w * i / n
		for y := range h {
			for x := range w {
				c := color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: uint8(i * 255 / n), A: 255}
				if x >= bar && x < bar+w/n+1 {
					c = color.RGBA{R: 255, G: uint8(255 - i*255/n), B: 64, A: 255}
				}
				yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
				img.Y[img.YOffset(x, y)] = yy
				ci := img.COffset(x, y)
				img.Cb[ci], img.Cr[ci] = cb, cr
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
			return nil, fmt.Errorf("frames: encode frame %d: %w", i, err)
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

// Stamp returns frame seq: base[seq mod len(base)] with the comment
// "camrec seq=<seq> ts=<ts>" inserted after SOI.
func Stamp(base [][]byte, seq uint64, ts int64) []byte {
	return mjpeg.WithComment(base[seq%uint64(len(base))], mjpeg.FormatCamrecComment(seq, ts))
}

// Parse reads seq and ts back from a stamped frame's comment.
func Parse(frame []byte) (seq uint64, ts int64, ok bool) {
	text, found := mjpeg.Comment(frame)
	if !found {
		return 0, 0, false
	}
	return mjpeg.ParseCamrecComment(text)
}
