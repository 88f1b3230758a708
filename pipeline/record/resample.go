package record

import (
	"math"
	"time"

	"github.com/camrec/camrec/pipeline"
)

// resampler turns frames stamped with their capture time into a sequence at
// a constant rate, so that a recording lasts as long as it ran whatever rate
// the camera delivers (a camera slows down in low light) and frames that
// arrive in a burst keep their own times.
//
// Output slot k stands for the time start + k/fps, where start is the capture
// time of the first frame. It carries the latest frame captured no later than
// half a period after that time: a frame is repeated when the camera is
// slower than fps and skipped when it is faster. The half-period margin keeps
// a camera that delivers about fps, with jitter, at one frame per slot.
//
// ffmpeg then reads the slots with "-f mjpeg -framerate fps" (or "-f rawvideo
// ... -framerate fps" for a raw camera), so presentation
// time = slot index / fps, exact in every container (copy-mode MKV and AVI
// included), and frames written == duration × fps.
//
// A resampler is used by one goroutine.
type resampler struct {
	fps     float64
	started bool
	start   time.Time
	next    int64 // index of the next slot to emit
	last    *pipeline.Frame
}

// run is n consecutive slots that carry the same frame.
type run struct {
	f *pipeline.Frame
	n int64
}

func newResampler(fps float64) *resampler { return &resampler{fps: fps} }

// Started reports whether the first frame has been pushed.
func (r *resampler) Started() bool { return r.started }

// Emitted is the number of slots emitted so far.
func (r *resampler) Emitted() int64 { return r.next }

// Push takes the next frame and returns the slots that it closes: those whose
// window ends before f was captured, all carrying the previous frame. A frame
// older than the previous one is ignored.
func (r *resampler) Push(f *pipeline.Frame) run {
	if !r.started {
		r.started, r.start, r.last = true, f.Time, f
		return run{}
	}
	if f.Time.Before(r.last.Time) {
		return run{}
	}
	out := r.emitBefore(f.Time, 0.5)
	r.last = f
	return out
}

// LastTime is the capture time of the latest frame pushed (zero before the
// first).
func (r *resampler) LastTime() time.Time {
	if r.last == nil {
		return time.Time{}
	}
	return r.last.Time
}

// Flush emits, with the latest frame, the slots whose window ended before t.
// The recorder calls it with t a little in the past so that a stalled camera
// still yields a growing file.
func (r *resampler) Flush(t time.Time) run { return r.emitBefore(t, 0.5) }

// Finish emits, with the latest frame, every slot that starts before the stop
// time t, so that the recording lasts t - Start.
func (r *resampler) Finish(t time.Time) run { return r.emitBefore(t, 0) }

// emitBefore emits the slots k >= next with start + (k+margin)/fps < t.
func (r *resampler) emitBefore(t time.Time, margin float64) run {
	if !r.started {
		return run{}
	}
	x := t.Sub(r.start).Seconds()*r.fps - margin
	if x <= 0 {
		return run{}
	}
	end := int64(math.Ceil(x)) // slots k < x
	if end <= r.next {
		return run{}
	}
	out := run{f: r.last, n: end - r.next}
	r.next = end
	return out
}
