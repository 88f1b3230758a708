package record

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
)

// rtHubSink publishes what a source delivers to a hub.
type rtHubSink struct{ hub *pipeline.Hub }

func (s rtHubSink) Negotiated(pipeline.Format) {}
func (s rtHubSink) Frame(f *pipeline.Frame)    { s.hub.Publish(f) }
func (s rtHubSink) Invalid()                   {}

// rtPhase is a stretch of time at one frame rate.
type rtPhase struct {
	fps float64
	dur time.Duration
}

// rtFeedPipe writes the fixture frames, each with a COM "camrec seq=N
// ts=T" (T = when it was written), into a pipe read by a pipe: source that
// publishes to hub, at the rates of phases, and returns when the last phase
// is over (one period after its last frame). It returns when the camera
// (the pipe: source) saw each frame, by seq — the time camrec records it
// at — and how late the feeder wrote its latest frame.
func rtFeedPipe(t *testing.T, hub *pipeline.Hub, phases []rtPhase) (seen map[uint64]time.Time, late time.Duration) {
	t.Helper()
	frames := rtFrames(t)
	watch := hub.Subscribe(1024) // more than every frame fed: none dropped
	defer watch.Close()
	pr, pw := io.Pipe()
	src := pipeline.NewReaderSource("test pipe", pr, pipeline.SourceOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(ctx, rtHubSink{hub}) })
	defer func() { pw.Close(); cancel(); wg.Wait() }()
	next := time.Now()
	seq := uint64(0)
	for _, ph := range phases {
		period := time.Duration(float64(time.Second) / ph.fps)
		end := next.Add(ph.dur)
		for ; next.Before(end); next = next.Add(period) {
			<-time.After(time.Until(next))
			now := time.Now()
			late = max(late, now.Sub(next))
			data := mjpeg.WithComment(frames[seq%uint64(len(frames))], mjpeg.FormatCamrecComment(seq, now.UnixNano()))
			if _, err := pw.Write(data); err != nil {
				t.Fatalf("feed pipe: %v", err)
			}
			seq++
		}
	}
	<-time.After(time.Until(next))
	seen = map[uint64]time.Time{}
	for {
		select {
		case f := <-watch.Frames():
			if text, ok := mjpeg.Comment(f.Data); ok {
				if sq, _, ok := mjpeg.ParseCamrecComment(text); ok {
					seen[sq] = f.Time
				}
			}
		default:
			return seen, late
		}
	}
}

// rtFrameTimes returns, for each frame of a copy-mode recording, its
// presentation time and the seq and capture time in its COM.
type rtFrameTime struct {
	pts float64
	seq uint64
	ts  time.Time
}

func rtFrameTimes(t *testing.T, ff, probe, path string) []rtFrameTime {
	t.Helper()
	pts := testutil.PacketTimes(t, probe, path)
	raw, err := exec.Command(ff, "-v", "error", "-i", path, "-c", "copy", "-f", "mjpeg", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg extract: %v", err)
	}
	rd := mjpeg.NewReader(bytes.NewReader(raw), 8<<20)
	var res []rtFrameTime
	for i := 0; ; i++ {
		jpg, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		com, _ := mjpeg.Comment(jpg)
		seq, ts, ok := mjpeg.ParseCamrecComment(com)
		if !ok || i >= len(pts) {
			t.Fatalf("frame %d: COM %q (of %d packets)", i, com, len(pts))
		}
		res = append(res, rtFrameTime{pts: pts[i], seq: seq, ts: time.Unix(0, ts)})
	}
	if len(res) != len(pts) {
		t.Fatalf("%d JPEGs for %d packets", len(res), len(pts))
	}
	return res
}

// TestRecorderVariableRateKeepsRealTime feeds a pipe: source at 30 fps for
// 3 s, 5 fps for 3 s and 30 fps for 3 s, records those 9 s and checks that
// the file lasts 9 s and, in copy mode where the frames keep their COM,
// that every frame is shown at the time it was captured.
func TestRecorderVariableRateKeepsRealTime(t *testing.T) {
	t.Parallel()
	phases := []rtPhase{{30, 3 * time.Second}, {5, 3 * time.Second}, {30, 3 * time.Second}}
	for _, tt := range []struct{ container, codec string }{{"mkv", "copy"}, {"mp4", "libx264"}} {
		t.Run(tt.container+" "+tt.codec, func(t *testing.T) {
			t.Parallel()
			ff, probe := rtNeedFFmpeg(t)
			r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: tt.container, Codec: tt.codec}, 30)
			ctx := rtCtx(t)
			// The camera streams before the request (a recording needs
			// one that does); this frame, captured before the request, is
			// not recorded.
			src.hub.Publish(&pipeline.Frame{Data: rtFrames(t)[0], Time: time.Now()})
			started := make(chan error, 1)
			go func() { _, err := r.SetActive(ctx, true); started <- err }()
			rtWaitFor(t, 20*time.Second, "the recorder to subscribe", func() bool { return src.hub.Subscribers() == 1 })
			seen, late := rtFeedPipe(t, src.hub, phases)
			if err := <-started; err != nil {
				t.Fatal(err)
			}
			dropped := r.Status().Dropped // frames the recorder's queue lost to a busy machine
			st, err := rtStop(t, ctx, r)
			if err != nil || st.Error != "" {
				t.Fatalf("stop: %+v, %v", st, err)
			}
			path := rtOnlyFile(t, cat)
			p := rtProbeFile(t, probe, path)
			t.Logf("%s: %+v", filepath.Base(path), p)
			// 9 s fed, longer by as much as the feeder fell behind at worst
			// (a busy machine writes the last frames late).
			if hi := 9.3 + late.Seconds(); p.DurationS < 8.7 || p.DurationS > hi {
				t.Errorf("duration %.3f s, want 8.7 to %.3f s (9 s fed, the feeder up to %v late)", p.DurationS, hi, late.Round(time.Millisecond))
			}
			if n := math.Round(p.DurationS * 30); math.Abs(float64(p.Packets)-n) > 1 {
				t.Errorf("%d frames for %.3f s at 30 fps", p.Packets, p.DurationS)
			}
			if tt.codec != "copy" {
				return
			}
			fts := rtFrameTimes(t, ff, probe, path)
			// The file's first frame may be the camera's latest from
			// before the request (shown until the first new one), so the
			// video's clock is found from the frames after it: each
			// frame's first showing minus its capture time is the same
			// offset, within a slot, for every frame. The median is it.
			// A frame's capture time is when the camera (the pipe:
			// source) saw it, as camrec stamps it; the COM's time of
			// writing for a frame it did not see (the one from before).
			captured := func(f rtFrameTime) time.Time {
				if at, ok := seen[f.seq]; ok {
					return at
				}
				return f.ts
			}
			start := captured(fts[0])
			var offsets []float64
			for i, f := range fts {
				if i > 0 && f.seq != fts[i-1].seq {
					offsets = append(offsets, f.pts-captured(f).Sub(start).Seconds())
				}
			}
			slices.Sort(offsets)
			offset := offsets[len(offsets)/2]
			var worst float64
			distinct := map[int]int{} // phase -> distinct frames
			prev := fts[0].seq
			for i, f := range fts {
				capt := captured(f).Sub(start).Seconds() + offset // capture time on the video's clock
				errS := f.pts - capt                              // repeats show later
				first := i == 0 || f.seq != prev
				if f.seq < prev {
					t.Fatalf("frame %d: seq %d after %d", i, f.seq, prev)
				}
				prev = f.seq
				if !first || i == 0 {
					continue
				}
				distinct[min(max(int(capt/3), 0), 2)]++
				worst = max(worst, math.Abs(errS))
				if math.Abs(errS) > 0.05 {
					t.Errorf("frame seq %d captured at %.3f s is shown at %.3f s", f.seq, capt, f.pts)
				}
			}
			t.Logf("distinct frames per phase %v; worst |pts - capture time| of a frame's first showing: %.1f ms; the feeder ran up to %v late",
				distinct, worst*1000, late.Round(time.Millisecond))
			// A frame missing from the file must have been superseded in
			// its output slot (the next one was captured within a slot,
			// 1/30 s, of it: a busy machine feeds frames in bursts, which
			// the resampler rightly collapses) or be one of the frames the
			// recorder reports dropped. Any other loss is a defect.
			shown := map[uint64]bool{}
			for _, f := range fts {
				shown[f.seq] = true
			}
			slot := time.Second / 30
			var lost []string
			for sq := fts[1].seq; sq < fts[len(fts)-1].seq; sq++ {
				if next := seen[sq+1].Sub(seen[sq]); !shown[sq] && next > slot+5*time.Millisecond {
					lost = append(lost, fmt.Sprintf("seq %d (next seen %v later)", sq, next.Round(time.Millisecond)))
				}
			}
			if uint64(len(lost)) > dropped {
				t.Errorf("%d frames missing from the file without a successor in their slot, the recorder reports %d dropped: %v", len(lost), dropped, lost)
			}
			// Fed on time (a machine that kept pace), every frame of each
			// phase is there.
			if late < 10*time.Millisecond {
				for ph, want := range []int{90, 15, 90} {
					if math.Abs(float64(distinct[ph]-want)) > 3 {
						t.Errorf("phase %d: %d distinct frames, want %d ± 3", ph, distinct[ph], want)
					}
				}
			}
		})
	}
}

// TestRecorderReportsStartLatency: status reports the delay from the
// request to the first frame written to ffmpeg, once that frame is written.
func TestRecorderReportsStartLatency(t *testing.T) {
	t.Parallel()
	r, _, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy"}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)
	t0 := time.Now()
	if _, err := r.SetActive(ctx, true); err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 20*time.Second, "the first frame written", func() bool { return r.Status().StartLatencyMS > 0 })
	if l, since := r.Status().StartLatencyMS, time.Since(t0); l > float64(since.Milliseconds())+1 {
		t.Errorf("start latency %.1f ms is longer than the %v since the request", l, since)
	}
	if _, err := r.SetActive(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRecorderStartLatency measures the delay from the request to the
// first frame written to ffmpeg, with a camera already running at 30 fps
// (reported as start_ms; one start and stop per iteration):
//
//	go test -run '^$' -bench RecorderStartLatency -benchtime 5x ./pipeline/
func BenchmarkRecorderStartLatency(b *testing.B) {
	r, _, src, _ := rtRecorder(b, RecorderConfig{Container: "mkv", Codec: "copy"}, 30)
	rtPublish(b, src.hub, rtFrames(b), 30)
	ctx := context.Background()
	var total float64
	for b.Loop() {
		if _, err := r.SetActive(ctx, true); err != nil {
			b.Fatal(err)
		}
		rtWaitFor(b, 5*time.Second, "the first frame written", func() bool { return r.Status().StartLatencyMS > 0 })
		total += r.Status().StartLatencyMS
		if _, err := r.SetActive(ctx, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total/float64(b.N), "start_ms")
}

// BenchmarkRecorderRestartGap measures how long a recording is without a
// running ffmpeg when its ffmpeg is killed: from the SIGKILL to the new
// file's ffmpeg running (gap_ms).
// go test -run '^$' -bench RecorderRestartGap -benchtime 5x ./pipeline/
func BenchmarkRecorderRestartGap(b *testing.B) {
	r, _, src, _ := rtRecorder(b, RecorderConfig{Container: "mkv", Codec: "copy"}, 30)
	rtPublish(b, src.hub, rtFrames(b), 30)
	ctx := context.Background()
	if _, err := r.SetActive(ctx, true); err != nil {
		b.Fatal(err)
	}
	defer r.SetActive(ctx, false)
	var total time.Duration
	for b.Loop() {
		rtWaitFor(b, 10*time.Second, "ffmpeg running a healthy while", func() bool {
			return r.ffmpegPID() != 0 && r.Status().Frames > 0
		})
		// A file that ran healthyAfter restarts at once; one that died
		// young waits the backoff, which is not what is measured here.
		<-time.After(healthyAfter)
		pid := r.ffmpegPID()
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		rtWaitFor(b, 10*time.Second, "a new ffmpeg", func() bool { p := r.ffmpegPID(); return p != 0 && p != pid })
		total += time.Since(killed)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "gap_ms")
}
