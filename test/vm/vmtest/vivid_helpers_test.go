package vmtest

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/pipeline"
)

// vivid's button controls (drivers/media/test-drivers/vivid).
const (
	vividDisconnect     = 0x00f0f041
	vividInjectBufError = 0x00f0f042
	vividStreamOnError  = 0x00f0f045
	vividFatalStreamErr = 0x00f0f046
)

const vividNode = "/dev/video0"

// vividArgs are the module parameters guest.sh loads vivid with.
var vividArgs = []string{"n_devs=1", "node_types=0x1"}

// pressVividButton sets one of vivid's button controls with VIDIOC_S_CTRL
// on a descriptor of its own (controls are per device, not per opener).
func pressVividButton(t *testing.T, id uint32) {
	t.Helper()
	fd, err := unix.Open(vividNode, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", vividNode, err)
	}
	defer unix.Close(fd)
	ctrl := struct{ id, value uint32 }{id, 1}
	// _IOWR('V', 28, struct v4l2_control)
	req := uintptr(3<<30 | unsafe.Sizeof(ctrl)<<16 | 'V'<<8 | 28)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ctrl))); errno != 0 {
		t.Fatalf("VIDIOC_S_CTRL %#x on %s: %v", id, vividNode, errno)
	}
}

func loadVivid(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("modprobe", append([]string{"vivid"}, vividArgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("modprobe vivid: %v: %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(vividNode); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear after modprobe vivid", vividNode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startCamrec starts camrec with args, serving on addr, and waits until its
// API answers (the camera may be in any state).
func startCamrec(t *testing.T, v vm, addr string, args ...string) *proc {
	t.Helper()
	args = append([]string{"-listen", addr, "-record-dir", t.TempDir(), "-ffmpeg", v.ffmpeg}, args...)
	p := start(t, v, v.bin, args...)
	waitHTTP(t, p, "http://"+addr+"/api/v1/version", 30*time.Second)
	return p
}

// waitCamera polls the camera's status until ok accepts it and returns the
// status and how long it took.
func waitCamera(t *testing.T, addr, what string, timeout time.Duration, ok func(api.CameraBody) bool) (api.CameraBody, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		var st api.CameraBody
		doJSON(t, http.MethodGet, "http://"+addr+"/api/v1/cameras/cam0", nil, http.StatusOK, &st)
		if ok(st) {
			return st, time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("camera not %s within %v: %+v", what, timeout, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func streaming(st api.CameraBody) bool { return st.State == pipeline.StateStreaming }

// healthStatus returns /healthz's HTTP status code.
func healthStatus(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// previewClient reads camrec's MJPEG stream in the background, counting the
// JPEG parts, until the test ends. ended is set when the stream ends.
type previewClient struct {
	parts atomic.Int64
	ended atomic.Bool
	first chan []byte // the first part
	stop  func()
}

func openPreview(t *testing.T, addr string) *previewClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stream.mjpg", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /stream.mjpg: %s", resp.Status)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &previewClient{first: make(chan []byte, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.ended.Store(true)
		mr := multipart.NewReader(resp.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return
			}
			b, err := io.ReadAll(part)
			if err != nil {
				return
			}
			if c.parts.Add(1) == 1 {
				c.first <- b
			}
		}
	}()
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			cancel()
			resp.Body.Close()
			<-done
		})
	}
	t.Cleanup(c.stop)
	return c
}

// close ends the client's stream and waits for its reader.
func (c *previewClient) close() { c.stop() }

// waitParts waits until the client has read more than n parts.
func (c *previewClient) waitParts(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for c.parts.Load() <= n {
		if c.ended.Load() {
			t.Fatalf("preview stream ended after %d parts", c.parts.Load())
		}
		if time.Now().After(deadline) {
			t.Fatalf("preview client got %d parts within %v, want more than %d", c.parts.Load(), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLines counts the lines of s that contain every one of subs.
func countLines(s string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(line, sub)
		}
		if all {
			n++
		}
	}
	return n
}

func fmtSize(w, h int) string { return fmt.Sprintf("%dx%d", w, h) }
