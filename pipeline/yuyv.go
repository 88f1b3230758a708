package pipeline

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
)

// yuyvToYCbCr rewrites img (reused across frames when the size matches,
// else replaced) to hold the YUYV 4:2:2 image raw of width x height:
// Y0 U Y1 V per two pixels, rows of 2*width bytes. It allocates only when
// the size changes.
func yuyvToYCbCr(img *image.YCbCr, raw []byte, width, height int) (*image.YCbCr, error) {
	if width <= 0 || height <= 0 || width%2 != 0 {
		return img, fmt.Errorf("yuyv: bad size %dx%d (width must be even)", width, height)
	}
	if len(raw) < 2*width*height {
		return img, fmt.Errorf("yuyv: %d bytes, want %d for %dx%d", len(raw), 2*width*height, width, height)
	}
	if img == nil || img.Rect.Dx() != width || img.Rect.Dy() != height || img.SubsampleRatio != image.YCbCrSubsampleRatio422 {
		img = image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio422)
	}
	cw := width / 2
	for y := range height {
		src := raw[y*2*width : (y+1)*2*width]
		yRow := img.Y[y*img.YStride : y*img.YStride+width]
		cbRow := img.Cb[y*img.CStride : y*img.CStride+cw]
		crRow := img.Cr[y*img.CStride : y*img.CStride+cw]
		for x := range cw {
			p := src[4*x : 4*x+4 : 4*x+4]
			yRow[2*x] = p[0]
			cbRow[x] = p[1]
			yRow[2*x+1] = p[2]
			crRow[x] = p[3]
		}
	}
	return img, nil
}

// yuyvEncoder turns YUYV frames into JPEGs, reusing its YCbCr image. Not
// safe for concurrent use: each goroutine that encodes has its own.
type yuyvEncoder struct {
	quality int
	img     *image.YCbCr
	size    int // last JPEG's size, to presize the next buffer
}

// encode returns a new Frame carrying f's raw image and its JPEG.
func (e *yuyvEncoder) encode(f *Frame) (*Frame, error) {
	if f.PixFmt != PixFmtYUYV {
		return nil, fmt.Errorf("encode preview of frame %d: pixel format %q not supported", f.Seq, f.PixFmt)
	}
	img, err := yuyvToYCbCr(e.img, f.Raw, f.Width, f.Height)
	if err != nil {
		return nil, fmt.Errorf("encode preview of frame %d: %w", f.Seq, err)
	}
	e.img = img
	buf := bytes.NewBuffer(make([]byte, 0, e.size+e.size/4+4096))
	if err := jpeg.Encode(buf, img, &jpeg.Options{Quality: e.quality}); err != nil {
		return nil, fmt.Errorf("encode preview of frame %d: %w", f.Seq, err)
	}
	e.size = buf.Len()
	out := *f
	out.Data = buf.Bytes()
	return &out, nil
}
