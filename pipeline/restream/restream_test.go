package restream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/internal/h264"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
)

// testCamera runs a test: camera (the built-in pattern, MJPEG) of w x h at
// 30 fps until the test ends.
func testCamera(t *testing.T, w, h int) *pipeline.Camera {
	t.Helper()
	src, err := pipeline.NewSource("test:", pipeline.SourceOptions{Width: w, Height: h, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	cam := pipeline.NewCamera(pipeline.CameraConfig{Name: "cam0", Device: "test:", FPS: 30}, src, testutil.Logger(t))
	run(t, cam.Run)
	return cam
}

// run runs fn until the test ends, and waits for it.
func run(t *testing.T, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := fn(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestEncoderFramesAreTheCamerasFrames: the encoder runs only while
// someone subscribes; it makes one H.264 frame of each camera frame, the
// first a keyframe with its SPS (the camera's size), each stamped with the
// capture time of a frame the camera delivered.
func TestEncoderFramesAreTheCamerasFrames(t *testing.T) {
	ff := testutil.RequireTool(t, "ffmpeg")
	cam := testCamera(t, 320, 240)
	camSub := cam.FrameHub().Subscribe(512)
	defer camSub.Close()
	enc := NewEncoder(EncoderConfig{Camera: "cam0", FFmpeg: ff, FPS: 30}, cam, testutil.Logger(t))
	enc.idle = 100 * time.Millisecond
	run(t, enc.Run)
	testutil.Eventually(t, 30*time.Second, "the camera's first frame", func() bool { return cam.FrameHub().Latest() != nil })
	if running, starts := enc.Running(); running || starts != 0 {
		t.Fatalf("encoder running=%v starts=%d with nobody subscribed", running, starts)
	}

	sub := enc.FrameHub().Subscribe(256)
	var got []*pipeline.Frame
	deadline := time.After(60 * time.Second)
	for len(got) < 45 {
		select {
		case f := <-sub.Frames():
			got = append(got, f)
		case <-deadline:
			t.Fatalf("%d encoded frames in 60 s, want 45", len(got))
		}
	}
	sub.Close()
	if !got[0].Key {
		t.Fatal("the first encoded frame is not a keyframe")
	}
	in := h264.Inspect(got[0].Raw)
	sps, err := h264.ParseSPS(in.SPS)
	if err != nil || in.PPS == nil {
		t.Fatalf("first frame: SPS %v (%v), PPS %d bytes", sps, err, len(in.PPS))
	}
	if sps.Width != 320 || sps.Height != 240 || got[0].Width != 320 || got[0].Height != 240 {
		t.Fatalf("SPS says %dx%d, frame %dx%d; want 320x240", sps.Width, sps.Height, got[0].Width, got[0].Height)
	}
	keys := 0
	for _, f := range got {
		if f.Key {
			keys++
		}
	}
	// A keyframe every 30 frames: 2 in 45.
	if keys != 2 {
		t.Errorf("%d keyframes in 45 frames, want 2 (one a second)", keys)
	}
	// Every encoded frame's time is a camera frame's capture time, in order.
	camTimes := map[time.Time]bool{}
	for len(camSub.Frames()) > 0 {
		f := <-camSub.Frames()
		camTimes[f.Time] = true
	}
	for i, f := range got {
		if !camTimes[f.Time] {
			t.Fatalf("encoded frame %d: time %v is no camera frame's capture time", i, f.Time)
		}
		if i > 0 && !f.Time.After(got[i-1].Time) {
			t.Fatalf("encoded frame %d: time %v not after the previous %v", i, f.Time, got[i-1].Time)
		}
	}
	testutil.Eventually(t, 30*time.Second, "the encoder to stop after its last subscriber", func() bool {
		running, _ := enc.Running()
		return !running
	})
	if _, starts := enc.Running(); starts != 1 {
		t.Errorf("%d encoder starts, want 1", starts)
	}
}

// eventLog collects events.
type eventLog struct {
	mu sync.Mutex
	ev []events.Event
}

func (l *eventLog) Publish(e events.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) count(typ events.Type) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.ev {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func waitState(t *testing.T, r *Restreamer, state string) Status {
	t.Helper()
	var st Status
	testutil.Eventually(t, 60*time.Second, "restream state "+state, func() bool {
		st = r.Status()
		return st.State == state
	})
	return st
}

// TestRestreamToMediaMTX: a camera restreamed (always) to a real MediaMTX
// reaches an RTSP reader as H.264 of the camera's size, every frame
// stamped with its capture time, in order. MediaMTX killed: the restream
// says retrying with the reason, while the camera's frames go on; MediaMTX
// back: the restream runs again and the reader gets frames.
func TestRestreamToMediaMTX(t *testing.T) {
	ff := testutil.RequireTool(t, "ffmpeg")
	mtx := testutil.StartMediaMTX(t, "")
	cam := testCamera(t, 320, 240)
	enc := NewEncoder(EncoderConfig{Camera: "cam0", FFmpeg: ff, FPS: 30}, cam, testutil.Logger(t))
	run(t, enc.Run)
	evs := &eventLog{}
	rs, err := New(Config{Camera: "cam0", URL: mtx.URL("cam0"), FFmpeg: ff, Events: evs}, enc, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, rs.Run)
	waitState(t, rs, StateRunning)

	rd := testutil.ReadStream(t, ff, mtx.URL("cam0"), CaptureTime)
	testutil.Eventually(t, 60*time.Second, "60 frames at the reader", func() bool {
		n, _, _ := rd.Counts()
		return n >= 60
	})
	rd.Stop()
	frames, keys, stamped := rd.Counts()
	w, h := rd.Size()
	if keys < 1 || stamped != frames || w != 320 || h != 240 {
		t.Fatalf("reader: %d frames, %d keyframes, %d stamped, %dx%d; want every frame stamped, 320x240", frames, keys, stamped, w, h)
	}
	stamps, _ := rd.Stamps()
	for i := 1; i < len(stamps); i++ {
		if !stamps[i].After(stamps[i-1]) {
			t.Fatalf("stamp %d (%v) not after stamp %d (%v)", i, stamps[i], i-1, stamps[i-1])
		}
	}
	if evs.count(events.RestreamStarted) != 1 {
		t.Errorf("%d restream_started events, want 1", evs.count(events.RestreamStarted))
	}

	mtx.Kill()
	st := waitState(t, rs, StateRetrying)
	if st.Error == "" || st.Restarts < 1 {
		t.Fatalf("after the server died: %+v, want an error and a restart", st)
	}
	camFrames := cam.Status().Frames
	testutil.Eventually(t, 30*time.Second, "the camera to go on delivering", func() bool { return cam.Status().Frames > camFrames+30 })
	if evs.count(events.RestreamFailed) < 1 {
		t.Error("no restream_failed event")
	}

	mtx.Start()
	waitState(t, rs, StateRunning)
	rd2 := testutil.ReadStream(t, ff, mtx.URL("cam0"), CaptureTime)
	testutil.Eventually(t, 60*time.Second, "frames at a reader after the server came back", func() bool {
		n, _, _ := rd2.Counts()
		return n >= 30
	})
}

// TestRestreamOnDemand: in mode on_demand nothing runs (no encoder, no
// publisher) until Demand; then the stream reaches the server; after the
// release the restream is idle again and the encoder stops.
func TestRestreamOnDemand(t *testing.T) {
	ff := testutil.RequireTool(t, "ffmpeg")
	mtx := testutil.StartMediaMTX(t, "")
	cam := testCamera(t, 320, 240)
	enc := NewEncoder(EncoderConfig{Camera: "cam0", FFmpeg: ff, FPS: 30}, cam, testutil.Logger(t))
	enc.idle = 100 * time.Millisecond
	run(t, enc.Run)
	evs := &eventLog{}
	rs, err := New(Config{Camera: "cam0", URL: mtx.URL("cam0"), Mode: ModeOnDemand, FFmpeg: ff, Events: evs}, enc, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, rs.Run)
	testutil.Eventually(t, 30*time.Second, "camera frames", func() bool { return cam.Status().Frames > 30 })
	if st := rs.Status(); st.State != StateIdle {
		t.Fatalf("on_demand without demand: state %q, want idle", st.State)
	}
	if running, starts := enc.Running(); running || starts != 0 {
		t.Fatalf("on_demand without demand: encoder running=%v starts=%d", running, starts)
	}
	release := rs.Demand()
	waitState(t, rs, StateRunning)
	rd := testutil.ReadStream(t, ff, mtx.URL("cam0"), CaptureTime)
	testutil.Eventually(t, 60*time.Second, "frames at the reader", func() bool {
		n, _, _ := rd.Counts()
		return n >= 30
	})
	release()
	release() // a second call changes nothing
	waitState(t, rs, StateIdle)
	testutil.Eventually(t, 30*time.Second, "the encoder to stop", func() bool {
		running, _ := enc.Running()
		return !running
	})
	if evs.count(events.RestreamStopped) != 1 {
		t.Errorf("%d restream_stopped events, want 1", evs.count(events.RestreamStopped))
	}
}

// TestRestreamRefusedHidesPassword: a server that refuses the connection
// puts the restream in retrying with ffmpeg's reason; the URL's password
// is neither in the status, nor in the error, nor in the log.
func TestRestreamRefusedHidesPassword(t *testing.T) {
	ff := testutil.RequireTool(t, "ffmpeg")
	cam := testCamera(t, 160, 120)
	enc := NewEncoder(EncoderConfig{Camera: "cam0", FFmpeg: ff, FPS: 30}, cam, testutil.Logger(t))
	run(t, enc.Run)
	logBuf := &testutil.SyncBuffer{}
	log := slogTo(logBuf)
	// A port nothing listens on: MediaMTX's, after it is gone.
	mtx := testutil.StartMediaMTX(t, "")
	mtx.Kill()
	url := strings.Replace(mtx.URL("cam0"), "rtsp://", "rtsp://camrec:pa55w0rd-secret@", 1)
	rs, err := New(Config{Camera: "cam0", URL: url, FFmpeg: ff}, enc, log)
	if err != nil {
		t.Fatal(err)
	}
	run(t, rs.Run)
	st := waitState(t, rs, StateRetrying)
	if !strings.Contains(st.Error, "refused") {
		t.Errorf("error %q does not say the connection was refused", st.Error)
	}
	for what, s := range map[string]string{"status URL": st.URL, "error": st.Error, "log": logBuf.String()} {
		if strings.Contains(s, "pa55w0rd") {
			t.Errorf("the password is in the %s: %s", what, s)
		}
	}
	if !strings.Contains(st.URL, "camrec:xxxxx@") {
		t.Errorf("status URL %q, want the user with the password masked", st.URL)
	}
}

// TestRestreamProtocols: the restream reaches MediaMTX over RTMP and SRT
// too (ffmpeg's flv and mpegts muxers); an RTSP reader of the same path
// gets the frames, stamped.
func TestRestreamProtocols(t *testing.T) {
	ff := testutil.RequireTool(t, "ffmpeg")
	mtx := testutil.StartMediaMTX(t, "")
	cam := testCamera(t, 320, 240)
	enc := NewEncoder(EncoderConfig{Camera: "cam0", FFmpeg: ff, FPS: 30}, cam, testutil.Logger(t))
	run(t, enc.Run)
	for _, tc := range []struct{ name, url string }{
		{"rtmp", fmt.Sprintf("rtmp://127.0.0.1:%d/viartmp", mtx.RTMP)},
		{"srt", fmt.Sprintf("srt://127.0.0.1:%d?streamid=publish:viasrt&pkt_size=1316", mtx.SRT)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := New(Config{Camera: "cam0", URL: tc.url, FFmpeg: ff}, enc, testutil.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			run(t, rs.Run)
			waitState(t, rs, StateRunning)
			// RTMP and SRT publishers are connected before MediaMTX has
			// their stream's parameters; a reader must wait for those.
			testutil.Eventually(t, 60*time.Second, "MediaMTX to have the stream", func() bool { return mtx.Ready("via" + tc.name) })
			rd := testutil.ReadStream(t, ff, mtx.URL("via"+tc.name), CaptureTime)
			testutil.Eventually(t, 60*time.Second, "30 stamped frames at the RTSP reader", func() bool {
				_, _, stamped := rd.Counts()
				return stamped >= 30
			})
			if w, h := rd.Size(); w != 320 || h != 240 {
				t.Fatalf("reader: %dx%d, want 320x240", w, h)
			}
		})
	}
}
