package vmtest

import (
	"bytes"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/pipeline"
)

// TestVividYUYV captures vivid (no MJPEG) in YUYV at 640x360@30: nothing is
// JPEG-encoded while nobody watches; a preview client gets JPEGs of the
// camera's size at about the preview rate; a snapshot encodes on demand.
func TestVividYUYV(t *testing.T) {
	v := needVM(t)
	const addr = "127.0.0.1:18200"
	startCamrec(t, v, addr, "-device", vividNode, "-size", "640x360", "-fps", "30", "-preview-fps", "5")
	st, took := waitCamera(t, addr, "streaming", 30*time.Second, streaming)
	t.Logf("streaming %v after start: %+v", took.Round(time.Millisecond), st)
	if st.Format != "yuyv" || st.Width != 640 || st.Height != 360 || st.FPSTarget < 29.9 || st.FPSTarget > 30.1 {
		t.Errorf("format %s %dx%d at %v fps, want yuyv 640x360 at 30", st.Format, st.Width, st.Height, st.FPSTarget)
	}
	st, _ = waitCamera(t, addr, "measured near 30 fps", 15*time.Second, func(st api.CameraBody) bool { return st.FPSMeasured > 25 })
	if st.FramesEncoded != 0 {
		t.Errorf("%d frames JPEG-encoded while nobody watched, want 0", st.FramesEncoded)
	}

	c := openPreview(t, addr)
	c.waitParts(t, 10, 20*time.Second)
	begin, parts := time.Now(), c.parts.Load()
	c.waitParts(t, parts+10, 20*time.Second)
	rate := float64(c.parts.Load()-parts) / time.Since(begin).Seconds()
	t.Logf("preview at %.1f fps (preview-fps 5) from a 30 fps camera", rate)
	if rate > 6.5 {
		t.Errorf("preview at %.1f fps, want at most the preview rate 5", rate)
	}
	first := <-c.first
	img, err := jpeg.Decode(bytes.NewReader(first))
	if err != nil {
		t.Fatalf("preview part is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 360 {
		t.Errorf("preview JPEG %dx%d, want 640x360", b.Dx(), b.Dy())
	}

	resp, err := http.Get("http://" + addr + "/snapshot.jpg")
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot: %s: %s", resp.Status, snap)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(snap))
	if err != nil || cfg.Width != 640 || cfg.Height != 360 {
		t.Errorf("snapshot: %dx%d, %v; want a 640x360 JPEG", cfg.Width, cfg.Height, err)
	}
}

// TestVividNegotiatesNearest asks vivid for what it does not offer and
// checks that camrec takes the nearest size and rate and says so in its log.
func TestVividNegotiatesNearest(t *testing.T) {
	v := needVM(t)
	cases := []struct {
		name          string
		size, fps     string
		wantW, wantH  int
		wantFPS       float64
		wantLog       []string
		rejectLogSays string
	}{
		{"offered", "320x180", "50", 320, 180, 50, nil, "using the nearest"},
		{"nearest size and rate", "800x600", "30", 640, 480, 25,
			[]string{"does not offer the size asked for", "does not offer the rate asked for"}, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:1821" + string(rune('0'+i))
			cam := startCamrec(t, v, addr, "-device", vividNode, "-size", tc.size, "-fps", tc.fps)
			st, _ := waitCamera(t, addr, "streaming", 30*time.Second, streaming)
			if st.Width != tc.wantW || st.Height != tc.wantH || st.FPSTarget != tc.wantFPS {
				t.Errorf("got %dx%d at %v fps, want %dx%d at %v", st.Width, st.Height, st.FPSTarget, tc.wantW, tc.wantH, tc.wantFPS)
			}
			out := cam.output.String()
			for _, want := range tc.wantLog {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if tc.rejectLogSays != "" && strings.Contains(out, tc.rejectLogSays) {
				t.Errorf("log says %q for an offered mode:\n%s", tc.rejectLogSays, out)
			}
		})
	}
}

// TestVividUnplugAndReplug unplugs vivid twice while camrec streams from it
// with a preview client connected. First with its Disconnect control: every
// call fails with ENODEV until the last user closes the device, then vivid
// re-registers it (a replug on the same path). Then for real: Disconnect
// again and `rmmod vivid`, which succeeds only once camrec has closed the
// device, then `modprobe vivid`. Each time camrec must not exit, must report
// "disconnected" (503 from /healthz) with one log line, must keep the
// preview client connected, and must stream again once the device is back
// (how soon is logged; the README's figure is "about 1 s").
func TestVividUnplugAndReplug(t *testing.T) {
	v := needVM(t)
	const addr = "127.0.0.1:18220"
	cam := startCamrec(t, v, addr, "-device", vividNode, "-size", "320x180", "-fps", "30")
	t.Cleanup(func() {
		cam.stop(t)
		if _, err := os.Stat(vividNode); err != nil { // leave vivid loaded for the next test
			_ = runCmd("modprobe", append([]string{"vivid"}, vividArgs...)...)
		}
	})
	waitCamera(t, addr, "streaming", 30*time.Second, streaming)
	client := openPreview(t, addr)
	client.waitParts(t, 3, 10*time.Second)
	disconnected := func(st api.CameraBody) bool { return st.State == pipeline.StateDisconnected }

	// 1. Disconnect control; vivid comes back by itself once camrec closed it.
	logAt := len(cam.output.String())
	pressVividButton(t, vividDisconnect)
	pressed := time.Now()
	st, _ := waitCamera(t, addr, "disconnected", 10*time.Second, func(st api.CameraBody) bool {
		return disconnected(st) || st.Restarts > 0
	})
	t.Logf("after the Disconnect control: %s %q", st.State, st.Error)
	st, _ = waitCamera(t, addr, "streaming again", 10*time.Second, func(st api.CameraBody) bool {
		return streaming(st) && st.Restarts == 1
	})
	t.Logf("streaming again %v after the Disconnect control", time.Since(pressed).Round(time.Millisecond))
	if !strings.Contains(cam.output.String()[logAt:], "camera disconnected: no such device") {
		t.Errorf("log does not report the disconnect (ENODEV):\n%s", cam.output.String()[logAt:])
	}
	if n := countLines(cam.output.String()[logAt:], "camera state", "state=disconnected"); n != 1 {
		t.Errorf("%d log lines say disconnected, want 1", n)
	}
	before := client.parts.Load()
	client.waitParts(t, before+3, 10*time.Second)

	// 2. Disconnect, then remove the module as soon as camrec lets go of it.
	logAt = len(cam.output.String())
	pressVividButton(t, vividDisconnect)
	pressed = time.Now()
	for {
		if err := runCmd("rmmod", "vivid"); err == nil {
			break
		}
		if time.Since(pressed) > 20*time.Second {
			t.Fatalf("rmmod vivid kept failing for 20 s after the disconnect: camrec did not close the device")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("rmmod vivid succeeded %v after the disconnect", time.Since(pressed).Round(time.Millisecond))
	st, _ = waitCamera(t, addr, "disconnected", 10*time.Second, disconnected)
	if code := healthStatus(t, addr); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz: %d while disconnected, want 503", code)
	}
	time.Sleep(2 * time.Second) // several retries: they must not log one line each
	st, _ = waitCamera(t, addr, "disconnected", time.Second, disconnected)
	t.Logf("2 s after rmmod: %s %q", st.State, st.Error)
	if !strings.Contains(st.Error, "no such file or directory") {
		t.Errorf("error %q does not say the device is missing", st.Error)
	}
	if n := countLines(cam.output.String()[logAt:], "camera state", "state=disconnected"); n != 1 {
		t.Errorf("%d log lines say disconnected, want 1 (one per state change, not per retry):\n%s", n, cam.output.String()[logAt:])
	}
	if client.ended.Load() {
		t.Fatal("the preview client was disconnected while the camera was away")
	}

	loadVivid(t)
	back := time.Now()
	st, took := waitCamera(t, addr, "streaming again", 10*time.Second, func(st api.CameraBody) bool {
		return streaming(st) && st.Restarts == 2
	})
	// How soon is a figure for the log: a busy VM may take longer.
	t.Logf("streaming %v after modprobe vivid", took.Round(time.Millisecond))
	before = client.parts.Load()
	client.waitParts(t, before+3, 10*time.Second)
	t.Logf("the preview client connected before both unplugs got %d more frames within %v",
		client.parts.Load()-before, time.Since(back).Round(time.Millisecond))
	select {
	case <-cam.done:
		t.Fatalf("camrec exited: %v", cam.err)
	default:
	}
}

// TestVividAbsentAtStart starts camrec on a device that does not exist:
// it starts anyway, reports "disconnected" once, and keeps retrying.
func TestVividAbsentAtStart(t *testing.T) {
	v := needVM(t)
	const addr = "127.0.0.1:18230"
	cam := startCamrec(t, v, addr, "-device", "/dev/video7")
	st, _ := waitCamera(t, addr, "disconnected", 10*time.Second, func(st api.CameraBody) bool {
		return st.State == pipeline.StateDisconnected
	})
	if !strings.Contains(st.Error, "/dev/video7") {
		t.Errorf("error %q does not name the device", st.Error)
	}
	if code := healthStatus(t, addr); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz: %d, want 503", code)
	}
	time.Sleep(3 * time.Second)
	if n := countLines(cam.output.String(), "camera state", "state=disconnected"); n != 1 {
		t.Errorf("%d log lines say disconnected after 3 s of retries, want 1:\n%s", n, cam.output.String())
	}
}

// TestVividBusy starts a second camrec on the device a first one streams
// from: the second reports the driver's EBUSY in its status.
func TestVividBusy(t *testing.T) {
	v := needVM(t)
	const first, second = "127.0.0.1:18240", "127.0.0.1:18241"
	startCamrec(t, v, first, "-device", vividNode, "-size", "320x180", "-fps", "30")
	waitCamera(t, first, "streaming", 30*time.Second, streaming)
	startCamrec(t, v, second, "-device", vividNode, "-size", "320x180", "-fps", "30", "-name", "cam0")
	st, _ := waitCamera(t, second, "in error", 10*time.Second, func(st api.CameraBody) bool {
		return st.State == pipeline.StateError
	})
	t.Logf("second camrec: %q", st.Error)
	if !strings.Contains(st.Error, "busy") {
		t.Errorf("error %q does not say the device is busy", st.Error)
	}
}

// TestVividDriverErrors injects vivid's errors into a running stream: a
// fatal streaming error (EIO) restarts the stream and is counted; a failing
// STREAMON is retried and reported with the driver's error; buffers flagged
// V4L2_BUF_FLAG_ERROR are dropped and counted.
func TestVividDriverErrors(t *testing.T) {
	v := needVM(t)
	const addr = "127.0.0.1:18250"
	cam := startCamrec(t, v, addr, "-device", vividNode, "-size", "320x180", "-fps", "30")
	st, _ := waitCamera(t, addr, "streaming", 30*time.Second, streaming)

	pressVividButton(t, vividInjectBufError)
	st, _ = waitCamera(t, addr, "counting a corrupt frame", 10*time.Second, func(st api.CameraBody) bool { return st.FramesCorrupt > 0 })
	if st.FramesCorrupt != 1 || !streaming(st) {
		t.Errorf("after one injected buffer error: corrupt %d, state %s; want 1, streaming", st.FramesCorrupt, st.State)
	}

	pressVividButton(t, vividFatalStreamErr)
	st, took := waitCamera(t, addr, "restarted", 10*time.Second, func(st api.CameraBody) bool {
		return st.Restarts == 1 && streaming(st)
	})
	t.Logf("streaming again %v after a fatal streaming error", took.Round(time.Millisecond))
	if !strings.Contains(cam.output.String(), "input/output error") {
		t.Errorf("log does not report the EIO")
	}

	// The next STREAMON fails once: force a restart with another fatal error.
	pressVividButton(t, vividStreamOnError)
	pressed := time.Now()
	pressVividButton(t, vividFatalStreamErr)
	for countLines(cam.output.String(), "state=error", "start streaming") == 0 {
		if time.Since(pressed) > 10*time.Second {
			t.Fatalf("log has no error state naming the failed start of streaming:\n%s", cam.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, took = waitCamera(t, addr, "restarted after a failed STREAMON", 15*time.Second, func(st api.CameraBody) bool {
		return st.Restarts >= 2 && streaming(st)
	})
	t.Logf("streaming again %v after a fatal error and a failed STREAMON (restarts %d)", took.Round(time.Millisecond), st.Restarts)
}

func runCmd(name string, args ...string) error { return exec.Command(name, args...).Run() }
