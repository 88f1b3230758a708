package record

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/pipeline"
)

// preRing keeps the last frames of a camera for a recording's pre-record:
// at most keep of capture time and at most maxBytes of frame data (JPEGs,
// and raw images of a YUYV camera: 460 KB a frame at 640x360). When the
// byte bound makes it hold less than keep, it says so once in the log (and
// once more when the full duration fits again), never per frame.
type preRing struct {
	keep     time.Duration
	maxBytes int64
	log      *slog.Logger

	mu        sync.Mutex
	frames    []*pipeline.Frame // oldest first
	bytes     int64
	shortened bool
}

func newPreRing(keep time.Duration, maxBytes int64, log *slog.Logger) *preRing {
	return &preRing{keep: keep, maxBytes: maxBytes, log: log}
}

// add appends f and drops what falls outside the bounds.
func (p *preRing) add(f *pipeline.Frame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames = append(p.frames, f)
	p.bytes += frameBytes(f)
	drop := 0
	if f.PixFmt == pipeline.PixFmtH264 {
		// Keep from the last keyframe older than keep: a recording's
		// pre-record starts at a keyframe (see since).
		for i := 0; i < len(p.frames)-1 && f.Time.Sub(p.frames[i].Time) > p.keep; i++ {
			if p.frames[i].Key {
				drop = i
			}
		}
		for i := range drop {
			p.bytes -= frameBytes(p.frames[i])
		}
	} else {
		for drop < len(p.frames)-1 && f.Time.Sub(p.frames[drop].Time) > p.keep {
			p.bytes -= frameBytes(p.frames[drop])
			drop++
		}
	}
	byBytes := false
	for drop < len(p.frames)-1 && p.bytes > p.maxBytes {
		p.bytes -= frameBytes(p.frames[drop])
		drop++
		byBytes = true
	}
	if drop > 0 {
		// Copy down now and then instead of reslicing forever.
		n := copy(p.frames, p.frames[drop:])
		clear(p.frames[n:])
		p.frames = p.frames[:n]
	}
	span := f.Time.Sub(p.frames[0].Time)
	switch {
	case byBytes && !p.shortened:
		p.shortened = true
		p.log.Warn("pre-record shortened by pre_record_max_bytes: frames are too large to keep the whole duration",
			"pre_record_s", p.keep.Seconds(), "kept_s", defs.RoundTo(span.Seconds(), 2), "pre_record_max_bytes", p.maxBytes)
	case !byBytes && p.shortened && span >= p.keep-time.Second/2:
		p.shortened = false
		p.log.Info("pre-record holds its whole duration again", "pre_record_s", p.keep.Seconds())
	}
}

// since returns the kept frames captured at or after t, oldest first; for
// H.264, from the last keyframe at or before t when there is one (so the
// pre-record lasts up to one GOP longer than asked, never shorter).
func (p *preRing) since(t time.Time) []*pipeline.Frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.frames {
		if !f.Time.Before(t) {
			if f.PixFmt == pipeline.PixFmtH264 {
				for j := i; j >= 0; j-- {
					if p.frames[j].Key {
						i = j
						break
					}
				}
			}
			return append([]*pipeline.Frame(nil), p.frames[i:]...)
		}
	}
	return nil
}

// lastTime is the capture time of the newest kept frame (zero if none).
func (p *preRing) lastTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.frames) == 0 {
		return time.Time{}
	}
	return p.frames[len(p.frames)-1].Time
}

// fill feeds the ring from sub until ctx is done. Run owns the goroutine.
func (p *preRing) fill(ctx context.Context, sub *pipeline.Subscriber) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-sub.Frames():
			p.add(f)
		}
	}
}

// preRecordFrames returns the frames captured from from on, for a
// recording requested now, given that sub was subscribed just before: it waits (briefly) until
// the ring has taken every frame published before sub existed, so that no
// frame falls between the ring and sub. Frames in sub up to the returned
// cut time are duplicates to skip.
func (p *preRing) preRecordFrames(hub *pipeline.Hub, from time.Time) (frames []*pipeline.Frame, cut time.Time) {
	if latest := hub.Latest(); latest != nil {
		deadline := time.Now().Add(200 * time.Millisecond)
		for p.lastTime().Before(latest.Time) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // the ring's goroutine is a few frames behind at most
		}
	}
	frames = p.since(from)
	if len(frames) > 0 {
		cut = frames[len(frames)-1].Time
	}
	return frames, cut
}
