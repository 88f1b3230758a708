package record

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
)

// Helpers of the recorder and catalogue tests (prefix rt).

const rtFrameCount = 4

// TestRecorderFixturesGenerate writes testdata/recorder_frame*.jpg: distinct
// 1280x720 JPEGs (a gradient, a moving bar, some noise so they are the size
// of a real webcam frame). Run with CAMREC_UPDATE_FIXTURES=1 to regenerate.
func TestRecorderFixturesGenerate(t *testing.T) {
	if os.Getenv("CAMREC_UPDATE_FIXTURES") == "" {
		t.Skip("set CAMREC_UPDATE_FIXTURES=1 to regenerate testdata/recorder_frame*.jpg")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range rtFrameCount {
		img := image.NewYCbCr(image.Rect(0, 0, 1280, 720), image.YCbCrSubsampleRatio420)
		for y := range 720 {
			for x := range 1280 {
				v := uint8((x*255)/1280/2 + (y*255)/720/2)
				if x/160 == i*2 || x/160 == i*2+1 {
					v = 255 - v
				}
				v += uint8(rng.IntN(8))
				img.Y[img.YOffset(x, y)] = v
			}
		}
		for j := range img.Cb {
			img.Cb[j] = uint8(64 * i)
			img.Cr[j] = uint8(255 - 64*i)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", fmt.Sprintf("recorder_frame%d.jpg", i))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", path, b.Len())
	}
}

// rtFrames loads the fixture JPEGs.
func rtFrames(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range rtFrameCount {
		b, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("recorder_frame%d.jpg", i)))
		if err != nil {
			t.Fatalf("fixture: %v (regenerate with CAMREC_UPDATE_FIXTURES=1)", err)
		}
		out = append(out, b)
	}
	return out
}

// rtNeedFFmpeg returns the paths of ffmpeg and ffprobe. Without them the
// test is skipped, or fails when CI is set.
func rtNeedFFmpeg(t testing.TB) (string, string) {
	t.Helper()
	ff, err := LookFFmpeg("ffmpeg")
	probe := LookFFprobe(ff)
	if err == nil && probe != "" {
		return ff, probe
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("ffmpeg and ffprobe are required in CI: %v", err)
	}
	t.Skipf("ffmpeg/ffprobe not installed: %v", err)
	return "", ""
}

// rtSource is a FrameSource over a hub the test publishes to.
type rtSource struct {
	hub *pipeline.Hub
	fps float64
}

func (s *rtSource) FrameHub() *pipeline.Hub { return s.hub }
func (s *rtSource) Format() pipeline.Format {
	return pipeline.Format{Name: "mjpeg", Width: 1280, Height: 720, FPS: s.fps}
}

// rtPublish publishes the fixture frames to hub at a real-time pace of fps,
// each stamped with its capture time: the first before it returns (the
// camera streams: a recording may start), the others from a goroutine owned
// by the test. It returns stop, which ends the goroutine and waits for it
// (also run at cleanup).
func rtPublish(t testing.TB, hub *pipeline.Hub, frames [][]byte, fps float64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	period := time.Duration(float64(time.Second) / fps)
	next := time.Now()
	hub.Publish(&pipeline.Frame{Data: frames[0], Seq: 0, Time: time.Now()})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := uint64(1); ; seq++ {
			next = next.Add(period)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			hub.Publish(&pipeline.Frame{Data: frames[seq%uint64(len(frames))], Seq: seq, Time: time.Now()})
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// rtRun runs r until the test ends; the returned func stops it and waits
// until Run has returned.
func rtRun(t testing.TB, r *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// rtProbe is what ffprobe says about a recording.
type rtProbe struct {
	Codec, PixFmt string
	Width, Height int
	Packets       int // frames ffprobe reads (one packet each)
	DurationS     float64
}

func rtProbeFile(t testing.TB, ffprobePath, path string) rtProbe {
	t.Helper()
	v := testutil.Probe(t, ffprobePath, path)
	return rtProbe{Codec: v.Codec, PixFmt: v.PixFmt, Width: v.Width, Height: v.Height, Packets: v.Frames, DurationS: v.Duration}
}

// rtTopBoxes lists the top-level box types of an MP4 file.
func rtTopBoxes(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var boxes []string
	for off := uint64(0); off+8 <= uint64(len(b)); {
		size := uint64(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		switch size {
		case 1:
			if off+16 > uint64(len(b)) {
				return append(boxes, typ+"(torn)")
			}
			size = binary.BigEndian.Uint64(b[off+8:])
		case 0:
			size = uint64(len(b)) - off
		}
		if size < 8 {
			return append(boxes, typ+"(bad)")
		}
		boxes = append(boxes, typ)
		off += size
	}
	return boxes
}

// rtPlainMP4 reports whether boxes are those of a plain MP4 with its index
// up front: moov before mdat, no fragments.
func rtPlainMP4(boxes []string) bool {
	moov, mdat := slices.Index(boxes, "moov"), slices.Index(boxes, "mdat")
	return moov >= 0 && mdat > moov && !slices.Contains(boxes, "moof")
}

// rtWaitFor polls cond until it is true or the deadline passes.
func rtWaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, within, what, cond)
}

// rtRecordFor waits d while a recording runs (the scenario is "record for d").
func rtRecordFor(d time.Duration) { <-time.After(d) }

// rtStop stops r's recording and waits until its files are finished: the
// stop answers as soon as the recording is told to stop, possibly with
// state finishing while ffmpeg finishes the file. It returns the status
// once that is over (idle, or failed with the reason), and the stop's
// error.
func rtStop(t testing.TB, ctx context.Context, r *Recorder) (RecordingStatus, error) {
	t.Helper()
	st, err := r.SetActive(ctx, false)
	if err != nil {
		return st, err
	}
	if st.Active {
		t.Errorf("stop answered %+v: still active", st)
	}
	return rtFinished(t, r), nil
}

// rtFinished waits until no stopped recording of r is finishing its files
// and returns the status then.
func rtFinished(t testing.TB, r *Recorder) RecordingStatus {
	t.Helper()
	var st RecordingStatus
	rtWaitFor(t, stopDeadline+killGrace+5*time.Second, "the stopped recording's files to be finished", func() bool {
		st = r.Status()
		return st.State != RecorderFinishing
	})
	return st
}

// rtNow stamps f with the current time, as a camera stamps a frame it has
// just captured, and returns it.
func rtNow(f *pipeline.Frame) *pipeline.Frame {
	f.Time = time.Now()
	return f
}

// rtDropped returns the frames the last recording of r lost to a full
// queue (the writer was too slow).
func rtDropped(r *Recorder) uint64 {
	r.mu.Lock()
	s := r.newest
	r.mu.Unlock()
	if s == nil {
		return 0
	}
	return s.sub.Dropped()
}

// rtSpan is what a test saw of a recording's span, which a busy machine
// may stretch: the recording began between asked and started (the start's
// call and answer) and ended between stopping and stopped (the stop's call
// and its answer, or the end of finishing).
type rtSpan struct{ asked, started, stopping, stopped time.Time }

// rtStartSpan starts r's recording, failing the test on an error, and
// notes the start's call and answer.
func rtStartSpan(t testing.TB, ctx context.Context, r *Recorder) (RecordingStatus, *rtSpan) {
	t.Helper()
	sp := &rtSpan{asked: time.Now()}
	st, err := r.SetActive(ctx, true)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	sp.started = time.Now()
	return st, sp
}

// stop stops r's recording (rtStop) and notes the stop's call and answer.
func (sp *rtSpan) stop(t testing.TB, ctx context.Context, r *Recorder) (RecordingStatus, error) {
	t.Helper()
	sp.stopping = time.Now()
	st, err := rtStop(t, ctx, r)
	sp.stopped = time.Now()
	return st, err
}

// bounds returns the least and the most the recording can have lasted (s):
// from the start's answer to the stop's call, and from the start's call to
// the stop's end.
func (sp *rtSpan) bounds() (least, most float64) {
	return sp.stopping.Sub(sp.started).Seconds(), sp.stopped.Sub(sp.asked).Seconds()
}

// rtRecordFrames starts r's recording and waits until ffmpeg has taken n
// frames; it returns the start's answer.
func rtRecordFrames(t testing.TB, ctx context.Context, r *Recorder, n uint64) RecordingStatus {
	t.Helper()
	st, err := r.SetActive(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 20*time.Second, fmt.Sprintf("%d frames written", n), func() bool { return r.Status().Frames >= n })
	return st
}
