package vmtest

import (
	"net/http"
	"testing"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/pipeline"
)

// TestMJPEGCameraStallAndRate pauses and resumes the MJPEG camera and
// changes its rate, and checks what camrec's status API says: a camera that
// stops sending is "stalled" (v4l2loopback gives readers no error, only
// silence) and streams again when frames come back; the measured rate
// follows the camera's.
func TestMJPEGCameraStallAndRate(t *testing.T) {
	v := needVM(t)
	const addr = "127.0.0.1:18100"
	url := "http://" + addr + "/api/v1/cameras/cam0"
	writer, _ := startMJPEGCamera(t, v, 640, 480, 15, 8, addr, "-stall-timeout", "1s")

	var st api.CameraBody
	waitStatus := func(what string, timeout time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			doJSON(t, http.MethodGet, url, nil, http.StatusOK, &st)
			if ok() {
				return time.Since(start)
			}
			if time.Since(start) > timeout {
				t.Fatalf("camera not %s within %v: %+v", what, timeout, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	waitStatus("streaming", 15*time.Second, func() bool { return st.State == pipeline.StateStreaming })
	writer.send(t, "pause")
	took := waitStatus("stalled", 15*time.Second, func() bool { return st.State == pipeline.StateStalled })
	t.Logf("stalled %v after the writer paused (stall timeout 1s)", took.Round(10*time.Millisecond))
	if took < 900*time.Millisecond {
		t.Errorf("stalled after %v, before the 1 s stall timeout", took)
	}
	stalledFrames := st.Frames

	writer.send(t, "resume")
	took = waitStatus("streaming again", 15*time.Second, func() bool {
		return st.State == pipeline.StateStreaming && st.Frames > stalledFrames
	})
	t.Logf("streaming %v after the writer resumed", took.Round(10*time.Millisecond))

	writer.send(t, "fps 5")
	took = waitStatus("measured at 5 fps", 20*time.Second, func() bool { return st.FPSMeasured > 4.5 && st.FPSMeasured < 5.5 })
	t.Logf("measured %.2f fps %v after the writer went from 15 to 5 fps", st.FPSMeasured, took.Round(10*time.Millisecond))
	if st.State != pipeline.StateStreaming {
		t.Errorf("at 5 fps the camera is %q, want %q", st.State, pipeline.StateStreaming)
	}
}
