package detect

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/camrec/camrec/pipeline"
)

// snapshotQuality is the JPEG quality of a snapshot encoded from a raw
// (YUYV) frame; an MJPEG camera's snapshot is its own JPEG.
const snapshotQuality = 85

// snapshotJPEG returns f as a JPEG: its own (an MJPEG camera's frame, an
// H.264 camera's preview) or, for a YUYV frame, one encoded once here.
func snapshotJPEG(f *pipeline.Frame) ([]byte, error) {
	if f.Data != nil {
		return f.Data, nil
	}
	if f.PixFmt != "yuyv422" || f.Raw == nil || f.Width < 2 || len(f.Raw) < 2*f.Width*f.Height {
		return nil, errors.New("the frame has no picture to make a snapshot of")
	}
	w, h := f.Width, f.Height
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio422)
	for y := 0; y < h; y++ {
		row := f.Raw[2*w*y : 2*w*(y+1)]
		yr := img.Y[y*img.YStride:]
		cb := img.Cb[y*img.CStride:]
		cr := img.Cr[y*img.CStride:]
		for x := 0; x+1 < w; x += 2 {
			yr[x], cb[x/2], yr[x+1], cr[x/2] = row[2*x], row[2*x+1], row[2*x+2], row[2*x+3]
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: snapshotQuality}); err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return b.Bytes(), nil
}
