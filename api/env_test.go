package api

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/internal/motion"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/detect"
	"github.com/camrec/camrec/pipeline/record"
	"github.com/camrec/camrec/pipeline/store"
)

// ---- a real source of JPEG frames ----

// jpegSource emits the same pre-encoded JPEG at a steady rate, each frame
// stamped with camrec's comment "camrec seq=N ts=T" so a test can tell
// frames apart and check their order.
type jpegSource struct {
	base []byte // a JPEG without COM segment
	w, h int
	fps  float64
}

var _ pipeline.Source = (*jpegSource)(nil)

func (s *jpegSource) Run(ctx context.Context, sink pipeline.Sink) error {
	sink.Negotiated(pipeline.Format{Name: "mjpeg", Width: s.w, Height: s.h, FPS: s.fps})
	t := time.NewTicker(time.Duration(float64(time.Second) / s.fps))
	defer t.Stop()
	for seq := uint64(0); ; seq++ {
		now := time.Now()
		data := mjpeg.WithComment(s.base, mjpeg.FormatCamrecComment(seq, now.UnixNano()))
		sink.Frame(&pipeline.Frame{Data: data, Seq: seq, Time: now})
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// encodeJPEG encodes a w×h test image; noise makes it large (hard to
// compress), as a real camera image is.
func encodeJPEG(t testing.TB, w, h int, noise bool) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			v := uint8((x*255/w + y*255/h) / 2)
			if noise {
				v = uint8(r.IntN(256))
			}
			img.Y[img.YOffset(x, y)] = v
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withoutDHT removes the Huffman table segments from a JPEG, as many UVC
// cameras send it. Go's encoder uses the standard tables, so inserting the
// standard ones back restores a decodable image.
func withoutDHT(t testing.TB, b []byte) []byte {
	t.Helper()
	out := append([]byte(nil), b[:2]...)
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			t.Fatalf("no marker at %d", i)
		}
		marker := b[i+1]
		n := int(b[i+2])<<8 | int(b[i+3])
		if marker == 0xDA { // SOS: the rest is scan data
			return append(out, b[i:]...)
		}
		if marker != 0xC4 {
			out = append(out, b[i:i+2+n]...)
		}
		i += 2 + n
	}
	t.Fatal("no SOS")
	return nil
}

// frameSeq returns the sequence number stamped by jpegSource.
func frameSeq(t testing.TB, data []byte) (seq uint64, ts time.Time) {
	t.Helper()
	c, ok := mjpeg.Comment(data)
	if !ok {
		t.Fatalf("frame has no comment")
	}
	seq, ns, ok := mjpeg.ParseCamrecComment(c)
	if !ok {
		t.Fatalf("frame comment %q is not camrec's", c)
	}
	return seq, time.Unix(0, ns)
}

// ---- fakes for the recorder and catalogue (the real ones with real ffmpeg
// are tested end to end elsewhere) ----

type fakeRecorder struct {
	mu      sync.Mutex
	st      record.RecordingStatus
	missing bool // ffmpeg cannot be run
	n       int
	setN    int // SetActive calls
}

// calls returns how many times SetActive was called.
func (r *fakeRecorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.setN
}

var _ Recorder = (*fakeRecorder)(nil)

const ffmpegMissingText = `exec: "ffmpeg": executable file not found in $PATH`

func (r *fakeRecorder) SetActive(ctx context.Context, active bool) (record.RecordingStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setN++
	if r.missing {
		r.st.Error = "ffmpeg not found: " + ffmpegMissingText
		return r.st, fmt.Errorf("%w: %s", defs.ErrFFmpegMissing, ffmpegMissingText)
	}
	switch {
	case active && !r.st.Active:
		r.n++
		now := time.Now()
		r.st = record.RecordingStatus{Active: true, ID: fmt.Sprintf("rec%d", r.n), StartedAt: &now}
	case !active && r.st.Active:
		r.st = record.RecordingStatus{}
	}
	return r.st, nil
}

func (r *fakeRecorder) Status() record.RecordingStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// fakeCatalog keeps recordings whose files are real copies of testdata
// clips, named as the real catalogue names them (id = file name). It records every id it is asked about.
type fakeCatalog struct {
	mu    sync.Mutex
	dir   string
	recs  []store.Recording // newest first
	asked []string
}

var _ Catalog = (*fakeCatalog)(nil)

func newFakeCatalog(t *testing.T) *fakeCatalog {
	t.Helper()
	c := &fakeCatalog{dir: t.TempDir()}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(id, camera, fixture, container, state string, at time.Time) {
		b, err := os.ReadFile(filepath.Join("testdata", fixture))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.dir, id), b, 0o644); err != nil {
			t.Fatal(err)
		}
		rec := store.Recording{
			ID: id, Camera: camera, StartedAt: at, DurationS: 1, Bytes: int64(len(b)),
			Container: container, VideoCodec: "h264", Width: 160, Height: 120,
			State: state,
		}
		if state != store.RecStateRecording {
			end := at.Add(time.Second)
			rec.EndedAt = &end
		}
		c.recs = append(c.recs, rec)
	}
	add("cam1-20260301-120300.mp4", "cam1", "clip.mp4", "mp4", store.RecStateRecording, start.Add(3*time.Minute))
	add("cam0-20260301-120200.mkv", "cam0", "clip.mkv", "mkv", store.RecStateComplete, start.Add(2*time.Minute))
	add("cam0-20260301-120000.mp4", "cam0", "clip.mp4", "mp4", store.RecStateComplete, start)
	return c
}

func (c *fakeCatalog) List(camera string) []store.Recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []store.Recording
	for _, r := range c.recs {
		if camera == "" || r.Camera == camera {
			out = append(out, r)
		}
	}
	return out
}

func (c *fakeCatalog) find(id string) (int, error) {
	c.asked = append(c.asked, id)
	for i, r := range c.recs {
		if r.ID == id {
			return i, nil
		}
	}
	return -1, fmt.Errorf("recording %q: %w", id, defs.ErrNotFound)
}

func (c *fakeCatalog) Get(id string) (store.Recording, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.find(id)
	if err != nil {
		return store.Recording{}, err
	}
	return c.recs[i], nil
}

func (c *fakeCatalog) Open(id string) (*os.File, store.Recording, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.find(id)
	if err != nil {
		return nil, store.Recording{}, err
	}
	r := c.recs[i]
	f, err := os.Open(filepath.Join(c.dir, r.ID))
	return f, r, err
}

func (c *fakeCatalog) Delete(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.find(id)
	if err != nil {
		return err
	}
	r := c.recs[i]
	if r.State == store.RecStateRecording {
		return fmt.Errorf("recording %q is being written: %w", id, defs.ErrConflict)
	}
	if err := os.Remove(filepath.Join(c.dir, r.ID)); err != nil {
		return err
	}
	c.recs = append(c.recs[:i], c.recs[i+1:]...)
	return nil
}

func (c *fakeCatalog) askedIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.asked...)
}

// ---- the environment: real cameras and hubs behind a real HTTP server ----

type camSpec struct {
	name       string
	run        bool   // run the camera's source; false: no frame ever
	base       []byte // the JPEG the source emits (default: small gradient)
	w, h       int
	missing    bool // its recorder reports ffmpeg missing
	noRecorder bool
	motion     bool // it has motion detection (a real detect.Stage, not run)
}

type envConfig struct {
	cams         []camSpec
	writeTimeout time.Duration
	// throughWriter serves without ConnContext, as over TLS: stream parts
	// go through the ResponseWriter instead of straight to the socket.
	throughWriter bool
	// motionEvents is the events catalogue (nil: none).
	motionEvents MotionEvents
}

type env struct {
	t       *testing.T
	url     string
	client  *http.Client
	cams    map[string]*pipeline.Camera
	recs    map[string]*fakeRecorder
	catalog *fakeCatalog
	motion  map[string]*detect.Stage
}

func defaultCams() []camSpec {
	return []camSpec{{name: "cam0", run: true}, {name: "cam1", run: true}}
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	if cfg.cams == nil {
		cfg.cams = defaultCams()
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e := &env{
		t:       t,
		cams:    map[string]*pipeline.Camera{},
		recs:    map[string]*fakeRecorder{},
		catalog: newFakeCatalog(t),
		motion:  map[string]*detect.Stage{},
	}
	small := encodeJPEG(t, 320, 240, false)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var apiCams []Camera
	for _, spec := range cfg.cams {
		if spec.base == nil {
			spec.base, spec.w, spec.h = small, 320, 240
		}
		src := &jpegSource{base: spec.base, w: spec.w, h: spec.h, fps: 30}
		cam := pipeline.NewCamera(pipeline.CameraConfig{Name: spec.name, Device: "test:", FPS: 30}, src, log)
		e.cams[spec.name] = cam
		ac := Camera{View: cam}
		if !spec.noRecorder {
			rec := &fakeRecorder{missing: spec.missing}
			e.recs[spec.name] = rec
			ac.Recorder = rec
		}
		if spec.motion {
			st, err := detect.OpenState(filepath.Join(t.TempDir(), "motion.json"), log)
			if err != nil {
				t.Fatal(err)
			}
			det, err := detect.New(detect.Config{Camera: spec.name, Motion: motion.Config{Enabled: true}, State: st}, cam, log)
			if err != nil {
				t.Fatal(err)
			}
			e.motion[spec.name], ac.Motion = det, det
		}
		apiCams = append(apiCams, ac)
		if spec.run {
			wg.Go(func() {
				if err := cam.Run(ctx); err != nil {
					t.Errorf("camera %s: %v", spec.name, err)
				}
			})
		}
	}
	srv := New(Config{Cameras: apiCams, Catalog: e.catalog, Log: log, Version: "test", StreamWriteTimeout: cfg.writeTimeout,
		MotionEvents: cfg.motionEvents})
	hs := httptest.NewUnstartedServer(srv.Handler())
	if !cfg.throughWriter {
		hs.Config.ConnContext = ConnContext // as Serve does
	}
	hs.Start()
	e.url = hs.URL
	tr := &http.Transport{}
	e.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		hs.Close()
		cancel()
		wg.Wait()
	})
	for _, spec := range cfg.cams {
		if spec.run {
			e.awaitState(spec.name, pipeline.StateStreaming)
		}
	}
	return e
}

// await waits until cond holds (testutil.Eventually).
func await(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, cond)
}

func (e *env) awaitState(cam, state string) {
	e.t.Helper()
	await(e.t, 5*time.Second, cam+" "+state, func() bool { return e.cams[cam].Status().State == state })
}

func (e *env) awaitClients(cam string, n int) {
	e.t.Helper()
	await(e.t, 10*time.Second, fmt.Sprintf("%s to have %d clients", cam, n), func() bool { return e.cams[cam].Status().Clients == n })
}

// do sends a request with an optional body; path is sent as written (raw
// escapes kept).
func (e *env) do(method, path string, body string, hdr ...string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// doJSON sends a request and decodes the JSON answer into out (if not nil),
// failing unless the status is want.
func (e *env) doJSON(method, path, body string, want int, out any) http.Header {
	e.t.Helper()
	resp := e.do(method, path, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			e.t.Fatalf("%s %s: Content-Type %q, want JSON", method, path, ct)
		}
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.Header
}

// The pipeline's types satisfy the interfaces the API consumes.
var (
	_ CameraView = (*pipeline.Camera)(nil)
	_ Recorder   = (*record.Recorder)(nil)
	_ Catalog    = (*store.Catalog)(nil)
)
