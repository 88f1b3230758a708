package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
)

type recordingState struct {
	Active    bool    `json:"active"`
	ID        string  `json:"id"`
	StartedAt *string `json:"started_at"`
	Frames    uint64  `json:"frames"`
	Bytes     int64   `json:"bytes"`
	Error     string  `json:"error"`
	State     string  `json:"state"`
}

type recording struct {
	ID        string  `json:"id"`
	Camera    string  `json:"camera"`
	State     string  `json:"state"`
	EndedAt   *string `json:"ended_at"`
	DurationS float64 `json:"duration_s"`
	Bytes     int64   `json:"bytes"`
	Container string  `json:"container"`
	Codec     string  `json:"video_codec"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	FileURL   string  `json:"file_url"`
	Error     string  `json:"error"`
}

type cameraStatus struct {
	Name      string         `json:"name"`
	State     string         `json:"state"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Frames    uint64         `json:"frames"`
	Clients   int            `json:"clients"`
	Recording recordingState `json:"recording"`
}

func TestPreviewDeliversConsecutiveFrames(t *testing.T) {
	d := startCamrec(t, "-device", "test:")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/api/v1/cameras/cam0/stream.mjpg", nil)
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var prev uint64
	for i := range 61 {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if ct := part.Header.Get("Content-Type"); ct != "image/jpeg" {
			t.Fatalf("part %d content type %q", i, ct)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if cl := part.Header.Get("Content-Length"); cl != fmt.Sprint(len(body)) {
			t.Fatalf("part %d: Content-Length %s, body %d bytes", i, cl, len(body))
		}
		com, ok := mjpeg.Comment(body)
		if !ok {
			t.Fatalf("part %d has no COM segment", i)
		}
		seq, _, ok := mjpeg.ParseCamrecComment(com)
		if !ok {
			t.Fatalf("part %d: COM %q", i, com)
		}
		// The first part is the latest frame at connect time; the 60 after
		// it must follow each other without a gap.
		if i > 0 && seq != prev+1 {
			t.Fatalf("frame %d: seq %d after %d", i, seq, prev)
		}
		prev = seq
	}
	resp.Body.Close()
	var st cameraStatus
	waitFor(t, 20*time.Second, "clients back to 0 after disconnect", func() bool {
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.Clients == 0
	})
}

func TestSnapshotDecodesAt720p(t *testing.T) {
	d := startCamrec(t, "-device", "test:")
	var body []byte
	waitFor(t, 10*time.Second, "a snapshot", func() bool {
		code, b := d.do(t, "GET", "/snapshot.jpg", "", nil)
		body = b
		return code == http.StatusOK
	})
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("snapshot does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 720 {
		t.Fatalf("snapshot is %dx%d, want 1280x720", b.Dx(), b.Dy())
	}
}

// record starts a recording, lets it run for dur, stops it and returns the
// finished catalogue entry.
func record(t *testing.T, d *Daemon, cam string, dur time.Duration) recording {
	t.Helper()
	var st recordingState
	if code, b := d.do(t, "PUT", "/api/v1/cameras/"+cam+"/recording", `{"active": true}`, &st); code != 200 || !st.Active {
		t.Fatalf("start: %d %s", code, b)
	}
	time.Sleep(dur) // the recording's length is what is under test
	if code, b := d.do(t, "PUT", "/api/v1/cameras/"+cam+"/recording", `{"active": false}`, &st); code != 200 || st.Active {
		t.Fatalf("stop: %d %s", code, b)
	}
	d.awaitFinished(t, cam, cred{}) // the stop may answer while ffmpeg finishes the file
	var list []recording
	d.do(t, "GET", "/api/v1/recordings?camera="+cam, "", &list)
	if len(list) == 0 {
		t.Fatal("no recording listed after stop")
	}
	return list[0]
}

func TestRecordingIsH264At720pWithRightDuration(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:")
	waitFor(t, 10*time.Second, "streaming", func() bool {
		var st cameraStatus
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.State == "streaming"
	})
	// The recording starts when the start request arrives and ends when
	// the stop request does, so it may be longer than the 5 s between the
	// answer to the start and the stop (ffmpeg's start-up on a busy
	// machine), but never longer than from sending the start to the
	// stop's answer.
	sent := time.Now()
	rec := record(t, d, "cam0", 5*time.Second)
	span := time.Since(sent).Seconds()
	if rec.State != "complete" || rec.Container != "mp4" || rec.EndedAt == nil {
		t.Fatalf("catalogue entry: %+v", rec)
	}
	path := filepath.Join(d.RecordDir, "cam0", rec.ID)
	p := ffprobe(t, path)
	t.Logf("ffprobe: %+v", p)
	if p.Codec != "h264" || p.Width != 1280 || p.Height != 720 || p.PixFmt != "yuv420p" {
		t.Fatalf("got %s %s %dx%d, want h264 yuv420p 1280x720", p.Codec, p.PixFmt, p.Width, p.Height)
	}
	if p.Duration < 4.7 || p.Duration > span+0.3 {
		t.Fatalf("duration %.3f s, want 4.7 s to %.3f s (the request span + 0.3 s)", p.Duration, span+0.3)
	}
	if p.Frames < 142 || float64(p.Frames) > span*30+8 {
		t.Fatalf("%d frames, want 142 to %.0f (30 fps over the request span + 8)", p.Frames, span*30+8)
	}
	// The file is served with Range support for seeking.
	req, _ := http.NewRequest("GET", d.URL+rec.FileURL, nil)
	req.Header.Set("Range", "bytes=0-99")
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || len(b) != 100 {
		t.Fatalf("range request: %d, %d bytes", resp.StatusCode, len(b))
	}
}

func TestSIGTERMFinalizesRecordingAndExitsZero(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:")
	waitFor(t, 10*time.Second, "streaming", func() bool {
		var st cameraStatus
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.State == "streaming"
	})
	var st recordingState
	if code, b := d.do(t, "POST", "/api/v1/cameras/cam0/recording", `{"active":true}`, &st); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	waitFor(t, 10*time.Second, "60 frames recorded", func() bool {
		var cs cameraStatus
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &cs)
		return cs.Recording.Frames >= 60
	})
	start := time.Now()
	d.Signal(syscall.SIGTERM)
	// Within 10 s by design (stop escalation, tested on virtual time); the
	// test waits longer, for a busy machine.
	if code := d.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	p := ffprobe(t, filepath.Join(d.RecordDir, "cam0", st.ID))
	if p.Codec != "h264" || p.Frames < 55 || p.Duration < 1.8 {
		t.Fatalf("file after SIGTERM: %+v", p)
	}
}

func TestTwoCamerasInOneDaemon(t *testing.T) {
	requireTool(t, "ffmpeg")
	cfg := filepath.Join(t.TempDir(), "camrec.yaml")
	os.WriteFile(cfg, []byte(`cameras:
  - name: front
    device: "test:"
    size: 640x360
    fps: 15
  - name: back
    device: "test:"
    size: 320x240
    fps: 10
    container: mkv
    codec: copy
`), 0o644)
	d := startCamrec(t, "-config", cfg)
	var cams []cameraStatus
	waitFor(t, 10*time.Second, "both cameras streaming", func() bool {
		d.do(t, "GET", "/api/v1/cameras", "", &cams)
		return len(cams) == 2 && cams[0].State == "streaming" && cams[1].State == "streaming"
	})
	if cams[0].Name != "front" || cams[0].Width != 640 || cams[1].Name != "back" || cams[1].Height != 240 {
		t.Fatalf("cameras: %+v", cams)
	}
	if code, _ := d.do(t, "GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz %d with both streaming", code)
	}
	front := record(t, d, "front", 1500*time.Millisecond)
	back := record(t, d, "back", 1500*time.Millisecond)
	pf := ffprobe(t, filepath.Join(d.RecordDir, "front", front.ID))
	pb := ffprobe(t, filepath.Join(d.RecordDir, "back", back.ID))
	if pf.Codec != "h264" || pf.Width != 640 || pb.Codec != "mjpeg" || pb.Width != 320 || !strings.HasSuffix(back.ID, ".mkv") {
		t.Fatalf("front %+v (%s), back %+v (%s)", pf, front.ID, pb, back.ID)
	}
	var all []recording
	d.do(t, "GET", "/api/v1/recordings", "", &all)
	if len(all) != 2 || all[0].ID != back.ID { // newest first
		t.Fatalf("catalogue: %+v", all)
	}
}

func TestBadInputGetsClearErrors(t *testing.T) {
	d := startCamrec(t, "-device", "test:")
	tests := []struct {
		method, path, body string
		code               int
		want               string // substring of the JSON error
	}{
		{"PUT", "/api/v1/cameras/cam0/recording", `{"active": tru`, 400, ""},
		{"PUT", "/api/v1/cameras/cam0/recording", `{"active": true, "extra": 1}`, 400, "extra"},
		{"PUT", "/api/v1/cameras/cam0/recording", `{"active": "yes"}`, 400, ""},
		{"PUT", "/api/v1/cameras/cam0/recording", `{}`, 400, "active"},
		{"PUT", "/api/v1/cameras/nope/recording", `{"active": true}`, 404, ""},
		{"GET", "/api/v1/cameras/nope", "", 404, ""},
		{"GET", "/api/v1/recordings/nope.mp4", "", 404, ""},
		{"GET", "/api/v1/recordings/..%2f..%2fetc%2fpasswd/file", "", 404, ""},
		{"GET", "/api/v1/recordings/%2e%2e/file", "", 404, ""},
		{"DELETE", "/api/v1/recordings/cam0-20260101-000000.mp4", "", 404, ""},
		{"GET", "/api/v1/cameras/cam0/stream.mjpg?fps=-3", "", 400, "fps"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			var e struct {
				Error string `json:"error"`
			}
			code, b := d.do(t, tt.method, tt.path, tt.body, &e)
			if code != tt.code || e.Error == "" || !strings.Contains(e.Error, tt.want) {
				t.Fatalf("got %d %s, want %d and a JSON error containing %q", code, b, tt.code, tt.want)
			}
		})
	}
}

func TestDeleteWhileRecordingConflicts(t *testing.T) {
	requireTool(t, "ffmpeg")
	d := startCamrec(t, "-device", "test:")
	waitFor(t, 10*time.Second, "a frame", func() bool {
		code, _ := d.do(t, "GET", "/snapshot.jpg", "", nil)
		return code == 200
	})
	var st recordingState
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, &st); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	if code, b := d.do(t, "DELETE", "/api/v1/recordings/"+st.ID, "", nil); code != 409 {
		t.Fatalf("delete while recording: %d %s, want 409", code, b)
	}
	id := st.ID
	d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":false}`, &st)
	// The stop may answer while ffmpeg still finishes the file (state
	// finishing: the recording is still being written, a delete gets 409).
	waitFor(t, 30*time.Second, "ffmpeg to finish the file", func() bool {
		code, _ := d.do(t, "GET", "/api/v1/cameras/cam0/recording", "", &st)
		return code == 200 && st.State != "finishing"
	})
	// Right after that, while the MP4 is still being remuxed for browsers,
	// the delete goes through.
	if code, b := d.do(t, "DELETE", "/api/v1/recordings/"+id, "", nil); code != 204 {
		t.Fatalf("delete after stop: %d %s, want 204", code, b)
	}
	if _, err := os.Stat(filepath.Join(d.RecordDir, "cam0", id)); !os.IsNotExist(err) {
		t.Fatalf("file still there after delete: %v", err)
	}
}

func TestFFmpegMissing(t *testing.T) {
	d := startCamrec(t, "-device", "test:", "-ffmpeg", "ffmpeg-not-installed-here")
	// Preview still works.
	waitFor(t, 10*time.Second, "a snapshot", func() bool {
		code, _ := d.do(t, "GET", "/snapshot.jpg", "", nil)
		return code == 200
	})
	var e struct {
		Error string `json:"error"`
	}
	code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, &e)
	if code != 503 || !strings.Contains(e.Error, "ffmpeg-not-installed-here") {
		t.Fatalf("record without ffmpeg: %d %s", code, b)
	}
	d.awaitLog(t, "ffmpeg-not-installed-here")
}

func TestBadFlagsExitWithMessage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-size", "big"}, `size "big"`},
		{[]string{"-container", "mov"}, `container "mov"`},
		{[]string{"-nonsense"}, "flag provided but not defined"},
		{[]string{"-listen", "127.0.0.1:99999"}, "listen"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := execCamrec(tt.args...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("camrec %v succeeded, want an error", tt.args)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output %q does not mention %q", out, tt.want)
			}
		})
	}
}
