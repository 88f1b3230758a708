package v4l2

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkReadFrame measures what camrec adds per frame on the capture
// side: dequeue bookkeeping, trimming at the last EOI and the one copy out
// of the driver buffer, for a 1080p frame with junk after it.
func BenchmarkReadFrame(b *testing.B) {
	img := image.NewGray(image.Rect(0, 0, 1920, 1080))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(64)) + uint8(i%192)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	data := append(buf.Bytes(), make([]byte, 4096)...) // junk after EOI
	d := &Device{path: "/dev/video0", drv: benchDriver{data}}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.ReadFrame(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDriver always has the same frame ready and costs nothing itself.
type benchDriver struct{ data []byte }

func (benchDriver) wait(time.Duration) error      { return nil }
func (d benchDriver) getFrame() (dequeued, error) { return dequeued{data: d.data}, nil }
func (benchDriver) releaseFrame(uint32) error     { return nil }
func (benchDriver) close() error                  { return nil }

// BenchmarkMarkCloexec measures the /proc/self/fd scan Open adds.
func BenchmarkMarkCloexec(b *testing.B) {
	for b.Loop() {
		before, err := openFDs(procSelfFD)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = markNewCloexec(procSelfFD, before, "/dev/video-none")
	}
}
