package record

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/events"
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
			// the stop's, however slowly a busy machine passes requests
			// along: within the span's bounds.
			st, span := rtStartSpan(t, ctx, r)
			if !st.Active || st.ID == "" || st.StartedAt == nil {
				t.Fatalf("after start: %+v", st)
			}
			rtRecordFor(tt.record)
			st, err := span.stop(t, ctx, r)
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
				rtWaitFor(t, 20*time.Second, "the catalogue to see the remux", func() bool {
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
			least, most := span.bounds()
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
	rtWaitFor(t, 20*time.Second, "frames and bytes in status", func() bool {
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

// TestRecorderShutdownFinishesTheFile: Run returning (camrec stops) while
// recording leaves the file finished and in its final form (remuxed to a
// plain MP4), and the file's event, published before Run returns so that
// the hooks of the last file run, carries it final (its size).
func TestRecorderShutdownFinishesTheFile(t *testing.T) {
	_, probe := rtNeedFFmpeg(t)
	bus := events.NewBus(16)
	_, _, sub := bus.Subscribe(0, 16)
	defer sub.Close()
	r, cat, src, stopRun := rtRecorder(t, RecorderConfig{Events: bus}, 30)
	rtPublish(t, src.hub, rtFrames(t), 30)
	ctx := rtCtx(t)

	st, span := rtStartSpan(t, ctx, r)
	rtRecordFor(2 * time.Second)
	span.stopping = time.Now()
	stopRun() // returns once the file is finished, remuxed and announced
	span.stopped = time.Now()
	least, most := span.bounds()
	path := filepath.Join(cat.Dir(), "cam0", st.ID)
	p := rtProbeFile(t, probe, path)
	if slack := 1.0 / 30; p.Codec != "h264" || p.DurationS < least-slack || p.DurationS > most+slack {
		t.Errorf("file after shutdown %+v, want h264 lasting %.3f..%.3fs", p, least, most)
	}
	rec, err := cat.Get(st.ID)
	if err != nil || rec.State != store.RecStateComplete {
		t.Errorf("catalogue entry %+v, %v; want complete", rec, err)
	}
	if rtSubscribers(r) != 0 {
		t.Error("still subscribed after Run returned")
	}
	if boxes := rtTopBoxes(t, path); !rtPlainMP4(boxes) {
		t.Errorf("boxes %v, want the remuxed, plain MP4", boxes)
	}
	if s, err := store.ReadSidecar(store.SidecarPath(path)); err != nil || s.Fragmented {
		t.Errorf("sidecar %+v, %v; want the remux recorded", s, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(cat.Dir(), "cam0", ".*.remux.tmp")); len(tmp) != 0 {
		t.Errorf("remux temp left: %v", tmp)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var stopped []events.Event
	for len(sub.Events()) > 0 {
		if e := <-sub.Events(); e.Type == events.RecordingStopped {
			stopped = append(stopped, e)
		}
	}
	if len(stopped) != 1 || stopped[0].RecordingID != st.ID || stopped[0].Path != path || stopped[0].Bytes != fi.Size() {
		t.Errorf("recording_stopped events %+v before Run returned; want one of %s with its final size %d", stopped, st.ID, fi.Size())
	}
	// SetActive after Run returned does not hang.
	if _, err := r.SetActive(ctx, true); err == nil {
		t.Error("SetActive after Run returned: want an error")
	}
}

// TestRecorderShutdownCutsALongRemux: a remux still running at shutdown
// gets shutdownRemuxGrace, then is cancelled: Run returns, the file stays
// as recorded (listed, awaiting its remux at the next start) and no remux
// temp is left. The remux here reads a FIFO that nobody writes: it would
// never end.
func TestRecorderShutdownCutsALongRemux(t *testing.T) {
	ff, probe := rtNeedFFmpeg(t)
	dir := t.TempDir()
	logBuf := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logBuf, t.Output()), nil))
	cat := store.NewCatalog(dir, probe, log)
	id, path, err := cat.Reserve("cam0", "mp4", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	if err := cat.Put("cam0", id, path, store.Sidecar{StartedAt: ended.Add(-time.Second), EndedAt: &ended,
		State: store.RecStateComplete, Codec: "h264", Container: "mp4", FPS: 30, DurationS: 1, Fragmented: true}, 1); err != nil {
		t.Fatal(err)
	}
	r := NewRecorder(RecorderConfig{Camera: "cam0", Dir: dir, FFmpeg: ff}, &rtSource{hub: pipeline.NewHub(), fps: 30}, cat, log)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }() // its start-up remuxes what awaits it: the FIFO
	rtWaitFor(t, 20*time.Second, "the remux to read the file", func() bool { return rtFFmpegReading(path) })
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(shutdownRemuxGrace + 20*time.Second):
		t.Fatal("Run did not return: the remux held the shutdown")
	}
	if !strings.Contains(logBuf.String(), "remux still running at shutdown: cancelling it") ||
		!strings.Contains(logBuf.String(), "remux cut short by the shutdown") {
		t.Errorf("the log does not say the remux was cut:\n%s", logBuf.String())
	}
	if got := cat.AwaitingRemux("cam0"); got[id] != path {
		t.Errorf("awaiting remux: %v; want %s, for the next start", got, id)
	}
	if _, err := os.Lstat(store.RemuxTemp(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remux temp: %v, want none", err)
	}
}

// rtFFmpegReading reports whether some ffmpeg has path among its arguments.
func rtFFmpegReading(path string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "ffmpeg") && strings.Contains(string(b), path) {
			return true
		}
	}
	return false
}

// TestRecorderFlushesToDiskAtTheInterval: the file ffmpeg is writing is
// fsynced again and again while it records, as status shows, so a power
// cut costs about FsyncInterval.
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
	rtWaitFor(t, 20*time.Second, "three flushes", func() bool {
		if st := r.Status(); st.SyncedAt != nil && (len(flushes) == 0 || st.SyncedAt.After(flushes[len(flushes)-1])) {
			flushes = append(flushes, *st.SyncedAt)
		}
		return len(flushes) >= 3
	})
	// How far apart they come is TestVirtualFsyncInterval's (exact, on
	// virtual time); a busy machine may delay a flush.
	t.Logf("flushes at %v", flushes)
}
