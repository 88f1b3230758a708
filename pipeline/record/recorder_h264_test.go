package record

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// rtH264Camera runs real ffmpeg writing testsrc2 640x480 at 30 fps as
// H.264 (x264, a keyframe every 30 frames, at the source's pace) into a
// pipe: source that publishes to hub, until the test ends. zerolatency:
// like a camera, x264 then sends each frame as it is made (no B-frames,
// no lookahead that would hold the first frames back and send them in a
// burst).
func rtH264Camera(t *testing.T, ff string, hub *pipeline.Hub) {
	t.Helper()
	cmd := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-t", "60",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-f", "h264", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	src := pipeline.NewReaderSource("ffmpeg", out, pipeline.SourceOptions{FPS: 30})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(ctx, rtHubSink{hub}) })
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
		wg.Wait()
		if stderr.Len() > 0 && t.Failed() {
			t.Logf("camera ffmpeg: %s", stderr.String())
		}
	})
	rtWaitFor(t, 15*time.Second, "the H.264 camera's first frame", func() bool { return hub.Latest() != nil })
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
	camStart := time.Now()
	rtH264Camera(t, ff, src.hub)
	ctx := rtCtx(t)
	rtRecordFor(2500*time.Millisecond - time.Since(camStart))
	st, span := rtStartSpan(t, ctx, r)
	rtRecordFor(3 * time.Second)
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
	// The count matches the rate loosely: on a busy machine "ffmpeg -re"
	// falls behind and catches up in bursts, and those frames are stamped
	// as they arrive.
	if want := p.DurationS * 30; math.Abs(float64(p.Frames)-want) > 3+want/10 {
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
	rtH264Camera(t, ff, src.hub)
	ctx := rtCtx(t)
	st := rtRecordFrames(t, ctx, r, 100)
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
		// Keyframes come every 30 frames; their capture times jitter on a
		// busy machine.
		if i < len(chain)-1 && (p.Frames != 30 || math.Abs(p.DurationS-1) > 0.15) {
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
