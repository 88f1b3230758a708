package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/camrec/camrec/test/vm/internal/frames"
)

// TestMJPEGCameraStream feeds v4l2loopback with mjpegwriter (640x480 at
// 15 fps) and checks that camrec's live stream delivers the writer's frames
// byte for byte and in order.
func TestMJPEGCameraStream(t *testing.T) {
	v := needVM(t)
	const (
		w, h, fps, distinct = 640, 480, 15, 8
		want                = 30
		addr                = "127.0.0.1:18080"
	)
	startMJPEGCamera(t, v, w, h, fps, distinct, addr)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stream.mjpg", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /stream.mjpg: %s: %s", resp.Status, body)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])

	base, err := frames.Base(w, h, distinct)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var last uint64
	gaps := 0
	for i := range want {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if ct := part.Header.Get("Content-Type"); ct != "image/jpeg" {
			t.Errorf("part %d: Content-Type %q", i, ct)
		}
		seq, ts, ok := frames.Parse(got)
		if !ok {
			t.Fatalf("part %d (%d bytes) carries no writer comment", i, len(got))
		}
		if wantFrame := frames.Stamp(base, seq, ts); !bytes.Equal(got, wantFrame) {
			t.Errorf("part %d (seq %d): %d bytes differ from the writer's %d bytes", i, seq, len(got), len(wantFrame))
		}
		if i > 0 {
			if seq <= last {
				t.Errorf("part %d: seq %d after %d", i, seq, last)
			} else if seq != last+1 {
				gaps++
			}
		}
		last = seq
	}
	elapsed := time.Since(start)
	rate := float64(want-1) / elapsed.Seconds()
	t.Logf("%d frames in %v (%.1f fps), %d gaps in seq", want, elapsed.Round(time.Millisecond), rate, gaps)
	if gaps > want/10 {
		t.Errorf("%d of %d frames followed a gap in seq; want almost none on an idle loopback", gaps, want)
	}
}

// startMJPEGCamera starts mjpegwriter on /dev/video10 and camrec reading it,
// serving on addr, and waits until camrec answers. Both stop at cleanup.
func startMJPEGCamera(t *testing.T, v vm, w, h, fps, distinct int, addr string, camrecArgs ...string) (writer, cam *proc) {
	t.Helper()
	size := fmt.Sprintf("%dx%d", w, h)
	writer = start(t, v, v.writer, "-device", "/dev/video10", "-size", size,
		"-fps", fmt.Sprint(fps), "-distinct", fmt.Sprint(distinct))
	writer.waitOutput(t, "mjpegwriter: streaming", 30*time.Second)
	args := append([]string{"-device", "/dev/video10", "-size", size, "-fps", fmt.Sprint(fps),
		"-listen", addr, "-record-dir", t.TempDir(), "-ffmpeg", v.ffmpeg}, camrecArgs...)
	cam = start(t, v, v.bin, args...)
	waitHTTP(t, cam, "http://"+addr+"/healthz", 30*time.Second)
	return writer, cam
}
