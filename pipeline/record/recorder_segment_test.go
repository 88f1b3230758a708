package record

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// rtPublishStamped publishes the fixture frames with COM "camrec seq=N
// ts=T" at a real-time pace of fps, each stamped with its ideal capture time
// t0 + seq/fps (so that the resampler maps frame n to slot n exactly).
func rtPublishStamped(t testing.TB, hub *pipeline.Hub, fps float64) (stop func()) {
	frames := rtFrames(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	period := time.Duration(float64(time.Second) / fps)
	t0 := time.Now()
	publish := func(seq uint64) {
		at := t0.Add(time.Duration(seq) * period)
		data := mjpeg.WithComment(frames[seq%uint64(len(frames))], mjpeg.FormatCamrecComment(seq, at.UnixNano()))
		hub.Publish(&pipeline.Frame{Data: data, Seq: seq, Time: at})
	}
	publish(0) // before returning: the camera streams, a recording may start
	wg.Go(func() {
		for seq := uint64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(t0.Add(time.Duration(seq) * period))):
			}
			publish(seq)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// rtChain follows the next_id links from the first recording.
func rtChain(t *testing.T, cat *store.Catalog, first string) []store.Recording {
	t.Helper()
	var out []store.Recording
	for id := first; id != ""; {
		rec, err := cat.Get(id)
		if err != nil {
			t.Fatalf("chain: %v", err)
		}
		if len(out) > 0 && rec.PrevID != out[len(out)-1].ID {
			t.Errorf("%s: prev_id %q, want %q", rec.ID, rec.PrevID, out[len(out)-1].ID)
		}
		out = append(out, rec)
		id = rec.NextID
	}
	return out
}

// TestRecorderSegmentsHaveNoGapNorOverlap records 3.5 s or more in
// segments of 1 s (copy-mode MKV keeps each frame's COM) and checks that the
// files, linked in order, hold consecutive frames: the seq goes on by
// exactly one across every cut, and the durations add up.
func TestRecorderSegmentsHaveNoGapNorOverlap(t *testing.T) {
	t.Parallel()
	ff, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy", Segment: time.Second}, 30)
	rtPublishStamped(t, src.hub, 30)
	ctx := rtCtx(t)
	st := rtRecordFrames(t, ctx, r, 105)
	if _, err := rtStop(t, ctx, r); err != nil {
		t.Fatal(err)
	}
	// A busy machine may make the recorder drop frames (its queue is
	// full): then the seq may jump or a frame fill two slots, never go back.
	dropped := rtDropped(r) > 0
	// However late a busy machine passes the stop along (the recording
	// then lasts longer than 3.5 s), every file but the last is one whole
	// segment and the files are all linked.
	chain := rtChain(t, cat, st.ID)
	if len(chain) < 4 || len(cat.List("cam0")) != len(chain) {
		t.Fatalf("chain of %d files, catalogue %d, want the same, at least 4", len(chain), len(cat.List("cam0")))
	}
	var seqs []uint64
	var total float64
	for i, rec := range chain {
		if rec.State != store.RecStateComplete {
			t.Errorf("%s: state %s", rec.ID, rec.State)
		}
		path := filepath.Join(cat.Dir(), "cam0", rec.ID)
		fts := rtFrameTimes(t, ff, probe, path)
		p := rtProbeFile(t, probe, path)
		total += p.DurationS
		if i < len(chain)-1 && (len(fts) != 30 || math.Abs(p.DurationS-1) > 0.01) {
			t.Errorf("segment %d: %d frames, %.3f s; want 30 frames, 1 s", i, len(fts), p.DurationS)
		}
		for _, f := range fts {
			seqs = append(seqs, f.seq)
		}
		t.Logf("%s: %d frames, seq %d..%d, %.3f s", rec.ID, len(fts), fts[0].seq, fts[len(fts)-1].seq, p.DurationS)
	}
	if d := float64(len(seqs)) / 30; math.Abs(total-d) > 0.05 {
		t.Errorf("durations add up to %.3f s for %d frames", total, len(seqs))
	}
	// The stop fills the slots up to its own time with the latest frame:
	// when the test's publisher is late on a busy machine (its next frame,
	// stamped on time, not yet published), the last frame is repeated at
	// the very end. Everything before is one frame per slot.
	for len(seqs) > 1 && seqs[len(seqs)-1] == seqs[len(seqs)-2] {
		seqs = seqs[:len(seqs)-1]
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] < seqs[i-1] || (!dropped && seqs[i] != seqs[i-1]+1) {
			t.Errorf("frame %d: seq %d after %d (frames dropped: %v)", i, seqs[i], seqs[i-1], dropped)
		}
	}
}

// TestRecorderX264Segments: with x264 in MP4, segments of 1 s add up to the
// recording's length, each playable.
func TestRecorderX264Segments(t *testing.T) {
	t.Parallel()
	_, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Segment: time.Second}, 30)
	rtPublishStamped(t, src.hub, 30)
	ctx := rtCtx(t)
	st := rtRecordFrames(t, ctx, r, 75)
	if _, err := rtStop(t, ctx, r); err != nil {
		t.Fatal(err)
	}
	// However late a busy machine passes the stop along, every file but
	// the last is one whole segment, and the files hold what was recorded.
	chain := rtChain(t, cat, st.ID)
	var total float64
	var frames int
	for i, rec := range chain {
		p := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", rec.ID))
		if p.Codec != "h264" {
			t.Errorf("%s: %+v", rec.ID, p)
		}
		if i < len(chain)-1 && (p.Packets != 30 || math.Abs(p.DurationS-1) > 0.01) {
			t.Errorf("segment %d: %d frames, %.3f s; want 30 frames, 1 s", i, p.Packets, p.DurationS)
		}
		total += p.DurationS
		frames += p.Packets
	}
	t.Logf("%d files, %.3f s, %d frames", len(chain), total, frames)
	if want := int(math.Ceil(total - 0.01)); len(chain) != want || math.Abs(total-float64(frames)/30) > 0.05 || frames < 75 {
		t.Errorf("%d files, %.3f s, %d frames; want %d files of 1 s adding up, at least 75 frames", len(chain), total, frames, want)
	}
}

// TestRecorderPreRecord: with 3 s of pre-record, a recording requested at t
// and stopped at about t+2 s lasts 3 s more than it ran and starts 3 s
// before the request (with ffmpeg; exact figures on virtual time in
// TestVirtualPreRecord).
func TestRecorderPreRecord(t *testing.T) {
	t.Parallel()
	_, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy", PreRecord: 3 * time.Second}, 30)
	camStart := time.Now()
	rtPublishStamped(t, src.hub, 30)
	ctx := rtCtx(t)
	rtRecordFor(3500*time.Millisecond - time.Since(camStart)) // the camera runs 3.5 s before the request
	st, span := rtStartSpan(t, ctx, r)
	rtRecordFor(2 * time.Second)
	if _, err := span.stop(t, ctx, r); err != nil {
		t.Fatal(err)
	}
	rec, err := cat.Get(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", st.ID))
	// The request arrived between asked and started; the file begins 3 s
	// before it and ends when the stop arrived (between stopping and
	// stopped). Exact figures are TestVirtualPreRecord's.
	const pre, slack = 3.0, 1.0 / 30
	t.Logf("%+v; starts %.3f s before the start was asked", p, span.asked.Sub(rec.StartedAt).Seconds())
	if least, most := span.bounds(); p.DurationS < least+pre-slack || p.DurationS > most+pre+slack {
		t.Errorf("duration %.3f s, want %.3f..%.3f s (the time recorded and 3 s before)", p.DurationS, least+pre, most+pre)
	}
	if lead := span.asked.Sub(rec.StartedAt).Seconds(); lead < pre-span.started.Sub(span.asked).Seconds()-slack || lead > pre+slack {
		t.Errorf("recording starts %.3f s before the start was asked, want 3 s before the request arrived", lead)
	}
}

// TestPreRingBoundedByBytes: the byte bound shortens the pre-record and
// says so once.
func TestPreRingBoundedByBytes(t *testing.T) {
	var logBuf bytes.Buffer
	p := newPreRing(3*time.Second, 10_000, slog.New(slog.NewTextHandler(&logBuf, nil)))
	t0 := time.Now()
	for i := range 90 {
		p.add(&pipeline.Frame{Data: make([]byte, 1000), Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second / 30)})
	}
	got := p.since(time.Time{})
	if len(got) != 10 || got[0].Seq != 80 {
		t.Errorf("kept %d frames from seq %d, want the last 10", len(got), got[0].Seq)
	}
	if n := strings.Count(logBuf.String(), "pre-record shortened"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logBuf.String())
	}
	big := newPreRing(time.Second, 1<<30, slog.New(slog.NewTextHandler(&logBuf, nil)))
	for i := range 90 {
		big.add(&pipeline.Frame{Data: make([]byte, 1000), Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second / 30)})
	}
	if got := big.since(time.Time{}); len(got) != 31 || got[0].Seq != 59 {
		t.Errorf("kept %d frames from seq %d, want 1 s (31 frames from 59)", len(got), got[0].Seq)
	}
}

// TestRecorderMaxDuration: a recording stops by itself, complete.
func TestRecorderMaxDuration(t *testing.T) {
	t.Parallel()
	_, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy", MaxDuration: 1500 * time.Millisecond}, 30)
	rtPublishStamped(t, src.hub, 30)
	st, err := r.SetActive(rtCtx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 10*time.Second, "the recording to stop by itself", func() bool { return !r.Status().Active })
	after := r.Status()
	rec, err := cat.Get(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", st.ID))
	if after.State != RecorderIdle || after.Error != "" || rec.State != store.RecStateComplete || p.Packets != 45 {
		t.Errorf("status %+v, entry %+v, probe %+v; want idle, complete, 45 frames", after, rec, p)
	}
}

// TestRecorderContinuous records from Run's start in segments, pauses on
// request and resumes.
func TestRecorderContinuous(t *testing.T) {
	t.Parallel()
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy", Continuous: true, Segment: time.Second}, 30)
	rtPublishStamped(t, src.hub, 30)
	rtWaitFor(t, 10*time.Second, "a second segment", func() bool { return r.Status().Segment >= 1 })
	ctx := rtCtx(t)
	st, err := r.SetActive(ctx, false)
	if err != nil || st.Active || (st.State != RecorderFinishing && st.State != RecorderIdle) {
		t.Fatalf("pause: %+v, %v", st, err)
	}
	if st := rtFinished(t, r); st.State != RecorderIdle {
		t.Fatalf("paused: %+v, want idle", st)
	}
	recs := cat.List("cam0")
	if len(recs) < 2 {
		t.Fatalf("catalogue %+v, want 2 segments or more", recs)
	}
	for _, rec := range recs {
		if rec.State != store.RecStateComplete {
			t.Errorf("%s: state %s, want complete", rec.ID, rec.State)
		}
	}
	if st, err := r.SetActive(ctx, true); err != nil || !st.Active {
		t.Fatalf("resume: %+v, %v", st, err)
	}
}

// TestRecorderContinuousBadEncoderBacksOff: ffmpeg failing at once is
// retried with a growing pause (the restart policy: 0.5 s, 1 s, 2 s …, as
// the log announces each), and the error is in status.
func TestRecorderContinuousBadEncoderBacksOff(t *testing.T) {
	t.Parallel()
	ff, probe := rtNeedFFmpeg(t)
	var logBuf testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	dir := t.TempDir()
	cat := store.NewCatalog(dir, probe, log)
	src := &rtSource{hub: pipeline.NewHub(), fps: 30}
	r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: ff, Container: "mkv", Codec: "nosuchenc", Continuous: true}, src, cat, log)
	rtPublish(t, src.hub, rtFrames(t), 30)
	rtRun(t, r)
	rtWaitFor(t, 10*time.Second, "the error in status", func() bool {
		st := r.Status()
		return st.State == RecorderWaiting && strings.Contains(st.Error, "Unknown encoder 'nosuchenc'")
	})
	waitRE := regexp.MustCompile(`msg="continuous recording: retrying later" camera=cam0 in_s=([0-9.]+)`)
	var waits []string
	rtWaitFor(t, 30*time.Second, "three retries announced", func() bool {
		waits = nil
		for _, m := range waitRE.FindAllStringSubmatch(logBuf.String(), -1) {
			waits = append(waits, m[1])
		}
		return len(waits) >= 3
	})
	if want := []string{"0.5", "1", "2"}; !slices.Equal(waits[:3], want) {
		t.Errorf("pauses %v s, want %v: doubling from restartBackoff", waits, want)
	}
	if n := strings.Count(logBuf.String(), "continuous recording: start failed"); n < 2 {
		t.Errorf("%d failed starts logged, want one per retry", n)
	}
}
