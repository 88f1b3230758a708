// Tests of the recorder when things go wrong: ffmpeg killed, stalled,
// missing or refusing its encoder, a camera that sends nothing.

package record

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// TestRecorderFFmpegKilledMidRecording: ffmpeg is killed; the recorder
// notices, keeps the dead file (playable up to its last fragment), goes on
// in a new file, counts the restart and links the two files.
func TestRecorderFFmpegKilledMidRecording(t *testing.T) {
	t.Parallel()
	_, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	// Past the second keyframe, so that complete fragments are on disk.
	st := rtRecordFrames(t, ctx, r, 75)
	pid := r.ffmpegPID()
	atKill := r.Status().Frames
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var after RecordingStatus
	rtWaitFor(t, 20*time.Second, "a new file", func() bool {
		after = r.Status()
		return after.ID != st.ID && after.ID != "" && r.ffmpegPID() != 0 && r.ffmpegPID() != pid
	})
	// How soon is a benchmark's figure (BenchmarkRecorderRestartGap), not
	// this test's: a busy machine is slow.
	t.Logf("new file %s %v after the kill", after.ID, time.Since(killed).Round(time.Millisecond))
	if !after.Active || after.Restarts != 1 || after.Segment != 1 || !strings.Contains(after.Error, "ffmpeg exited: signal: killed") {
		t.Errorf("status after the restart %+v", after)
	}
	rtWaitFor(t, 10*time.Second, "frames in the new file", func() bool { return r.Status().Frames >= atKill+45 })
	if st, err := rtStop(t, ctx, r); err != nil || st.Error != "" {
		t.Fatalf("stop = %+v, %v", st, err)
	}

	first, err := cat.Get(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.State != store.RecStateFailed || !strings.Contains(first.Error, "signal: killed") || first.NextID != after.ID {
		t.Errorf("dead file's entry %+v, want failed, linked to %s", first, after.ID)
	}
	second, err := cat.Get(after.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.State != store.RecStateComplete || second.PrevID != st.ID {
		t.Errorf("new file's entry %+v, want complete, linked back to %s", second, st.ID)
	}
	p1 := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", st.ID))
	p2 := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", after.ID))
	written := float64(atKill) / 30
	t.Logf("dead file %+v (%.2f s written before the kill: %.2f s lost), new file %+v", p1, written, written-p1.DurationS, p2)
	if p1.Codec != "h264" || written-p1.DurationS > 2.1 {
		t.Errorf("killed file probes as %+v, want h264 up to 2 s before the kill (%.2f s)", p1, written)
	}
	if p2.Codec != "h264" || p2.DurationS < 1.4 {
		t.Errorf("new file probes as %+v", p2)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("ffmpeg %d still exists", pid)
	}
}

// TestRecorderStalledFFmpegDoesNotHang: ffmpeg stops reading (SIGSTOP). The
// hub keeps publishing (the recorder's queue drops, counted). Stopping
// answers at once, finishing (a stopped ffmpeg cannot finish the file
// before the deadlines); then the deadlines (close stdin, SIGINT, SIGKILL)
// end it, the recording is marked failed and its file kept.
func TestRecorderStalledFFmpegDoesNotHang(t *testing.T) {
	t.Parallel()
	r, cat, src, _ := rtRecorder(t, RecorderConfig{}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	st := rtRecordFrames(t, ctx, r, 75)
	pid := r.ffmpegPID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	rtWaitFor(t, 10*time.Second, "frames dropped by the recorder's queue", func() bool { return r.Status().Dropped >= 30 })

	st2, err := r.SetActive(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stop answered %+v", st2)
	if st2.Active || st2.State != RecorderFinishing {
		t.Errorf("stop answered %+v, want inactive and finishing", st2)
	}
	if rec, err := cat.Get(st.ID); err != nil || rec.State != store.RecStateRecording {
		t.Errorf("catalogue entry while finishing %+v, %v; want still recording", rec, err)
	}
	after := rtFinished(t, r)
	if after.Active || after.State != RecorderFailed || !strings.Contains(after.Error, "did not finish within") {
		t.Errorf("status once finished %+v, want failed for not finishing", after)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("ffmpeg %d still exists", pid)
	}
	rec, err := cat.Get(st.ID)
	if err != nil || rec.State != store.RecStateFailed || rec.Bytes == 0 {
		t.Errorf("catalogue entry %+v, %v; want failed with its file", rec, err)
	}
}

// TestRecorderCameraSendsNothing: a camera that has delivered no frame
// cannot be recorded: the start fails at once (503) saying so, and leaves
// nothing behind (see also TestRecorderRefusesAbsentCamera).
func TestRecorderCameraSendsNothing(t *testing.T) {
	t.Parallel()
	r, cat, _, _ := rtRecorder(t, RecorderConfig{}, 30)
	ctx := rtCtx(t)

	st, err := r.SetActive(ctx, true)
	if !errors.Is(err, defs.ErrUnavailable) || st.Active {
		t.Fatalf("start = %+v, %v; want inactive and an error wrapping ErrUnavailable", st, err)
	}
	if want := `camera "cam0" has delivered no frame yet: nothing to record`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if st.State != RecorderIdle || r.ffmpegPID() != 0 || rtSubscribers(r) != 0 {
		t.Errorf("left running: status %+v, pid %d, subscribers %d", st, r.ffmpegPID(), rtSubscribers(r))
	}
	if recs := cat.List(""); len(recs) != 0 {
		t.Errorf("catalogue %+v, want empty", recs)
	}
	if files, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", "*")); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}

// TestRecorderBadEncoderFailsFast: a start with an encoder ffmpeg does not
// know fails with ffmpeg's words (instead of answering "recording" after
// startTimeout), and leaves nothing behind.
func TestRecorderBadEncoderFailsFast(t *testing.T) {
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "nosuchenc"}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	t0 := time.Now()
	st, err := r.SetActive(ctx, true)
	if err == nil {
		t.Fatalf("start with a bad encoder = %+v, want an error", st)
	}
	t.Logf("error after %s: %v", time.Since(t0), err)
	if !strings.Contains(err.Error(), "ffmpeg said: [fatal] Unknown encoder 'nosuchenc'") {
		t.Errorf("error %q does not carry ffmpeg's message", err)
	}
	if st.Active || r.ffmpegPID() != 0 || rtSubscribers(r) != 0 {
		t.Errorf("left running: status %+v, pid %d, subscribers %d", st, r.ffmpegPID(), rtSubscribers(r))
	}
	if recs := cat.List(""); len(recs) != 0 {
		t.Errorf("catalogue %+v, want empty", recs)
	}
	if files, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", "*")); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if hidden, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", ".*")); len(hidden) != 0 {
		t.Errorf("sidecars left: %v", hidden)
	}
}

func TestRecorderFFmpegMissing(t *testing.T) {
	missing := missingError("ffmpeg not found in PATH: install it (apt-get install ffmpeg) or set -ffmpeg")
	log := testutil.Logger(t)
	dir := t.TempDir()
	r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpegErr: missing},
		&rtSource{hub: pipeline.NewHub(), fps: 30}, store.NewCatalog(dir, "", log), log)
	// Not even Run is needed to refuse.
	st, err := r.SetActive(rtCtx(t), true)
	if !errors.Is(err, defs.ErrFFmpegMissing) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Fatalf("start = %v, want ErrFFmpegMissing with advice", err)
	}
	if st.Active || st.Error != missing.Error() {
		t.Errorf("status %+v, want inactive with the reason", st)
	}
}
