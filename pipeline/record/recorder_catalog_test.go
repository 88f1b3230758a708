// Tests of the recorder together with the catalogue: a recording in
// progress as listed, crashed files repaired, retention at start.

package record

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// TestCatalogActiveRecording: the recording in progress is listed with live
// size and duration, cannot be deleted, and survives a rescan as "recording".
func TestCatalogActiveRecording(t *testing.T) {
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy"}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	st, err := r.SetActive(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 20*time.Second, "bytes on disk", func() bool {
		rec, err := cat.Get(st.ID)
		return err == nil && rec.Bytes > 0 && rec.DurationS > 0.2
	})
	rec, _ := cat.Get(st.ID)
	if rec.State != store.RecStateRecording || rec.EndedAt != nil {
		t.Errorf("active recording listed as %+v", rec)
	}
	if err := cat.Delete(st.ID); !errors.Is(err, defs.ErrConflict) {
		t.Errorf("Delete while recording = %v, want ErrConflict", err)
	}
	if err := cat.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := cat.Get(st.ID); err != nil || rec.State != store.RecStateRecording {
		t.Errorf("after rescan: %+v, %v; want still recording", rec, err)
	}
	if _, err := r.SetActive(ctx, false); err != nil {
		t.Fatal(err)
	}
	rtFinished(t, r) // the stop answers at once; ffmpeg then finishes the file
	if err := cat.Delete(st.ID); err != nil {
		t.Errorf("Delete after stop: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", "*")); len(files) != 0 {
		t.Errorf("files left after Delete: %v", files)
	}
}

// rtCountFrames counts the video frames ffprobe can read in path, 0 when it
// reads none (yet).
func rtCountFrames(ffprobePath, path string) int {
	v, err := testutil.TryProbe(ffprobePath, path)
	if err != nil {
		return 0
	}
	return v.Frames
}

// rtCrashedMKV records an MKV as camrec does (MJPEG frames on ffmpeg's
// stdin, copied into Matroska) and SIGKILLs ffmpeg while it is recording,
// once at least minFrames frames are in the file. The file then has no
// duration, as after a crash or a power cut.
func rtCrashedMKV(t *testing.T, ff, probe, path string, minFrames int) {
	t.Helper()
	const fps = 30
	// 6 s of test pattern: more than ffmpeg buffers before writing.
	frames, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "180",
		"-c:v", "mjpeg", "-f", "mjpeg", "pipe:1").Output()
	if err != nil {
		t.Fatalf("make test frames: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ff, ffmpegArgs(RecorderConfig{Container: "mkv", Codec: "copy"}, fps, inputSpec{}, path)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// stdin stays open: ffmpeg is still recording when it is killed.
	if _, err := stdin.Write(frames); err != nil {
		t.Fatalf("feed ffmpeg: %v\n%s", err, stderr.String())
	}
	rtWaitFor(t, 30*time.Second, "frames in the MKV", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ffmpeg exited before it was killed: %v\n%s", err, stderr.String())
		default:
		}
		return rtCountFrames(probe, path) >= minFrames
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	<-exited
	stdin.Close()
}

// TestCatalogRepairsCrashedMKV: an MKV whose ffmpeg was killed has no
// duration. At start-up Scan marks it interrupted and truncated, the repair
// the recorder runs on what AwaitingRemux lists (BeginRemux, remuxRecording,
// EndRemux) remuxes it in place, and ffprobe then reads the duration of the
// frames it holds; the catalogue and the sidecar say it too.
func TestCatalogRepairsCrashedMKV(t *testing.T) {
	ff, probe := rtNeedFFmpeg(t)
	root := t.TempDir()
	started := time.Now().Add(-time.Minute).Truncate(time.Second)
	id := "cam0-" + started.Format("20060102-150405") + ".mkv"
	path := filepath.Join(root, "cam0", id)
	rtCrashedMKV(t, ff, probe, path, 60)

	before := testutil.Probe(t, probe, path)
	if before.Duration != 0 || before.Frames < 60 {
		t.Fatalf("crashed MKV: duration %g s, %d frames; want no duration and at least 60 frames", before.Duration, before.Frames)
	}
	frameDur := float64(before.Frames) / 30
	if err := store.WriteSidecar(store.SidecarPath(path), store.Sidecar{StartedAt: started, State: store.RecStateRecording, Codec: "mjpeg", Container: "mkv", FPS: 30}); err != nil {
		t.Fatal(err)
	}

	cat := store.NewCatalog(root, probe, testutil.Logger(t))
	ctx := rtCtx(t)
	if err := cat.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := cat.Get(id)
	if err != nil || rec.State != store.RecStateInterrupted {
		t.Fatalf("after Scan: %+v, %v; want interrupted", rec, err)
	}
	if s, err := store.ReadSidecar(store.SidecarPath(path)); err != nil || !s.Truncated || s.State != store.RecStateInterrupted {
		t.Fatalf("sidecar after Scan: %+v, %v; want interrupted and truncated", s, err)
	}
	pending := cat.AwaitingRemux("cam0")
	if len(pending) != 1 || pending[id] != path {
		t.Fatalf("fragmented = %v, want the crashed MKV", pending)
	}

	// What the recorder does at start-up for each of them (remuxLater).
	for pid, ppath := range pending {
		if !cat.BeginRemux(pid) {
			t.Fatalf("beginRemux(%s): want true", pid)
		}
		tmp := store.RemuxTemp(ppath)
		if err := cat.EndRemux(pid, tmp, remuxRecording(ctx, ff, ppath, tmp)); err != nil {
			t.Fatalf("repair: %v", err)
		}
	}

	after := testutil.Probe(t, probe, path)
	if after.Frames != before.Frames || math.Abs(after.Duration-frameDur) > 0.5 || after.Codec != "mjpeg" {
		t.Errorf("repaired MKV: %d frames, duration %g s; want %d frames, %g s", after.Frames, after.Duration, before.Frames, frameDur)
	}
	if after.Errors != "" {
		t.Errorf("ffprobe still complains about the repaired MKV: %s", after.Errors)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || string(head) != "\x1a\x45\xdf\xa3" {
		t.Errorf("repaired file does not start with an EBML header: % x (%v)", head, err)
	}
	rec, err = cat.Get(id)
	if err != nil || rec.State != store.RecStateInterrupted || math.Abs(rec.DurationS-frameDur) > 0.5 {
		t.Errorf("catalogue after repair: %+v, %v; want interrupted, %g s", rec, err, frameDur)
	}
	s, err := store.ReadSidecar(store.SidecarPath(path))
	if err != nil || s.Truncated || math.Abs(s.DurationS-frameDur) > 0.5 {
		t.Errorf("sidecar after repair: %+v, %v", s, err)
	}
	if files, _ := filepath.Glob(filepath.Join(root, "cam0", "*.tmp")); len(files) != 0 {
		t.Errorf("temp files left: %v", files)
	}
	// Nothing left to do, now or at the next start.
	if cat.BeginRemux(id) {
		t.Error("beginRemux of the repaired MKV: want false (nothing to do)")
	}
	fresh := store.NewCatalog(root, probe, testutil.Logger(t))
	if err := fresh.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if p := fresh.AwaitingRemux("cam0"); len(p) != 0 {
		t.Errorf("fragmented after a rescan = %v, want none", p)
	}
	if rec, err := fresh.Get(id); err != nil || math.Abs(rec.DurationS-frameDur) > 0.5 {
		t.Errorf("rescan: %+v, %v", rec, err)
	}
}

// TestCatalogRemuxOnlyWhatNeedsIt: BeginRemux refuses a finished MKV (final
// as ffmpeg wrote it), so a remux asked for every finished file touches only
// fragmented MP4s and truncated MKVs; remuxRecording refuses other
// containers.
func TestCatalogRemuxOnlyWhatNeedsIt(t *testing.T) {
	root := t.TempDir()
	cat := store.NewCatalog(root, "", testutil.Logger(t))
	id, path, err := cat.Reserve("cam0", "mkv", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	meta := store.Sidecar{StartedAt: time.Now(), State: store.RecStateComplete, Container: "mkv"}
	if err := cat.Put("cam0", id, path, meta, 0); err != nil {
		t.Fatal(err)
	}
	if cat.BeginRemux(id) {
		t.Error("beginRemux of a finished MKV: want false")
	}
	if p := cat.AwaitingRemux("cam0"); len(p) != 0 {
		t.Errorf("fragmented = %v, want none", p)
	}
	meta.Truncated = true
	if err := cat.Put("cam0", id, path, meta, 0); err != nil {
		t.Fatal(err)
	}
	if !cat.BeginRemux(id) {
		t.Error("beginRemux of a truncated MKV: want true")
	}
	if err := remuxRecording(context.Background(), "/nonexistent/ffmpeg", "x.avi", "y"); err == nil ||
		!strings.Contains(err.Error(), "not an MP4 nor an MKV") {
		t.Errorf("remux of an AVI: %v", err)
	}
	args := strings.Join(remuxMKVArgs("a.mkv", "b.tmp"), " ")
	for _, want := range []string{"-i a.mkv", "-c copy", "-f matroska", " b.tmp"} {
		if !strings.Contains(args, want) {
			t.Errorf("remuxMKVArgs = %q, want %q in it", args, want)
		}
	}
}

// TestRecorderRetentionAtStart: the recorder applies retention when it
// starts, deletes what is past keep and counts each deletion in status.
func TestRecorderRetentionAtStart(t *testing.T) {
	dir := t.TempDir()
	cat := store.NewCatalog(dir, "", testutil.Logger(t))
	now := time.Now()
	var ids []string
	for _, hoursAgo := range []int{3, 2, 1} {
		start := now.Add(-time.Duration(hoursAgo) * time.Hour)
		end := start.Add(time.Minute)
		id := "cam0-" + start.Format("20060102-150405") + ".mkv"
		path := filepath.Join(dir, "cam0", id)
		testutil.WriteFile(t, path, "recorded")
		meta := store.Sidecar{StartedAt: start, EndedAt: &end, State: store.RecStateComplete, Container: "mkv", DurationS: 60}
		if err := cat.Put("cam0", id, path, meta, 8); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: "/nonexistent/ffmpeg",
		Retention: store.Retention{Keep: 90 * time.Minute}}, &rtSource{hub: pipeline.NewHub(), fps: 30}, cat, testutil.Logger(t))
	rtRun(t, r)
	rtWaitFor(t, 20*time.Second, "2 deletions in status", func() bool { return r.Status().RetentionDeleted == 2 })
	for i, id := range ids {
		_, err := cat.Get(id)
		if kept := i == 2; kept != (err == nil) {
			t.Errorf("%s (ended %d h ago): kept %v, want %v (err %v)", id, 3-i, err == nil, kept, err)
		}
	}
}
