package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// rtH264Camera is an H.264 camera publishing to hub until the test ends:
// testsrc2 640x480 at 30 fps, made by real ffmpeg (x264, a keyframe every
// 30 frames, zerolatency: no B-frames, so that frames go out in the order
// they are shown, as a camera's) ahead of time, split into access units by
// a pipe: source, then published at 30 fps, each stamped with its
// capture time: t0 + n/30, as a camera's driver stamps its buffers. The
// timestamps are the camera's, not the moment a busy machine got round to
// the frame: a real-time encoder (ffmpeg -re) starved of CPU falls behind
// and catches up in bursts, and frames stamped on arrival then came 0.76
// to 2.4 s per 30 frames apart (TestRecorderH264Segments failed under
// stress-ng that way). The first frame is published before it returns
// (the camera streams). It returns latest, the capture time of the last
// frame published.
func rtH264Camera(t *testing.T, ff string, hub *pipeline.Hub) (latest func() time.Time) {
	t.Helper()
	const fps, secs = 30, 20 // 20 s, published in a loop (each loop starts at a keyframe)
	cmd := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x480:rate=%d", fps), "-t", strconv.Itoa(secs),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", strconv.Itoa(fps), "-f", "h264", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stream, err := cmd.Output()
	if err != nil {
		t.Fatalf("encode the camera's stream: %v: %s", err, stderr.Bytes())
	}
	var sink rtCollect
	if err := pipeline.NewReaderSource("ffmpeg", bytes.NewReader(stream), pipeline.SourceOptions{FPS: fps}).Run(context.Background(), &sink); !errors.Is(err, io.EOF) {
		t.Fatalf("split the camera's stream: %v", err)
	}
	if n := len(sink.frames); n != fps*secs || !sink.frames[0].Key {
		t.Fatalf("the camera's stream: %d access units, want %d starting with a keyframe", n, fps*secs)
	}
	var last atomic.Int64
	t0 := time.Now()
	publish := func(n int) {
		f := *sink.frames[n%len(sink.frames)]
		f.Seq, f.Time = uint64(n), t0.Add(time.Duration(n)*time.Second/fps)
		hub.Publish(&f)
		last.Store(f.Time.UnixNano())
	}
	publish(0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(t0.Add(time.Duration(n) * time.Second / fps))):
			}
			publish(n)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return func() time.Time { return time.Unix(0, last.Load()) }
}

// rtCollect is a pipeline.Sink that keeps the frames.
type rtCollect struct{ frames []*pipeline.Frame }

func (c *rtCollect) Negotiated(pipeline.Format) {}
func (c *rtCollect) Frame(f *pipeline.Frame)    { c.frames = append(c.frames, f) }
func (c *rtCollect) Invalid()                   {}

// rtCameraCurrent waits until the camera has published its frames up to
// now (a busy machine runs its goroutine late): a stop then finds every
// frame captured before it in the recorder's queue.
func rtCameraCurrent(t *testing.T, latest func() time.Time) {
	t.Helper()
	asked := time.Now()
	rtWaitFor(t, 10*time.Second, "the camera to publish its frames up to now", func() bool {
		return !latest().Before(asked.Add(-time.Second / 30))
	})
}

// rtH264Probe is what ffprobe says of an H.264 recording.
type rtH264Probe struct {
	Codec, Profile string
	Width, Height  int
	Frames         int
	KeyFirst       bool    // the first packet is a keyframe
	DurationS      float64 // last pts - first pts + one frame
	MaxGapS        float64 // the largest step between consecutive pts
}

func rtProbeH264(t *testing.T, probe, path string) rtH264Probe {
	t.Helper()
	out, err := exec.Command(probe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,profile,width,height:packet=pts_time,flags",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var v struct {
		Streams []struct {
			CodecName, Profile string `json:"-"`
			Codec              string `json:"codec_name"`
			Prof               string `json:"profile"`
			Width, Height      int
		}
		Packets []struct {
			PTS   string `json:"pts_time"`
			Flags string
		}
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v.Streams) != 1 || len(v.Packets) == 0 {
		t.Fatalf("ffprobe %s: %v: %s", path, err, out)
	}
	p := rtH264Probe{Codec: v.Streams[0].Codec, Profile: v.Streams[0].Prof, Width: v.Streams[0].Width,
		Height: v.Streams[0].Height, Frames: len(v.Packets), KeyFirst: len(v.Packets[0].Flags) > 0 && v.Packets[0].Flags[0] == 'K'}
	var first, last, prev float64
	for i, pk := range v.Packets {
		x, _ := strconv.ParseFloat(pk.PTS, 64)
		if i == 0 {
			first = x
		} else {
			p.MaxGapS = max(p.MaxGapS, x-prev)
		}
		prev, last = x, max(last, x)
	}
	p.DurationS = last - first + 1.0/30
	return p
}

// rtDecodes reports ffmpeg's complaints when decoding path ("" if none).
func rtDecodes(t *testing.T, ff, path string) string {
	t.Helper()
	out, _ := exec.Command(ff, "-v", "error", "-i", path, "-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	return string(bytes.TrimSpace(out))
}

// An H.264 camera recorded with codec copy into MP4: the camera's own
// stream (profile, size), no frame added or lost, timed by the capture
// times, starting at a keyframe of the pre-record.
func TestRecorderH264CopyMP4(t *testing.T) {
	t.Parallel()
	ff, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mp4", Codec: "copy", Format: "h264", PreRecord: time.Second}, 30)
	latest := rtH264Camera(t, ff, src.hub)
	camStart := time.Now() // its first frame: 2.5 s of frames before the request
	ctx := rtCtx(t)
	rtRecordFor(2500*time.Millisecond - time.Since(camStart))
	st, span := rtStartSpan(t, ctx, r)
	rtRecordFor(3 * time.Second)
	rtCameraCurrent(t, latest)
	if _, err := span.stop(t, ctx, r); err != nil {
		t.Fatal(err)
	}
	rec, err := cat.Get(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cat.Dir(), "cam0", st.ID)
	rtWaitFor(t, 10*time.Second, "the MP4 remuxed to a plain one", func() bool {
		return rtPlainMP4(rtTopBoxes(t, path))
	})
	p := rtProbeH264(t, probe, path)
	t.Logf("%+v; sidecar %.3f s, codec %s", p, rec.DurationS, rec.VideoCodec)
	if rec.State != store.RecStateComplete || rec.VideoCodec != "h264" {
		t.Errorf("sidecar: state %s, codec %s", rec.State, rec.VideoCodec)
	}
	// -preset veryfast -tune zerolatency: what x264 makes of 640x480.
	if p.Codec != "h264" || p.Profile != "High" || p.Width != 640 || p.Height != 480 || !p.KeyFirst {
		t.Errorf("probe %+v: want h264 High 640x480 starting with a keyframe", p)
	}
	// Every frame written is in the file, with its capture time: the
	// durations agree with the sidecar's and the frame count with the rate.
	if math.Abs(p.DurationS-rec.DurationS) > 0.01 {
		t.Errorf("file: %d frames, %.3f s; sidecar %.3f s", p.Frames, p.DurationS, rec.DurationS)
	}
	// One frame per 1/30 s of capture time: the camera's rate.
	if want := p.DurationS * 30; math.Abs(float64(p.Frames)-want) > 1 {
		t.Errorf("%d frames in %.3f s, want %.0f at 30 fps", p.Frames, p.DurationS, want)
	}
	// The pre-record starts at the last keyframe at least 1 s before the
	// request (keyframes every second): 1-2 s before it.
	const slack = 1.0 / 30
	least, most := span.bounds()
	if p.DurationS < least+1-slack || p.DurationS > most+2+slack {
		t.Errorf("duration %.3f s, want %.3f..%.3f s (the time recorded and 1-2 s before)", p.DurationS, least+1, most+2)
	}
	if msg := rtDecodes(t, ff, path); msg != "" {
		t.Errorf("decoding: %s", msg)
	}
}

// Segments of an H.264 copy recording (MKV) are cut at keyframes: each
// starts with one and plays; all but the last last one segment.
func TestRecorderH264Segments(t *testing.T) {
	t.Parallel()
	ff, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy", Format: "h264", Segment: time.Second}, 30)
	latest := rtH264Camera(t, ff, src.hub)
	ctx := rtCtx(t)
	st := rtRecordFrames(t, ctx, r, 100)
	rtCameraCurrent(t, latest)
	if _, err := rtStop(t, ctx, r); err != nil {
		t.Fatal(err)
	}
	chain := rtChain(t, cat, st.ID)
	if len(chain) < 3 {
		t.Fatalf("%d files, want at least 3", len(chain))
	}
	var frames int
	for i, rec := range chain {
		path := filepath.Join(cat.Dir(), "cam0", rec.ID)
		p := rtProbeH264(t, probe, path)
		t.Logf("%s: %+v", rec.ID, p)
		frames += p.Frames
		if rec.State != store.RecStateComplete || !p.KeyFirst || p.Codec != "h264" {
			t.Errorf("segment %d: state %s, %+v: want complete h264 starting with a keyframe", i, rec.State, p)
		}
		// Keyframes come every 30 frames, one a second of capture time.
		if i < len(chain)-1 && (p.Frames != 30 || math.Abs(p.DurationS-1) > 0.01) {
			t.Errorf("segment %d: %d frames, %.3f s; want 30 frames, 1 s", i, p.Frames, p.DurationS)
		}
		if msg := rtDecodes(t, ff, path); msg != "" {
			t.Errorf("segment %d decoding: %s", i, msg)
		}
	}
	if frames < 100 {
		t.Errorf("%d frames in the files, want at least the 100 written before the stop", frames)
	}
}
