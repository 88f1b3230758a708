// Tests of what the recorder does over time (segment cuts, maximum
// duration, restarts of a dead encoder and their backoff, continuous
// retries, fsync interval), run on virtual time under testing/synctest with
// fakeEncoders: they assert exact times and counts, and a busy machine
// cannot make them fail. What ffmpeg makes of the frames is tested with
// ffmpeg in the other recorder tests.

package record

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

const vtFPS = 30

// vtEnv is a recorder on virtual time fed by a camera publishing at vtFPS.
type vtEnv struct {
	r   *Recorder
	cat *store.Catalog
	enc *fakeEncoders
	log *testutil.SyncBuffer // what the recorder logged
}

// vtStart runs a recorder of cfg (camera cam0, MKV by copy unless cfg says
// otherwise) with enc, and a camera that publishes the fixture frames at
// vtFPS with exact capture times, until the test ends. Call it inside a
// synctest bubble.
func vtStart(t *testing.T, cfg RecorderConfig, enc *fakeEncoders) *vtEnv {
	t.Helper()
	src := &rtSource{hub: pipeline.NewHub(), fps: vtFPS}
	e := vtRun(t, cfg, enc, src)
	frames := rtFrames(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t0 := time.Now()
		for seq := uint64(0); ctx.Err() == nil; seq++ {
			at := t0.Add(time.Duration(seq) * time.Second / vtFPS)
			time.Sleep(time.Until(at))
			src.hub.Publish(&pipeline.Frame{Data: frames[seq%uint64(len(frames))], Seq: seq, Time: at})
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	time.Sleep(time.Second) // the camera streams
	return e
}

// vtRun runs a recorder of cfg and src with enc until the test ends; the
// test publishes the frames.
func vtRun(t *testing.T, cfg RecorderConfig, enc *fakeEncoders, src FrameSource) *vtEnv {
	t.Helper()
	dir := t.TempDir()
	cfg.Camera, cfg.Dir, cfg.FFmpeg = "cam0", dir, "ffmpeg"
	if cfg.Container == "" {
		cfg.Container, cfg.Codec = "mkv", "copy"
	}
	logBuf := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logBuf, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cat := store.NewCatalog(dir, "", log)
	r := NewRecorder(cfg, src, cat, log)
	r.enc = enc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &vtEnv{r: r, cat: cat, enc: enc, log: logBuf}
}

// set asks for the recording to be active or not and fails the test on an
// error; a stop then waits until every file is finished.
func (e *vtEnv) set(t *testing.T, active bool) {
	t.Helper()
	if _, err := e.r.SetActive(context.Background(), active); err != nil {
		t.Fatalf("SetActive(%v): %v", active, err)
	}
	synctest.Wait()
}

// files returns cam0's recordings, oldest first.
func (e *vtEnv) files() []store.Recording {
	list := e.cat.List("cam0")
	slices.SortFunc(list, func(a, b store.Recording) int { return a.StartedAt.Compare(b.StartedAt) })
	return list
}

// TestVirtualSegmentsCutOnTheSlot: a recording of 35 s in segments of
// 10 s is four files linked in order; each full segment holds exactly
// segment × fps frames and starts exactly one segment after the previous
// one, so that files neither overlap nor leave a gap.
func TestVirtualSegmentsCutOnTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const segment = 10 * time.Second
		e := vtStart(t, RecorderConfig{Segment: segment}, &fakeEncoders{})
		e.set(t, true)
		time.Sleep(35 * time.Second)
		e.set(t, false)

		files := e.files()
		if len(files) != 4 {
			t.Fatalf("%d files, want 4: %+v", len(files), files)
		}
		for i, f := range files {
			if f.State != store.RecStateComplete || f.Bytes == 0 {
				t.Errorf("file %d %s: state %s, %d bytes", i, f.ID, f.State, f.Bytes)
			}
			if i == len(files)-1 {
				if f.DurationS < 4.9 || f.DurationS > 5.1 || f.NextID != "" {
					t.Errorf("last file %s: %.3f s, next %q; want 5 s, none", f.ID, f.DurationS, f.NextID)
				}
				continue
			}
			if f.DurationS != segment.Seconds() {
				t.Errorf("file %d %s: %.4f s, want exactly %v", i, f.ID, f.DurationS, segment)
			}
			next := files[i+1]
			if d := next.StartedAt.Sub(f.StartedAt); d != segment {
				t.Errorf("file %d starts %v after file %d, want %v", i+1, d, i, segment)
			}
			if f.NextID != next.ID || next.PrevID != f.ID {
				t.Errorf("files %d and %d not linked: next %q, prev %q", i, i+1, f.NextID, next.PrevID)
			}
		}
		for i, enc := range e.enc.encoders() {
			if enc.written() != files[i].Bytes {
				t.Errorf("file %d: encoder got %d bytes, file has %d", i, enc.written(), files[i].Bytes)
			}
		}
	})
}

// TestVirtualMaxDuration: a recording with a maximum duration of 20 s stops
// by itself with a complete file of exactly 20 s; the recorder is idle.
func TestVirtualMaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxDur = 20 * time.Second
		e := vtStart(t, RecorderConfig{MaxDuration: maxDur}, &fakeEncoders{})
		e.set(t, true)
		time.Sleep(maxDur + 10*time.Second)
		synctest.Wait()
		if st := e.r.Status(); st.Active || st.State != RecorderIdle {
			t.Errorf("after the maximum duration: active %v, state %s (%s)", st.Active, st.State, st.Error)
		}
		files := e.files()
		if len(files) != 1 || files[0].DurationS != maxDur.Seconds() || files[0].State != store.RecStateComplete {
			t.Fatalf("files %+v, want one complete file of %v", files, maxDur)
		}
	})
}

// TestVirtualRestartBackoff: after a healthy file, a dead encoder is
// replaced at once; while the new ones keep dying, each restart waits
// restartBackoff, doubling up to maxBackoff; after maxRestarts failures in
// a row the recording fails and says why. Every file is kept, failed and
// linked to the next.
func TestVirtualRestartBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		enc := &fakeEncoders{lifetime: func(n int) time.Duration {
			if n == 0 {
				return healthyAfter + time.Second
			}
			return 100 * time.Millisecond
		}}
		e := vtStart(t, RecorderConfig{}, enc)
		e.set(t, true)
		time.Sleep(2 * time.Minute)
		synctest.Wait()

		want := []time.Duration{0} // after the healthy file: at once
		for b := restartBackoff; len(want) < maxRestarts; b = min(2*b, maxBackoff) {
			want = append(want, b)
		}
		encs := enc.encoders()
		if len(encs) != maxRestarts+1 {
			t.Fatalf("%d encoders started, want %d", len(encs), maxRestarts+1)
		}
		var got []time.Duration
		for i := 1; i < len(encs); i++ {
			got = append(got, encs[i].launched.Sub(encs[i-1].diedAt()))
		}
		if !slices.Equal(got, want) {
			t.Errorf("pauses before each restart %v, want %v", got, want)
		}
		st := e.r.Status()
		if st.Active || st.State != RecorderFailed || !strings.Contains(st.Error, "in a row") {
			t.Errorf("status %+v, want failed after %d failures in a row", st, maxRestarts+1)
		}
		if r := st.Restarts; r != uint64(maxRestarts) {
			t.Errorf("status restarts %d, want %d", r, maxRestarts)
		}
		files := e.files()
		if len(files) != len(encs) {
			t.Fatalf("%d files for %d encoders", len(files), len(encs))
		}
		for i, f := range files {
			if f.State != store.RecStateFailed {
				t.Errorf("file %d %s: state %s, want failed", i, f.ID, f.State)
			}
			if i > 0 && files[i-1].NextID != f.ID {
				t.Errorf("file %d not linked from file %d", i, i-1)
			}
		}
	})
}

// TestVirtualContinuousRetries: continuous recording whose encoder cannot
// be started tries again after restartBackoff, doubling up to maxBackoff,
// and says in status that it is waiting.
func TestVirtualContinuousRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		enc := &fakeEncoders{refuse: func(int) bool { return true }}
		e := vtStart(t, RecorderConfig{Continuous: true}, enc)
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		at := enc.attempts()
		var want []time.Duration
		for b := restartBackoff; len(want) < len(at)-1; b = min(2*b, maxBackoff) {
			want = append(want, b)
		}
		var got []time.Duration
		for i := 1; i < len(at); i++ {
			got = append(got, at[i].Sub(at[i-1]))
		}
		if len(got) < 8 || !slices.Equal(got, want) {
			t.Errorf("pauses between attempts %v, want %v (at least 8)", got, want)
		}
		if st := e.r.Status(); st.State != RecorderWaiting || st.Error == "" {
			t.Errorf("status %+v, want waiting with the reason", st)
		}
	})
}

// TestVirtualFsyncInterval: the file being written is flushed to the disk
// every FsyncInterval, as status says.
func TestVirtualFsyncInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 3 * time.Second
		e := vtStart(t, RecorderConfig{FsyncInterval: interval}, &fakeEncoders{})
		e.set(t, true)
		var flushes []time.Time
		for range 4 {
			time.Sleep(interval)
			synctest.Wait()
			st := e.r.Status()
			if st.SyncedAt == nil {
				t.Fatal("no flush in the first interval")
			}
			flushes = append(flushes, *st.SyncedAt)
		}
		for i := 1; i < len(flushes); i++ {
			if d := flushes[i].Sub(flushes[i-1]); d != interval {
				t.Errorf("flush %d came %v after the previous one, want %v", i, d, interval)
			}
		}
		e.set(t, false)
	})
}

// TestVirtualPreRecord: with 3 s of pre-record, a recording asked for at t
// and stopped at t+2 s holds exactly 5 s and starts exactly 3 s before t.
func TestVirtualPreRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pre, ran = 3 * time.Second, 2 * time.Second
		e := vtStart(t, RecorderConfig{PreRecord: pre}, &fakeEncoders{})
		time.Sleep(5 * time.Second) // the camera has run 6 s
		asked := time.Now()
		e.set(t, true)
		time.Sleep(ran - time.Since(asked))
		e.set(t, false)
		files := e.files()
		if len(files) != 1 {
			t.Fatalf("%d files, want 1", len(files))
		}
		if f := files[0]; f.DurationS != (pre+ran).Seconds() || !f.StartedAt.Equal(asked.Add(-pre)) {
			t.Errorf("file of %.4f s from %v before the request; want %v from %v before",
				f.DurationS, asked.Sub(f.StartedAt), pre+ran, pre)
		}
	})
}

// TestVirtualEvents: a recording in segments tells its event sink that it
// started, that each full segment closed, and that it stopped, naming each
// file; a file whose ffmpeg died is announced failed, with why.
func TestVirtualEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := events.NewBus(100)
		_, _, sub := bus.Subscribe(0, 100)
		defer sub.Close()
		enc := &fakeEncoders{lifetime: func(n int) time.Duration {
			if n == 1 {
				return 5 * time.Second // the second file's ffmpeg dies halfway
			}
			return 0
		}}
		e := vtStart(t, RecorderConfig{Segment: 10 * time.Second, Events: bus}, enc)
		e.set(t, true)
		time.Sleep(25 * time.Second)
		e.set(t, false)

		var got []string
		for len(sub.Events()) > 0 {
			ev := <-sub.Events()
			if ev.Camera != "cam0" {
				t.Errorf("event %+v of camera %q", ev, ev.Camera)
			}
			got = append(got, string(ev.Type)+" "+ev.RecordingID)
			if ev.Type == events.RecordingFailed && !strings.Contains(ev.Error, "ffmpeg exited") {
				t.Errorf("failure without its reason: %+v", ev)
			}
		}
		files := e.files()
		if len(files) != 4 {
			t.Fatalf("%d files, want 4 (a segment, a failed file, its replacement to the segment's end, the last)", len(files))
		}
		want := []string{
			"recording_started " + files[0].ID,
			"segment_closed " + files[0].ID,
			"recording_failed " + files[1].ID,
			"segment_closed " + files[2].ID,
			"recording_stopped " + files[3].ID,
		}
		if !slices.Equal(got, want) {
			t.Errorf("events\n %q\nwant\n %q", got, want)
		}
	})
}
