package e2e

import (
	"bytes"
	"image/jpeg"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestH264PipeCameraCopied: the real binary on a pipe: FIFO fed H.264 by
// ffmpeg (-format h264 -codec copy into mp4): a snapshot decodes at the
// source's size, and a recording is the camera's H.264, not re-encoded,
// as long as it ran (less up to one GOP, 1 s, to the first keyframe).
func TestH264PipeCameraCopied(t *testing.T) {
	ff := requireTool(t, "ffmpeg")
	fifo := filepath.Join(t.TempDir(), "camera.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startCamrec(t, "-device", "pipe:"+fifo, "-format", "h264", "-codec", "copy", "-size", "640x480")
	cam := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-t", "60",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-f", "h264", "-y", fifo)
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cam.Process.Kill()
		_ = cam.Wait()
	})
	waitFor(t, 20*time.Second, "streaming", func() bool {
		var st cameraStatus
		d.do(t, "GET", "/api/v1/cameras/cam0", "", &st)
		return st.State == "streaming"
	})

	var body []byte
	waitFor(t, 20*time.Second, "a snapshot", func() bool {
		code, b := d.do(t, "GET", "/snapshot.jpg", "", nil)
		body = b
		return code == http.StatusOK
	})
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(body)); err != nil || cfg.Width != 640 || cfg.Height != 480 {
		t.Fatalf("snapshot: %dx%d, %v; want 640x480", cfg.Width, cfg.Height, err)
	}

	sent := time.Now()
	rec := record(t, d, "cam0", 4*time.Second)
	span := time.Since(sent).Seconds()
	if rec.State != "complete" || rec.Container != "mp4" || rec.Codec != "h264" {
		t.Fatalf("catalogue entry: %+v", rec)
	}
	p := ffprobe(t, filepath.Join(d.RecordDir, "cam0", rec.ID))
	t.Logf("ffprobe: %+v (request span %.2f s)", p, span)
	if p.Codec != "h264" || p.Width != 640 || p.Height != 480 {
		t.Fatalf("got %s %dx%d, want h264 640x480", p.Codec, p.Width, p.Height)
	}
	if p.Duration < 4-1-0.1 || p.Duration > span+0.3 {
		t.Fatalf("duration %.3f s, want 2.9 s (4 s less a GOP) to %.3f s (the request span + 0.3 s)", p.Duration, span+0.3)
	}
}
