package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline/store"
)

// TestMJPEGCameraRecording records about three seconds from the MJPEG
// camera (mjpegwriter at 640x480, 15 fps) through the REST API and checks
// the file the API serves with ffprobe: codec, size, every frame decodable,
// a frame count and duration that match the time recorded.
func TestMJPEGCameraRecording(t *testing.T) {
	v := needVM(t)
	const w, h, fps = 640, 480, 15
	cases := []struct {
		container, codec, wantCodec string
	}{
		{"mp4", "libx264", "h264"},
		{"mkv", "copy", "mjpeg"},
	}
	for i, tc := range cases {
		t.Run(tc.container+"_"+tc.codec, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", 18090+i)
			base := "http://" + addr
			startMJPEGCamera(t, v, w, h, fps, 8, addr, "-container", tc.container, "-codec", tc.codec)

			var st api.RecordingStatusBody
			startSent := time.Now()
			doJSON(t, http.MethodPut, base+"/api/v1/cameras/cam0/recording", map[string]bool{"active": true}, http.StatusOK, &st)
			startDone := time.Now()
			if !st.Active || st.ID == "" {
				t.Fatalf("after start: %+v", st)
			}
			// Record for three seconds after the start call, watching the
			// status: still active, frames flowing.
			for time.Since(startDone) < 3*time.Second {
				time.Sleep(200 * time.Millisecond)
				doJSON(t, http.MethodGet, base+"/api/v1/cameras/cam0/recording", nil, http.StatusOK, &st)
				if !st.Active || st.Error != "" {
					t.Fatalf("recording ended by itself: %+v", st)
				}
			}
			if st.Frames < 2*fps {
				t.Errorf("status after 3 s: %d frames written to ffmpeg, want about %d", st.Frames, 3*fps)
			}
			id := st.ID
			stopSent := time.Now()
			doJSON(t, http.MethodPut, base+"/api/v1/cameras/cam0/recording", map[string]bool{"active": false}, http.StatusOK, &st)
			// The recording began during the start call and ended during
			// the stop call: its length lies between these two bounds.
			minLen, maxLen := stopSent.Sub(startDone).Seconds(), time.Since(startSent).Seconds()
			if st.Active || st.Error != "" {
				t.Fatalf("after stop: %+v", st)
			}

			var rec api.RecordingBody
			deadline := time.Now().Add(30 * time.Second)
			for {
				doJSON(t, http.MethodGet, base+"/api/v1/recordings/"+id, nil, http.StatusOK, &rec)
				if rec.State != store.RecStateRecording || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("recorded between %.2f and %.2f s; catalogue: %+v", minLen, maxLen, rec)
			if rec.State != store.RecStateComplete || rec.Container != tc.container || rec.VideoCodec != tc.wantCodec ||
				rec.Width != w || rec.Height != h {
				t.Errorf("catalogue entry %+v: want state %s, %s/%s %dx%d", rec, store.RecStateComplete, tc.container, tc.wantCodec, w, h)
			}

			file := filepath.Join(t.TempDir(), "rec."+tc.container) // under /tmp: the same path for the chrooted ffprobe
			download(t, base+rec.FileURL, file)
			p := probe(t, filepath.Join(filepath.Dir(v.ffmpeg), "ffprobe"), file)
			t.Logf("ffprobe: %+v", p)
			if p.codec != tc.wantCodec || p.width != w || p.height != h {
				t.Errorf("file is %s %dx%d, want %s %dx%d", p.codec, p.width, p.height, tc.wantCodec, w, h)
			}
			// Allow a frame interval or two either side for the frames in flight.
			if p.duration < minLen-0.2 || p.duration > maxLen+0.2 {
				t.Errorf("file lasts %.2f s, recorded between %.2f and %.2f s", p.duration, minLen, maxLen)
			}
			var now api.RecordingStatusBody
			doJSON(t, http.MethodGet, base+"/api/v1/cameras/cam0/recording", nil, http.StatusOK, &now)
			checkRate(t, "file", p.frames, p.duration, fps, 0.1*p.duration*fps+2, now.Dropped)
		})
	}
}

// doJSON sends body as JSON (if not nil), checks the status and decodes the
// answer into out.
func doJSON(t *testing.T, method, url string, body any, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
}

func download(t *testing.T, url, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		t.Fatalf("GET %s: %v", url, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// probed is what ffprobe says about a file's first video stream.
type probed struct {
	codec         string
	width, height int
	frames        int     // decoded frames (-count_frames)
	duration      float64 // seconds, of the container
}

func probe(t *testing.T, ffprobe, file string) probed {
	t.Helper()
	v := testutil.Probe(t, ffprobe, file)
	if v.Errors != "" {
		t.Errorf("ffprobe %s reports errors:\n%s", file, v.Errors)
	}
	return probed{codec: v.Codec, width: v.Width, height: v.Height, frames: v.Frames, duration: v.Duration}
}
