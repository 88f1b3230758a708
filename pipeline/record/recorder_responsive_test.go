package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// Tests of how the recorder answers its callers: at once with a clear
// error when the camera has nothing to record, at once when a recording is
// stopped (while ffmpeg finishes the file), and within a bound when it is
// started, whatever ffmpeg does.

// rtRunCamera runs cam until the test ends.
func rtRunCamera(t *testing.T, cam *pipeline.Camera) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = cam.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// rtSilentSource is a camera that opens but never delivers a frame.
type rtSilentSource struct{}

func (rtSilentSource) Run(ctx context.Context, _ pipeline.Sink) error {
	<-ctx.Done()
	return nil
}

// TestRecorderRefusesAbsentCamera: a recording asked for while the camera
// delivers nothing is refused at once with an error wrapping
// ErrUnavailable (HTTP 503) that names the camera and says its state, and
// nothing is left behind (no file, no ffmpeg, no subscriber). Frames in the
// pre-record are something to record; continuous recording waits for
// frames, as it always did.
func TestRecorderRefusesAbsentCamera(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T, r *Recorder, cat *store.Catalog, want ...string) {
		t.Helper()
		st, err := r.SetActive(rtCtx(t), true)
		if err == nil || !errors.Is(err, defs.ErrUnavailable) {
			t.Fatalf("start = %+v, %v; want an error wrapping ErrUnavailable", st, err)
		}
		t.Logf("start: %v", err)
		for _, w := range append(want, "nothing to record") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		if st.Active || st.State != RecorderIdle {
			t.Errorf("status %+v, want inactive and idle", st)
		}
		if r.ffmpegPID() != 0 || rtSubscribers(r) != 0 {
			t.Errorf("left running: pid %d, subscribers %d", r.ffmpegPID(), rtSubscribers(r))
		}
		if recs := cat.List(""); len(recs) != 0 {
			t.Errorf("catalogue %+v, want empty", recs)
		}
		if files, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", "*")); len(files) != 0 {
			t.Errorf("files created: %v", files)
		}
	}

	t.Run("device absent", func(t *testing.T) {
		t.Parallel()
		dev := filepath.Join(t.TempDir(), "video9")
		cam := pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: dev, FPS: 30}, pipeline.NewV4L2Source(dev, pipeline.SourceOptions{}), testutil.Logger(t))
		rtRunCamera(t, cam)
		rtWaitFor(t, 20*time.Second, "the camera to be disconnected", func() bool {
			return cam.Status().State == pipeline.StateDisconnected
		})
		r, cat := rtRecorderOf(t, RecorderConfig{}, cam)
		refused(t, r, cat, `camera "cam0" is disconnected (`, "camera disconnected", dev)
	})

	t.Run("no frame yet", func(t *testing.T) {
		t.Parallel()
		cam := pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "silent:", FPS: 30}, rtSilentSource{}, testutil.Logger(t))
		rtRunCamera(t, cam)
		r, cat := rtRecorderOf(t, RecorderConfig{}, cam)
		refused(t, r, cat, `camera "cam0" is starting (no frame yet)`)
	})

	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		src := &rtCamSource{rtSource: rtSource{hub: pipeline.NewHub(), fps: 30},
			st: pipeline.CameraStatus{State: pipeline.StateStalled, Error: "no frame for 5s"}}
		src.hub.Publish(&pipeline.Frame{Data: rtFrames(t)[0], Time: time.Now().Add(-5 * time.Second)})
		r, cat := rtRecorderOf(t, RecorderConfig{}, src)
		refused(t, r, cat, `camera "cam0" is stalled (no frame for 5s)`)
	})

	t.Run("pre-record holds frames", func(t *testing.T) {
		t.Parallel()
		src := &rtCamSource{rtSource: rtSource{hub: pipeline.NewHub(), fps: 30}, st: pipeline.CameraStatus{State: pipeline.StateStreaming}}
		r, cat := rtRecorderOf(t, RecorderConfig{Container: "mkv", Codec: "copy", PreRecord: 2 * time.Second}, src)
		frames := rtFrames(t)
		rtPublishFor(src.hub, 30, 500*time.Millisecond, 0, func(seq uint64) *pipeline.Frame {
			return &pipeline.Frame{Data: frames[seq%uint64(len(frames))]}
		})
		src.mu.Lock()
		src.st = pipeline.CameraStatus{State: pipeline.StateDisconnected, Error: "camera disconnected: unplugged"}
		src.mu.Unlock()
		ctx := rtCtx(t)
		st, err := r.SetActive(ctx, true)
		if err != nil || !st.Active {
			t.Fatalf("start with pre-record frames = %+v, %v; want recording", st, err)
		}
		if st, err := rtStop(t, ctx, r); err != nil {
			t.Fatalf("stop = %+v, %v", st, err)
		}
		recs := cat.List("cam0")
		if len(recs) == 0 || recs[len(recs)-1].State != store.RecStateComplete || recs[len(recs)-1].DurationS < 0.3 {
			t.Errorf("catalogue %+v, want the pre-record, complete", recs)
		}
	})

	t.Run("continuous waits for frames", func(t *testing.T) {
		t.Parallel()
		src := &rtCamSource{rtSource: rtSource{hub: pipeline.NewHub(), fps: 30},
			st: pipeline.CameraStatus{State: pipeline.StateDisconnected, Error: "camera disconnected: unplugged"}}
		r, _ := rtRecorderOf(t, RecorderConfig{Container: "mkv", Codec: "copy", Continuous: true}, src)
		rtWaitFor(t, 20*time.Second, "continuous recording to start", func() bool { return r.Status().Active })
		ctx := rtCtx(t)
		if st, err := r.SetActive(ctx, false); err != nil || st.Active {
			t.Fatalf("pause = %+v, %v", st, err)
		}
		st, err := r.SetActive(ctx, true)
		if err != nil || !st.Active || st.State != RecorderRecording {
			t.Fatalf("resume = %+v, %v; want recording, waiting for frames", st, err)
		}
	})
}

// rtFakeFFmpeg writes a stand-in for ffmpeg, for a recorder to run: it
// says it has opened its output, copies its stdin into the output file (its
// argument ending in .mkv) until EOF, then waits, before it exits 0, for a
// line on a FIFO: the test decides when "ffmpeg has finished the file".
// Each line written to release lets one of them exit; closing release lets
// those already waiting exit. Without ready, it never says it has opened
// its output.
func rtFakeFFmpeg(t *testing.T, ready bool) (path string, release *os.File) {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read-write: the open does not wait for a reader, and readers do not
	// see EOF while the test holds it.
	release, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release.Close() })
	say := ""
	if ready {
		say = `echo "[info] Output #0, matroska, to '$out':" >&2`
	}
	script := fmt.Sprintf(`#!/bin/sh
for a; do case $a in *.mkv) out=$a;; esac; done
[ -n "$out" ] || { echo "[fatal] no output file" >&2; exit 1; }
%s
cat > "$out"
read -r line < '%s'
exit 0
`, say, fifo)
	path = filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, release
}

// rtFakeRecorder is a recorder of a 30 fps test camera, in copy-mode MKV,
// whose ffmpeg is ff; it runs until the test ends (stop ends it earlier).
func rtFakeRecorder(t *testing.T, ff string) (r *Recorder, cat *store.Catalog, stop func()) {
	t.Helper()
	_, probe := rtNeedFFmpeg(t)
	dir := t.TempDir()
	log := testutil.Logger(t)
	cat = store.NewCatalog(dir, probe, log)
	src := &rtSource{hub: pipeline.NewHub(), fps: 30}
	r = NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: ff, Container: "mkv", Codec: "copy"}, src, cat, log)
	stop = rtRun(t, r)
	rtPublish(t, src.hub, rtFrames(t), 30)
	return r, cat, stop
}

// TestRecorderStopAnswersWhileFFmpegFinishes: ffmpeg cannot finish the file
// before the test lets it, so a stop that answers has not waited for it:
// the answer and the status say finishing, the catalogue entry is still
// being written. A new recording may start meanwhile, in its own file.
// Once ffmpeg has finished, the recorder is idle and both entries are
// complete.
func TestRecorderStopAnswersWhileFFmpegFinishes(t *testing.T) {
	t.Parallel()
	ff, release := rtFakeFFmpeg(t, true)
	r, cat, _ := rtFakeRecorder(t, ff)
	t.Cleanup(func() { release.Close() }) // before Run's end, should the test fail
	ctx := rtCtx(t)

	var ids []string
	for i := range 2 {
		st, err := r.SetActive(ctx, true)
		if err != nil || !st.Active || st.State != RecorderRecording || st.ID == "" {
			t.Fatalf("start #%d = %+v, %v; want recording", i+1, st, err)
		}
		ids = append(ids, st.ID)
		rtWaitFor(t, 10*time.Second, "frames written", func() bool { return r.Status().Frames >= 10 })
		st, err = r.SetActive(ctx, false)
		if err != nil || st.Active || st.State != RecorderFinishing || st.ID != "" {
			t.Fatalf("stop #%d = %+v, %v; want inactive, finishing", i+1, st, err)
		}
		if st := r.Status(); st.State != RecorderFinishing || st.Active {
			t.Errorf("status after stop #%d: %+v, want finishing", i+1, st)
		}
		if rec, err := cat.Get(ids[i]); err != nil || rec.State != store.RecStateRecording {
			t.Errorf("entry %s while ffmpeg finishes: %+v, %v; want recording", ids[i], rec, err)
		}
	}
	if ids[0] == ids[1] {
		t.Fatalf("the second recording reuses %s", ids[0])
	}
	if _, err := release.WriteString("done\ndone\n"); err != nil {
		t.Fatal(err)
	}
	if st := rtFinished(t, r); st.State != RecorderIdle || st.Error != "" || st.Active {
		t.Errorf("status once finished: %+v, want idle", st)
	}
	for _, id := range ids {
		rec, err := cat.Get(id)
		if err != nil || rec.State != store.RecStateComplete || rec.Bytes == 0 || rec.EndedAt == nil {
			t.Errorf("entry %s: %+v, %v; want complete", id, rec, err)
		}
	}
}

// TestRecorderRunWaitsForFinishingRecordings: Run, ended while a stopped
// recording's ffmpeg has not finished its file (and never will by itself),
// returns only once that ffmpeg is gone (SIGINT after the stop deadline)
// and the entry is final.
func TestRecorderRunWaitsForFinishingRecordings(t *testing.T) {
	t.Parallel()
	ff, _ := rtFakeFFmpeg(t, true) // never released
	r, cat, stopRun := rtFakeRecorder(t, ff)
	ctx := rtCtx(t)
	st := rtRecordFrames(t, ctx, r, 10)
	pid := r.ffmpegPID()
	if stopped, err := r.SetActive(ctx, false); err != nil || stopped.State != RecorderFinishing {
		t.Fatalf("stop = %+v, %v; want finishing", stopped, err)
	}
	stopRun()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("ffmpeg %d after Run returned: %v, want gone", pid, err)
	}
	after := r.Status()
	rec, err := cat.Get(st.ID)
	t.Logf("after Run: status %+v, entry %+v", after, rec)
	if after.State != RecorderFailed || !strings.Contains(after.Error, "did not finish within") {
		t.Errorf("status after Run %+v, want failed for not finishing", after)
	}
	if err != nil || rec.State != store.RecStateFailed || rec.EndedAt == nil {
		t.Errorf("entry after Run %+v, %v; want failed", rec, err)
	}
}

// TestRecorderStartAnswersBeforeFFmpegIsReady: an ffmpeg that takes frames
// but never says it has opened its output (a machine too slow to start
// it) does not hold the start's answer: it comes, recording, once the
// start's bound is over.
func TestRecorderStartAnswersBeforeFFmpegIsReady(t *testing.T) {
	t.Parallel()
	ff, release := rtFakeFFmpeg(t, false)
	r, cat, _ := rtFakeRecorder(t, ff)
	t.Cleanup(func() { release.Close() })
	ctx := rtCtx(t)
	st, err := r.SetActive(ctx, true)
	if err != nil || !st.Active || st.State != RecorderRecording || st.ID == "" {
		t.Fatalf("start = %+v, %v; want recording", st, err)
	}
	rtWaitFor(t, 10*time.Second, "frames written", func() bool { return r.Status().Frames >= 10 })
	if _, err := release.WriteString("done\n"); err != nil {
		t.Fatal(err)
	}
	if st, err := rtStop(t, ctx, r); err != nil || st.State != RecorderIdle {
		t.Fatalf("stop = %+v, %v; want idle", st, err)
	}
	if rec, err := cat.Get(st.ID); err != nil || rec.State != store.RecStateComplete {
		t.Errorf("entry %+v, %v; want complete", rec, err)
	}
}

// TestRecorderSetActiveIsBounded: whatever the owner loop does (here it
// does not run at all), SetActive answers, with an error wrapping
// ErrUnavailable, even to a caller without a deadline.
func TestRecorderSetActiveIsBounded(t *testing.T) {
	t.Parallel()
	log := testutil.Logger(t)
	dir := t.TempDir()
	r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: "/nonexistent/ffmpeg"},
		&rtSource{hub: pipeline.NewHub(), fps: 30}, store.NewCatalog(dir, "", log), log)
	for _, active := range []bool{true, false} {
		st, err := r.SetActive(context.Background(), active)
		if !errors.Is(err, defs.ErrUnavailable) || st.Active {
			t.Errorf("SetActive(%v) without Run = %+v, %v; want an error wrapping ErrUnavailable", active, st, err)
		}
		t.Logf("SetActive(%v): %v", active, err)
	}
}
