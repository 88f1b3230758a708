package record

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// rtRecorder builds a recorder of a test hub into a temp dir and runs it
// until the test ends.
func rtRecorder(t testing.TB, cfg RecorderConfig, camFPS float64) (*Recorder, *store.Catalog, *rtSource, func()) {
	t.Helper()
	ff, probe := rtNeedFFmpeg(t)
	if cfg.Camera == "" {
		cfg.Camera = "cam0"
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.FFmpeg = ff
	log := testutil.Logger(t)
	cat := store.NewCatalog(cfg.Dir, probe, log)
	src := &rtSource{hub: pipeline.NewHub(), fps: camFPS}
	r := NewRecorder(cfg, src, cat, log)
	stop := rtRun(t, r)
	return r, cat, src, stop
}

func rtCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRecorderDurationFollowsCaptureTime records for a while from cameras of
// various kinds and checks with ffprobe that the file lasts as long as the
// recording ran, whatever rate the camera delivered.
func TestRecorderDurationFollowsCaptureTime(t *testing.T) {
	tests := []struct {
		name       string
		container  string
		codec      string
		camFPS     float64 // what the camera negotiated
		deliverFPS float64 // what it delivers
		record     time.Duration
		wantCodec  string
		wantPixFmt string
	}{
		{"mp4 x264 30fps 5s", "mp4", "", 30, 30, 5 * time.Second, "h264", "yuv420p"},
		{"mp4 x264 camera delivers 10 of 30 fps", "mp4", "", 30, 10, 3 * time.Second, "h264", "yuv420p"},
		{"mkv copy", "mkv", "copy", 30, 30, 2 * time.Second, "mjpeg", ""},
		{"avi copy", "avi", "copy", 30, 30, 2 * time.Second, "mjpeg", ""},
	}
	t.Parallel()
	frames := rtFrames(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, probe := rtNeedFFmpeg(t)
			r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: tt.container, Codec: tt.codec}, tt.camFPS)
			rtPublish(t, src.hub, frames, tt.deliverFPS)
			ctx := rtCtx(t)

			// The file covers the capture time from the start's arrival to
			// the stop's: within [started, stopping] at least (from the
			// start's answer to the stop's call) and [asked, stopped] at
			// most (from the start's call to the stop's answer), however
			// slowly a busy machine passes requests along.
			asked := time.Now()
			st, err := r.SetActive(ctx, true)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			started := time.Now()
			if !st.Active || st.ID == "" || st.StartedAt == nil {
				t.Fatalf("after start: %+v", st)
			}
			rtRecordFor(tt.record)
			stopping := time.Now()
			st, err = rtStop(t, ctx, r)
			stopped := time.Now()
			if err != nil {
				t.Fatalf("stop: %v", err)
			}
			if st.Active || st.Error != "" {
				t.Fatalf("after stop: %+v", st)
			}

			path := rtOnlyFile(t, cat)
			if tt.container == "mp4" {
				// Fragmented while recording, then remuxed in the background
				// to a plain MP4 that browsers get the duration of.
				rtWaitFor(t, 10*time.Second, "the remux to a plain MP4", func() bool {
					return rtPlainMP4(rtTopBoxes(t, path))
				})
				rtWaitFor(t, 5*time.Second, "the catalogue to see the remux", func() bool {
					s, err := store.ReadSidecar(store.SidecarPath(path))
					return err == nil && !s.Fragmented
				})
			}
			rec, err := cat.Get(filepath.Base(path))
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != rec.Bytes {
				t.Errorf("catalogue says %d bytes, file has %v (%v)", rec.Bytes, fi.Size(), err)
			}
			p := rtProbeFile(t, probe, path)
			least, most := stopping.Sub(started).Seconds(), stopped.Sub(asked).Seconds()
			t.Logf("ran %.3f..%.3fs, probe %+v, catalogue %+v", least, most, p, rec)
			if p.Codec != tt.wantCodec || p.Width != 1280 || p.Height != 720 {
				t.Errorf("codec %s %dx%d, want %s 1280x720", p.Codec, p.Width, p.Height, tt.wantCodec)
			}
			if tt.wantPixFmt != "" && p.PixFmt != tt.wantPixFmt {
				t.Errorf("pix_fmt %s, want %s", p.PixFmt, tt.wantPixFmt)
			}
			// One frame interval of slack at either end: the file holds whole
			// frames.
			if slack := 1 / tt.camFPS; p.DurationS < least-slack || p.DurationS > most+slack {
				t.Errorf("duration %.3fs, the recording ran %.3f..%.3fs", p.DurationS, least, most)
			}
			// A constant rate whatever the camera delivered: one frame per
			// 1/fps of the file's duration.
			if wantFrames := p.DurationS * tt.camFPS; math.Abs(float64(p.Packets)-wantFrames) > 1 {
				t.Errorf("%d frames in %.3fs, want %.0f ± 1 (%.0f fps)", p.Packets, p.DurationS, wantFrames, tt.camFPS)
			}
			if rec.State != store.RecStateComplete || rec.EndedAt == nil || rec.Bytes == 0 ||
				rec.VideoCodec != tt.wantCodec || rec.Width != 1280 || rec.Height != 720 ||
				math.Abs(rec.DurationS-p.DurationS) > 0.1 {
				t.Errorf("catalogue entry %+v does not match the file (%+v)", rec, p)
			}
		})
	}
}

// rtOnlyFile returns the one recording file under the catalogue's dir.
func rtOnlyFile(t *testing.T, cat *store.Catalog) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cat.Dir(), "cam0", "cam0-*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("recording files %v (%v), want exactly one", files, err)
	}
	return files[0]
}

func TestRecorderStartStopIsIdempotent(t *testing.T) {
	r, cat, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy"}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	st, err := r.SetActive(ctx, false)
	if err != nil || st.Active {
		t.Fatalf("stop while idle = %+v, %v", st, err)
	}
	first, err := r.SetActive(ctx, true)
	if err != nil || !first.Active {
		t.Fatalf("start = %+v, %v", first, err)
	}
	again, err := r.SetActive(ctx, true)
	if err != nil || !again.Active || again.ID != first.ID {
		t.Fatalf("second start = %+v, %v; want the same recording %s", again, err, first.ID)
	}
	rtWaitFor(t, 5*time.Second, "frames and bytes in status", func() bool {
		st := r.Status()
		return st.Frames >= 10 && st.Bytes > 0
	})
	for i := range 2 {
		st, err := r.SetActive(ctx, false)
		if err != nil || st.Active || st.Error != "" || st.ID != "" ||
			(st.State != RecorderFinishing && st.State != RecorderIdle) {
			t.Fatalf("stop #%d = %+v, %v", i+1, st, err)
		}
	}
	if st := rtFinished(t, r); st.State != RecorderIdle || st.Error != "" {
		t.Fatalf("after the stop: %+v, want idle", st)
	}
	if recs := cat.List(""); len(recs) != 1 || recs[0].ID != first.ID || recs[0].State != store.RecStateComplete {
		t.Fatalf("catalogue %+v, want one complete recording %s", recs, first.ID)
	}
	if rtSubscribers(r) != 0 {
		t.Errorf("recorder still subscribed to the hub")
	}
}

// rtSubscribers is how many subscribers the recorder's hub has.
func rtSubscribers(r *Recorder) int { return r.src.FrameHub().Subscribers() }

// TestRecorderFFmpegKilledMidRecording: ffmpeg is killed; the recorder
// notices, keeps the dead file (playable up to its last fragment), goes on
// in a new file, counts the restart and links the two files.
func TestRecorderFFmpegKilledMidRecording(t *testing.T) {
	t.Parallel()
	_, probe := rtNeedFFmpeg(t)
	r, cat, src, _ := rtRecorder(t, RecorderConfig{}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	st, err := r.SetActive(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	// Past the second keyframe, so that complete fragments are on disk.
	rtWaitFor(t, 10*time.Second, "2.5 s of frames", func() bool { return r.Status().Frames >= 75 })
	pid := r.ffmpegPID()
	atKill := r.Status().Frames
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var after RecordingStatus
	rtWaitFor(t, 5*time.Second, "a new file", func() bool {
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

	st, err := r.SetActive(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 10*time.Second, "2.5 s of frames", func() bool { return r.Status().Frames >= 75 })
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
	if !errors.Is(err, pipeline.ErrUnavailable) || st.Active {
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

func TestRecorderShutdownFinishesTheFile(t *testing.T) {
	_, probe := rtNeedFFmpeg(t)
	r, cat, src, stopRun := rtRecorder(t, RecorderConfig{}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	asked := time.Now()
	st, err := r.SetActive(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	rtRecordFor(2 * time.Second)
	stopping := time.Now()
	stopRun() // returns once the file is finished
	least, most := stopping.Sub(started).Seconds(), time.Since(asked).Seconds()
	p := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", st.ID))
	if slack := 1.0 / 30; p.Codec != "h264" || p.DurationS < least-slack || p.DurationS > most+slack {
		t.Errorf("file after shutdown %+v, want h264 lasting %.3f..%.3fs", p, least, most)
	}
	if rec, err := cat.Get(st.ID); err != nil || rec.State != store.RecStateComplete {
		t.Errorf("catalogue entry %+v, %v; want complete", rec, err)
	}
	if rtSubscribers(r) != 0 {
		t.Error("still subscribed after Run returned")
	}
	// No remux at shutdown: the fragmented file is what stays.
	path := filepath.Join(cat.Dir(), "cam0", st.ID)
	if boxes := rtTopBoxes(t, path); !slices.Contains(boxes, "moof") {
		t.Errorf("boxes %v, want the fragmented recording", boxes)
	}
	if tmp, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", ".*.remux.tmp")); len(tmp) != 0 {
		t.Errorf("remux temp left: %v", tmp)
	}

	// The next run finds it and remuxes it.
	log := testutil.Logger(t)
	cat2 := store.NewCatalog(cat.Dir(), probe, log)
	if err := cat2.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	r2 := NewRecorder(r.cfg, src, cat2, log)
	rtRun(t, r2)
	rtWaitFor(t, 10*time.Second, "the next run to remux the file", func() bool {
		return rtPlainMP4(rtTopBoxes(t, path))
	})
	if p2 := rtProbeFile(t, probe, path); math.Abs(p2.DurationS-p.DurationS) > 0.05 || p2.Packets != p.Packets {
		t.Errorf("remuxed %+v, was %+v", p2, p)
	}
	// SetActive after Run returned does not hang.
	if _, err := r.SetActive(ctx, true); err == nil {
		t.Error("SetActive after Run returned: want an error")
	}
}

// TestRecorderUnwritableDir: when the recording's file cannot be created,
// starting fails with an error that wraps ErrUnavailable (the API's 503,
// "cannot record now") and names the path and the cause, and nothing on disk
// is removed. Tests run as root, which ignores mode bits: the cases that
// work as root put a file where a folder must be, or mount a read-only
// file system.
func TestRecorderUnwritableDir(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, root string) (dir, wantPath string)
		wantCause error
	}{
		{"record dir is a file", func(t *testing.T, root string) (string, string) {
			f := filepath.Join(root, "file")
			testutil.WriteFile(t, f, "x")
			return f, filepath.Join(f, "cam0")
		}, syscall.ENOTDIR},
		{"camera dir is a file", func(t *testing.T, root string) (string, string) {
			testutil.WriteFile(t, filepath.Join(root, "cam0"), "x")
			return root, filepath.Join(root, "cam0")
		}, syscall.ENOTDIR},
		{"camera dir read-only", func(t *testing.T, root string) (string, string) {
			if os.Geteuid() == 0 {
				t.Skip("root writes into read-only dirs")
			}
			d := filepath.Join(root, "cam0")
			if err := os.Mkdir(d, 0o555); err != nil {
				t.Fatal(err)
			}
			return root, d
		}, syscall.EACCES},
		{"read-only file system", func(t *testing.T, root string) (string, string) {
			if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=1m"); err != nil {
				t.Skipf("mount a tmpfs (needs root): %v", err)
			}
			t.Cleanup(func() {
				if err := syscall.Unmount(root, syscall.MNT_DETACH); err != nil {
					t.Errorf("unmount %s: %v", root, err)
				}
			})
			// An earlier recording, which must survive.
			testutil.WriteFile(t, filepath.Join(root, "cam0", "cam0-20260101-100000.mp4"), "x")
			if err := syscall.Mount("", root, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				t.Fatalf("remount read-only: %v", err)
			}
			return root, filepath.Join(root, "cam0")
		}, syscall.EROFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, wantPath := tt.setup(t, t.TempDir())
			before := rtTree(t, dir)
			log := testutil.Logger(t)
			cat := store.NewCatalog(dir, "", log)
			// ffmpeg is not reached: the dir is checked first. The camera
			// streams (else the start is refused for want of frames).
			src := &rtSource{hub: pipeline.NewHub(), fps: 30}
			src.hub.Publish(&pipeline.Frame{Data: []byte{0xff, 0xd8, 0xff, 0xd9}, Time: time.Now()})
			r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: "/nonexistent/ffmpeg"}, src, cat, log)
			rtRun(t, r)
			st, err := r.SetActive(rtCtx(t), true)
			if err == nil || st.Active {
				t.Fatalf("start = %+v, %v; want an error", st, err)
			}
			t.Logf("start: %v", err)
			if !errors.Is(err, pipeline.ErrUnavailable) {
				t.Errorf("error %q does not wrap ErrUnavailable (HTTP 503)", err)
			}
			if !errors.Is(err, tt.wantCause) || !strings.Contains(err.Error(), tt.wantCause.Error()) {
				t.Errorf("error %q does not wrap and name the cause %q", err, tt.wantCause)
			}
			if !strings.Contains(err.Error(), wantPath) {
				t.Errorf("error %q does not name %s", err, wantPath)
			}
			if after := rtTree(t, dir); !maps.Equal(after, before) {
				t.Errorf("files changed by the failed start:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// rtTree maps the files under path (path itself when it is a file) to their
// contents, and directories to "<dir>".
func rtTree(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecorderFFmpegMissing(t *testing.T) {
	missing := missingError("ffmpeg not found in PATH: install it (apt-get install ffmpeg) or set -ffmpeg")
	log := testutil.Logger(t)
	dir := t.TempDir()
	r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpegErr: missing},
		&rtSource{hub: pipeline.NewHub(), fps: 30}, store.NewCatalog(dir, "", log), log)
	// Not even Run is needed to refuse.
	st, err := r.SetActive(rtCtx(t), true)
	if !errors.Is(err, pipeline.ErrFFmpegMissing) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Fatalf("start = %v, want ErrFFmpegMissing with advice", err)
	}
	if st.Active || st.Error != missing.Error() {
		t.Errorf("status %+v, want inactive with the reason", st)
	}
}

// TestRecorderFlushesToDiskAtTheInterval: the file being written is fsynced
// every FsyncInterval, as status shows, so a power cut costs about that much.
func TestRecorderFlushesToDiskAtTheInterval(t *testing.T) {
	rtNeedFFmpeg(t)
	r, _, src, _ := rtRecorder(t, RecorderConfig{Container: "mkv", Codec: "copy", FsyncInterval: 200 * time.Millisecond}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)
	if _, err := r.SetActive(ctx, true); err != nil {
		t.Fatal(err)
	}
	defer r.SetActive(ctx, false)
	var flushes []time.Time
	rtWaitFor(t, 5*time.Second, "three flushes", func() bool {
		if st := r.Status(); st.SyncedAt != nil && (len(flushes) == 0 || st.SyncedAt.After(flushes[len(flushes)-1])) {
			flushes = append(flushes, *st.SyncedAt)
		}
		return len(flushes) >= 3
	})
	for i := 1; i < len(flushes); i++ {
		if gap := flushes[i].Sub(flushes[i-1]); gap > time.Second {
			t.Errorf("flushes %v apart, want about 200ms", gap)
		}
	}
}

// TestRecorderDeleteDuringRemuxIsNotAWarning: a recording deleted while its
// MP4 is remuxed after stop stays deleted, and the recorder says so at info
// level, never warning that it keeps a fragmented MP4 that is gone.
func TestRecorderDeleteDuringRemuxIsNotAWarning(t *testing.T) {
	ff, probe := rtNeedFFmpeg(t)
	ctx := rtCtx(t)
	// What a recording looks like when it stops: a fragmented MP4.
	frag := filepath.Join(t.TempDir(), "frag.mp4")
	if out, err := exec.CommandContext(ctx, ff, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-i", filepath.Join("testdata", "recorder_1s.mp4"), "-c", "copy",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", frag).CombinedOutput(); err != nil {
		t.Fatalf("make a fragmented MP4: %v: %s", err, out)
	}
	fragBytes, err := os.ReadFile(frag)
	if err != nil {
		t.Fatal(err)
	}

	// setup returns a recorder (not running: only its remux is used) and
	// a finished fragmented recording in its catalogue, whose file is made
	// by makeFile.
	setup := func(t *testing.T, makeFile func(path string) error) (r *Recorder, cat *store.Catalog, logBuf *testutil.SyncBuffer, id, path string) {
		logBuf = &testutil.SyncBuffer{}
		log := slog.New(slog.NewTextHandler(io.MultiWriter(logBuf, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
		dir := t.TempDir()
		cat = store.NewCatalog(dir, probe, log)
		r = NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: ff}, &rtSource{hub: pipeline.NewHub(), fps: 30}, cat, log)
		id, path, err := cat.Reserve("cam0", "mp4", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := makeFile(path); err != nil {
			t.Fatal(err)
		}
		ended := time.Now()
		meta := store.Sidecar{StartedAt: ended.Add(-time.Second), EndedAt: &ended, State: store.RecStateComplete,
			Codec: "h264", Container: "mp4", FPS: 30, DurationS: 1, Fragmented: true}
		if err := cat.Put("cam0", id, path, meta, int64(len(fragBytes))); err != nil {
			t.Fatal(err)
		}
		return r, cat, logBuf, id, path
	}
	check := func(t *testing.T, cat *store.Catalog, logBuf *testutil.SyncBuffer, id, path string) {
		t.Helper()
		logs := logBuf.String()
		if !strings.Contains(logs, `level=INFO msg="recording deleted during remux; remux result discarded" camera=cam0 recording_id=`+id) {
			t.Errorf("no info line saying the remux result was discarded:\n%s", logs)
		}
		for _, bad := range []string{"keeping the fragmented MP4", "level=WARN", "recording remuxed"} {
			if strings.Contains(logs, bad) {
				t.Errorf("log says %q:\n%s", bad, logs)
			}
		}
		for _, p := range []string{path, store.SidecarPath(path), store.RemuxTemp(path)} {
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s after delete during remux: %v", p, err)
			}
		}
		if _, err := cat.Get(id); !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("Get after delete during remux = %v, want ErrNotFound", err)
		}
	}

	t.Run("deleted while ffmpeg reads it", func(t *testing.T) {
		// The recording's file is a FIFO: ffmpeg's open of it returns when
		// the test opens the other end, so the delete lands, for sure,
		// while ffmpeg is reading the file; ffmpeg then remuxes it fine.
		r, cat, logBuf, id, path := setup(t, func(p string) error { return syscall.Mkfifo(p, 0o644) })
		r.remuxLater(ctx, id, path)
		remuxDone := make(chan struct{})
		go func() { r.post.Wait(); close(remuxDone) }()
		opened := make(chan *os.File, 1)
		go func() {
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Errorf("open the FIFO: %v", err)
			}
			opened <- w
		}()
		var w *os.File
		select {
		case w = <-opened:
		case <-remuxDone:
			t.Fatalf("the remux ended without reading the file:\n%s", logBuf.String())
		case <-ctx.Done():
			t.Fatal("ffmpeg did not open the file")
		}
		if w == nil {
			t.FailNow()
		}
		if err := cat.Delete(id); err != nil {
			t.Fatalf("Delete while remuxing: %v", err)
		}
		_, werr := w.Write(fragBytes)
		if err := w.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			t.Fatalf("feed ffmpeg: %v", werr)
		}
		<-remuxDone
		check(t, cat, logBuf, id, path)
	})

	t.Run("deleted before ffmpeg opened it", func(t *testing.T) {
		// The remux then fails (its input is gone): still no warning.
		r, cat, logBuf, id, path := setup(t, func(p string) error { return os.WriteFile(p, fragBytes, 0o644) })
		if !cat.BeginRemux(id) {
			t.Fatal("beginRemux: want true")
		}
		if err := cat.Delete(id); err != nil {
			t.Fatalf("Delete while remuxing: %v", err)
		}
		t0 := time.Now()
		remuxErr := remuxMP4(ctx, ff, path, store.RemuxTemp(path))
		if remuxErr == nil {
			t.Fatal("remux of a deleted file succeeded")
		}
		r.remuxEnded(id, path, t0, remuxErr)
		check(t, cat, logBuf, id, path)
	})
}
