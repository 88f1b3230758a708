package record

import (
	"context"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// Synthetic H.264 access units: what the recorder looks at (start codes,
// NAL types, SPS/PPS on keyframes), not pictures.
var (
	vtKeyUnit = []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84,
		0, 0, 0, 1, 0x68, 0xce, 0x0f, 0xc8, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x21}
	vtInterUnit = []byte{0, 0, 0, 1, 0x41, 0x9a, 0x22, 0x11}
)

// vtH264Source is an rtSource that says it is an H.264 camera.
type vtH264Source struct{ rtSource }

func (s *vtH264Source) Format() pipeline.Format {
	return pipeline.Format{Name: pipeline.FormatH264, Width: 640, Height: 480, FPS: s.fps}
}

// vtStartH264 is vtStart for an H.264 camera with a keyframe every gop
// frames (from frame 0), recorded with codec copy into MKV.
func vtStartH264(t *testing.T, cfg RecorderConfig, gop int) *vtEnv {
	t.Helper()
	cfg.Container, cfg.Codec, cfg.Format = "mkv", "copy", "h264"
	src := &vtH264Source{rtSource{hub: pipeline.NewHub(), fps: vtFPS}}
	e := vtRun(t, cfg, &fakeEncoders{}, src)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t0 := time.Now()
		for seq := uint64(0); ctx.Err() == nil; seq++ {
			at := t0.Add(time.Duration(seq) * time.Second / vtFPS)
			time.Sleep(time.Until(at))
			f := &pipeline.Frame{Raw: vtInterUnit, PixFmt: pipeline.PixFmtH264, Width: 640, Height: 480, Seq: seq, Time: at}
			if seq%uint64(gop) == 0 {
				f.Raw, f.Key = vtKeyUnit, true
			}
			src.hub.Publish(f)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return e
}

// vtDurations checks that the files are complete H.264 and last want (s)
// each, to the millisecond the catalogue keeps.
func vtDurations(t *testing.T, files []store.Recording, want ...float64) {
	t.Helper()
	if len(files) != len(want) {
		t.Fatalf("%d files, want %d: %+v", len(files), len(want), files)
	}
	for i, f := range files {
		if f.State != store.RecStateComplete || f.VideoCodec != "h264" || math.Abs(f.DurationS-want[i]) > 1e-3 {
			t.Errorf("file %d %s: %s %s %.6f s; want complete h264 of %.3f s", i, f.ID, f.State, f.VideoCodec, f.DurationS, want[i])
		}
	}
}

// TestVirtualH264Segments: with a keyframe on every boundary (a GOP of 1 s,
// segments of 10 s), an H.264 recording is cut exactly like an MJPEG one:
// files of exactly 10 s, each starting 10 s after the previous. It starts
// at the first keyframe after the request, and so does the start's answer.
func TestVirtualH264Segments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vtStartH264(t, RecorderConfig{Segment: 10 * time.Second}, vtFPS)
		t0 := time.Now()
		time.Sleep(time.Second + time.Second/(2*vtFPS)) // just after a keyframe: the file starts at the next, at 2 s
		e.set(t, true)
		if d := time.Since(t0); d != 2*time.Second {
			t.Errorf("the start answered at %v, want 2s (when the first keyframe was written)", d)
		}
		// Half a frame past 37 s: a stop at the very instant of a frame
		// would race with it (which goroutine runs first is not fixed).
		time.Sleep(35*time.Second + time.Second/(2*vtFPS))
		e.set(t, false)
		files := e.files()
		// Stopped just after 37 s: the last file holds the frames from 32 s
		// to 37 s, the last lasting its nominal 1/30 s.
		vtDurations(t, files, 10, 10, 10, 5+1.0/vtFPS)
		for i := 1; i < len(files); i++ {
			if d := files[i].StartedAt.Sub(files[i-1].StartedAt); d != 10*time.Second {
				t.Errorf("file %d starts %v after file %d, want 10s", i, d, i-1)
			}
		}
	})
}

// TestVirtualH264CutAtKeyframes: with a keyframe every 1.5 s and segments
// of 10 s, cuts come at the first keyframe from each boundary, or up to
// 0.5 s before it: 10.5 s (the keyframe 1 s early is too early), then 9 s
// (0.5 s early), then 10.5 s (on the boundary)... the boundaries stay on
// the 10 s grid.
func TestVirtualH264CutAtKeyframes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vtStartH264(t, RecorderConfig{Segment: 10 * time.Second}, 45)
		time.Sleep(time.Second / (2 * vtFPS)) // just after the keyframe at 0: the recording starts at 1.5 s
		e.set(t, true)
		// Half a frame past 33.5 s: a stop at the very instant of a frame
		// would race with it (which goroutine runs first is not fixed; it
		// failed once in 40 runs).
		time.Sleep(32*time.Second + time.Second/(2*vtFPS))
		e.set(t, false)
		// From 1.5 s (the start answered then): boundaries at 11.5 (cut at
		// 12), 21.5 (cut at 21), 31.5 (cut at 31.5); the stop just after
		// the frame at 33.5.
		vtDurations(t, e.files(), 10.5, 9, 10.5, 2+1.0/vtFPS)
	})
}

// TestVirtualH264PreRecord: with 3 s of pre-record and a keyframe every
// second, a recording asked for at 6.5 s starts at the keyframe at 3 s
// (the last one at least 3 s before the request).
func TestVirtualH264PreRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vtStartH264(t, RecorderConfig{PreRecord: 3 * time.Second}, vtFPS)
		t0 := time.Now()
		time.Sleep(6500 * time.Millisecond)
		e.set(t, true)
		time.Sleep(2 * time.Second)
		e.set(t, false)
		files := e.files()
		if len(files) != 1 {
			t.Fatalf("%d files, want 1", len(files))
		}
		if d := files[0].StartedAt.Sub(t0); d != 3*time.Second {
			t.Errorf("file starts %v after the camera, want 3s (the keyframe 3.5 s before the request)", d)
		}
		if got := files[0].DurationS; got < 5.5-1e-6 || got > 5.5+1.0/vtFPS+1e-6 {
			t.Errorf("file of %.4f s, want 5.5 s (from the keyframe at 3 s to the stop at 8.5 s)", got)
		}
	})
}
