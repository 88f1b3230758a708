package detect

import (
	"log/slog"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/pipeline"
)

// BenchmarkCameraSecond720p is the stage's cost for one second of a
// 1280x720 30 fps MJPEG camera at the default 5 fps detection: each op
// offers 30 frames (colour bars with sensor noise and a box crossing, as a
// webcam's JPEGs at q 5), of which 5 are decoded (DC only) and analysed.
// "core_%" is that second's share of one core.
//
//	go test -run '^$' -bench CameraSecond -benchtime 200x ./pipeline/detect/
func BenchmarkCameraSecond720p(b *testing.B) {
	frames := render(b, "smptehdbars=s=1280x720:r=30[bg];color=c=white:s=160x160:r=30[box];"+
		"[bg][box]overlay=x='-160+mod(t,2)*800':y=280:eval=frame:shortest=1,noise=alls=8:allf=t,format=yuvj422p", "3")
	st, err := New(Config{Camera: "cam0", Motion: motion.Config{Enabled: true}}, camera{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	a := &analyser{stage: st, interval: time.Second / 5}
	t0 := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	i := 0
	b.ResetTimer()
	for range b.N {
		for range 30 {
			a.frame(&pipeline.Frame{Data: frames[i%len(frames)], Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second / 30)})
			i++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "core_%")
	if st.Status().FramesAnalysed < uint64(b.N)*5-1 {
		b.Fatalf("analysed %d frames in %d camera seconds", st.Status().FramesAnalysed, b.N)
	}
}
