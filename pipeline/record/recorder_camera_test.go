package record

import (
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"

	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/store"
)

// Tests of what the recorder does with the camera's own behaviour: raw
// (YUYV) frames, and a camera that goes away and comes back.

// rtCamSource is a FrameSource that also reports a camera state, like
// *Camera: the test sets state and restart count.
type rtCamSource struct {
	rtSource
	mu sync.Mutex
	st pipeline.CameraStatus
}

func (s *rtCamSource) Status() pipeline.CameraStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *rtCamSource) set(state string, restarted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.State = state
	if restarted {
		s.st.Restarts++
	}
}

// rtRecorderOf builds a recorder of src into a temp dir and runs it until
// the test ends.
func rtRecorderOf(t *testing.T, cfg RecorderConfig, src FrameSource) (*Recorder, *store.Catalog) {
	t.Helper()
	ff, probe := rtNeedFFmpeg(t)
	cfg.Camera, cfg.Dir, cfg.FFmpeg = "cam0", t.TempDir(), ff
	log := testutil.Logger(t)
	cat := store.NewCatalog(cfg.Dir, probe, log)
	r := NewRecorder(cfg, src, cat, log)
	rtRun(t, r)
	return r, cat
}

// rtYUYVFrames makes n distinct w×h yuyv422 images (a gradient with a bar
// that moves from one to the next).
func rtYUYVFrames(w, h, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 2*w*h)
		for y := range h {
			for x := 0; x < w; x += 2 {
				o := 2 * (y*w + x)
				v := byte((x + y) * 255 / (w + h))
				if x*n/w == i {
					v = 255 - v
				}
				b[o], b[o+1], b[o+2], b[o+3] = v, byte(64*i), v, byte(255-64*i)
			}
		}
		out[i] = b
	}
	return out
}

// rtPublishFor publishes frames made by mk at fps, stamped with the time
// they are published, for d, and returns the next seq.
func rtPublishFor(hub *pipeline.Hub, fps float64, d time.Duration, seq uint64, mk func(seq uint64) *pipeline.Frame) uint64 {
	period := time.Duration(float64(time.Second) / fps)
	t0 := time.Now()
	for next := t0; next.Sub(t0) < d; next = next.Add(period) {
		<-time.After(time.Until(next))
		f := mk(seq)
		f.Seq, f.Time = seq, time.Now()
		hub.Publish(f)
		seq++
	}
	<-time.After(time.Until(t0.Add(d)))
	return seq
}

// rtGoPublishFor is rtPublishFor in a goroutine (a recording starts only
// once ffmpeg has had a frame): receive the next seq from the channel.
func rtGoPublishFor(hub *pipeline.Hub, fps float64, d time.Duration, seq uint64, mk func(seq uint64) *pipeline.Frame) <-chan uint64 {
	next := make(chan uint64, 1)
	go func() { next <- rtPublishFor(hub, fps, d, seq, mk) }()
	return next
}

// TestRecorderRawYUYV records a YUYV camera: raw frames go to ffmpeg as
// rawvideo and come out as H.264 4:2:0 of the camera's size, lasting as
// long as the recording ran. Copy mode cannot store raw frames: the start
// fails saying so.
func TestRecorderRawYUYV(t *testing.T) {
	t.Parallel()
	const w, h, fps = 320, 180, 30
	raw := rtYUYVFrames(w, h, 4)
	mk := func(seq uint64) *pipeline.Frame {
		return &pipeline.Frame{Raw: raw[seq%uint64(len(raw))], PixFmt: "yuyv422", Width: w, Height: h}
	}
	for _, streaming := range []bool{true, false} {
		name := "mp4 x264"
		if !streaming {
			// The recorder starts ffmpeg for MJPEG (what Format says), then
			// replaces it when raw frames arrive: continuous recording
			// starts so, before the camera has negotiated (a recording on
			// request needs a camera that streams).
			name += " continuous, camera format unknown at start"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, probe := rtNeedFFmpeg(t)
			src := &rtSource{hub: pipeline.NewHub(), fps: fps}
			r, cat := rtRecorderOf(t, RecorderConfig{Continuous: !streaming}, src)
			if streaming {
				src.hub.Publish(rtNow(mk(0))) // the camera streams before the request
			}
			ctx := rtCtx(t)
			t0 := time.Now()
			var published <-chan uint64
			if streaming {
				published = rtGoPublishFor(src.hub, fps, 2*time.Second, 1, mk)
			}
			started := make(chan error, 1)
			go func() {
				_, err := r.SetActive(ctx, true)
				started <- err
			}()
			if !streaming {
				rtWaitFor(t, 20*time.Second, "the recording to start", func() bool { return r.Status().Active })
				t0 = time.Now()
				published = rtGoPublishFor(src.hub, fps, 2*time.Second, 1, mk)
			}
			if err := <-started; err != nil {
				t.Fatalf("start: %v", err)
			}
			answered := time.Now()
			<-published
			// The file runs from the start's arrival (between t0 and its
			// answer) to the stop's: at least until the camera's last
			// frame, at most until the stop has answered.
			least := time.Since(answered)
			st, err := rtStop(t, ctx, r)
			if err != nil || st.Error != "" {
				t.Fatalf("stop: %+v, %v", st, err)
			}
			most := time.Since(t0)
			path := rtOnlyFile(t, cat)
			p := rtProbeFile(t, probe, path)
			rec, _ := cat.Get(rec0(cat).ID)
			t.Logf("ran %.3f..%.3fs, probe %+v, catalogue %+v", least.Seconds(), most.Seconds(), p, rec)
			if p.Codec != "h264" || p.PixFmt != "yuv420p" || p.Width != w || p.Height != h {
				t.Errorf("file is %s %s %dx%d, want h264 yuv420p %dx%d", p.Codec, p.PixFmt, p.Width, p.Height, w, h)
			}
			if slack := 1.0 / fps; p.DurationS < least.Seconds()-slack || p.DurationS > most.Seconds()+slack {
				t.Errorf("file lasts %.3fs, the recording ran %.3f..%.3fs", p.DurationS, least.Seconds(), most.Seconds())
			}
			if want := p.DurationS * fps; math.Abs(float64(p.Packets)-want) > 1.5 {
				t.Errorf("%d frames over %.3fs, want %.0f at %d fps", p.Packets, p.DurationS, want, fps)
			}
			if rec.Width != w || rec.Height != h || rec.VideoCodec != "h264" || rec.State != store.RecStateComplete {
				t.Errorf("catalogue entry %+v, want complete h264 %dx%d", rec, w, h)
			}
		})
	}
	t.Run("copy refused", func(t *testing.T) {
		t.Parallel()
		src := &rtSource{hub: pipeline.NewHub(), fps: fps}
		r, cat := rtRecorderOf(t, RecorderConfig{Container: "mkv", Codec: "copy"}, src)
		src.hub.Publish(rtNow(mk(0)))
		st, err := r.SetActive(rtCtx(t), true)
		const want = "codec copy stores the camera's MJPEG or H.264; camera cam0 delivers raw yuyv422: use an encoder such as libx264"
		if err == nil || !strings.Contains(err.Error(), want) || st.Active {
			t.Fatalf("start = %+v, %v; want an error saying %q", st, err, want)
		}
		if recs := cat.List(""); len(recs) != 0 {
			t.Errorf("catalogue %+v, want nothing", recs)
		}
	})
}

func rec0(cat *store.Catalog) store.Recording {
	recs := cat.List("")
	if len(recs) == 0 {
		return store.Recording{}
	}
	return recs[0]
}

// TestRecorderCameraAway records a camera that goes away for a while and
// comes back, with ffmpeg: depending on how it goes away, the file is
// finished and the recording goes on in a new file linked to it, or (a
// camera that only slowed down) the same file goes on; ffprobe reads each
// file as the catalogue lists it. How long each file lasts is
// TestVirtualCameraAway's (on virtual time, exact).
func TestRecorderCameraAway(t *testing.T) {
	t.Parallel()
	const fps = 30
	const before, after = time.Second, time.Second
	tests := []struct {
		name    string
		status  bool          // the source reports a state
		state   string        // its state while away
		restart bool          // its restart count moves
		gap     time.Duration // 0: until the first file is complete
		stall   time.Duration // StallTimeout
		wantNew bool
	}{
		{name: "disconnected", status: true, state: pipeline.StateDisconnected, restart: true, wantNew: true},
		{name: "replugged faster than a tick", status: true, state: pipeline.StateStreaming, restart: true, gap: 300 * time.Millisecond, wantNew: true},
		{name: "stalled without a state", gap: 1800 * time.Millisecond, stall: time.Second, wantNew: true},
		{name: "slowed down", status: true, state: pipeline.StateStreaming, gap: 400 * time.Millisecond},
	}
	frames := rtFrames(t)
	mk := func(seq uint64) *pipeline.Frame { return &pipeline.Frame{Data: frames[seq%uint64(len(frames))]} }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, probe := rtNeedFFmpeg(t)
			base := rtSource{hub: pipeline.NewHub(), fps: fps}
			cam := &rtCamSource{rtSource: base, st: pipeline.CameraStatus{State: pipeline.StateStreaming}}
			var src FrameSource = &base
			if tt.status {
				src = cam
			}
			r, cat := rtRecorderOf(t, RecorderConfig{Container: "mkv", Codec: "copy", StallTimeout: tt.stall}, src)
			hub := base.hub
			ctx := rtCtx(t)
			hub.Publish(rtNow(mk(0)))
			published := rtGoPublishFor(hub, fps, before, 1, mk)
			first, err := r.SetActive(ctx, true)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			seq := <-published
			cam.set(tt.state, tt.restart)
			if tt.gap == 0 {
				// The file is finished while the camera is away.
				rtWaitFor(t, 20*time.Second, "the first file to be complete", func() bool {
					rec, err := cat.Get(first.ID)
					return err == nil && rec.State == store.RecStateComplete && r.Status().ID == ""
				})
				st := r.Status()
				if !st.Active || !strings.Contains(st.Error, "camera stopped delivering frames") {
					t.Errorf("status while the camera is away: %+v", st)
				}
			} else {
				<-time.After(tt.gap)
			}
			cam.set(pipeline.StateStreaming, false)
			rtPublishFor(hub, fps, after, seq, mk)
			st, err := rtStop(t, ctx, r)
			if err != nil || st.Error != "" {
				t.Fatalf("stop: %+v, %v", st, err)
			}
			chain := rtChain(t, cat, first.ID)
			if !tt.wantNew {
				if len(chain) != 1 {
					t.Fatalf("%d files, want one: %+v", len(chain), chain)
				}
				p := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", chain[0].ID))
				if math.Abs(chain[0].DurationS-p.DurationS) > 0.1 || p.Codec != "mjpeg" {
					t.Errorf("file: catalogue %+v, probe %+v", chain[0], p)
				}
				return
			}
			if len(chain) != 2 {
				t.Fatalf("%d files, want two linked: %+v", len(chain), chain)
			}
			for i, rec := range chain {
				p := rtProbeFile(t, probe, filepath.Join(cat.Dir(), "cam0", rec.ID))
				t.Logf("file %d: probe %+v, catalogue %+v", i, p, rec)
				if rec.State != store.RecStateComplete || p.Codec != "mjpeg" || p.Width != 1280 {
					t.Errorf("file %d: %+v, probe %+v", i, rec, p)
				}
				if math.Abs(rec.DurationS-p.DurationS) > 0.1 {
					t.Errorf("file %d: catalogue says %.3fs, ffprobe %.3fs", i, rec.DurationS, p.DurationS)
				}
			}
			if !chain[1].StartedAt.After(chain[0].StartedAt.Add(before)) {
				t.Errorf("second file starts at %v, before the camera came back", chain[1].StartedAt)
			}
		})
	}
}
