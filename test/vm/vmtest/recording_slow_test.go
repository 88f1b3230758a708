package vmtest

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/pipeline/store"
)

// TestSlowMachineRecording: the VM's emulated CPU is slower than x264
// encoding the MJPEG camera's 1280x720 at 30 fps (ffmpeg decodes and
// encodes a handful of frames a second there): a small board recording
// more than it can encode. A 6 s recording still ends complete, in a file
// that plays and lasts the time recorded, with fewer frames (the recorder's
// queue drops them, counted in the status), a warning that names the fix,
// and a stop that works through ffmpeg's backlog instead of interrupting
// it.
func TestSlowMachineRecording(t *testing.T) {
	v := needVM(t)
	const w, h, fps = 1280, 720, 30
	const addr = "127.0.0.1:18097"
	base := "http://" + addr
	_, cam := startMJPEGCamera(t, v, w, h, fps, 8, addr, "-container", "mp4", "-codec", "libx264")

	var st api.RecordingStatusBody
	startSent := time.Now()
	doJSON(t, http.MethodPut, base+"/api/v1/cameras/cam0/recording", map[string]bool{"active": true}, http.StatusOK, &st)
	if !st.Active || st.ID == "" {
		t.Fatalf("after start: %+v", st)
	}
	id := st.ID
	// Six seconds from the start's call (ffmpeg's start-up is part of
	// them), watching the status: still active, frames dropped.
	var dropped uint64
	for time.Since(startSent) < 6*time.Second {
		time.Sleep(200 * time.Millisecond)
		doJSON(t, http.MethodGet, base+"/api/v1/cameras/cam0/recording", nil, http.StatusOK, &st)
		if !st.Active || st.Error != "" {
			t.Fatalf("recording ended by itself: %+v", st)
		}
		dropped = st.Dropped
	}
	stopSent := time.Now()
	doJSON(t, http.MethodPut, base+"/api/v1/cameras/cam0/recording", map[string]bool{"active": false}, http.StatusOK, &st)
	if st.Active {
		t.Fatalf("after stop: %+v", st)
	}
	// The recording ran from the start's arrival to the stop's: a
	// request takes a moment to arrive in the emulated machine, up to half
	// a second allowed; it cannot have lasted longer than from the start's
	// call to the stop's answer.
	least := stopSent.Sub(startSent).Seconds() - 0.5
	most := time.Since(startSent).Seconds()

	// The file is final once it is remuxed: then its event goes out.
	cam.waitOutput(t, `msg="recording remuxed" camera=cam0 recording_id=`+id, 3*time.Minute)
	finished := time.Since(stopSent)
	doJSON(t, http.MethodGet, base+"/api/v1/cameras/cam0/recording", nil, http.StatusOK, &st)
	var rec api.RecordingBody
	doJSON(t, http.MethodGet, base+"/api/v1/recordings/"+id, nil, http.StatusOK, &rec)
	file := filepath.Join(t.TempDir(), "rec.mp4")
	download(t, base+rec.FileURL, file)
	p := probe(t, filepath.Join(filepath.Dir(v.ffmpeg), "ffprobe"), file)
	t.Logf("recorded %.2f..%.2f s; %d frames dropped while recording, %d in all; final %.1f s after the stop; catalogue %+v; ffprobe %+v",
		least, most, dropped, st.Dropped, finished.Seconds(), rec, p)

	if rec.State != store.RecStateComplete || rec.Error != "" || st.State != "idle" || st.Error != "" {
		t.Errorf("recording %s (%s), recorder %s (%s); want complete and idle", rec.State, rec.Error, st.State, st.Error)
	}
	if p.codec != "h264" || p.width != w || p.height != h {
		t.Errorf("file is %s %dx%d, want h264 %dx%d", p.codec, p.width, p.height, w, h)
	}
	// Frames dropped, not time. The file's last frame lasts one of its own
	// frame intervals (what MP4 gives a last frame; camrec writes it at
	// the last slot): up to duration/frames beyond the recording.
	if over := p.duration / float64(max(p.frames, 1)); p.duration < least || p.duration > most+over {
		t.Errorf("file lasts %.2f s, recorded %.2f..%.2f s (+%.2f s for its last frame)", p.duration, least, most, over)
	}
	// Fewer frames than 30 a second, at least one a second.
	if slots := p.duration * fps; float64(p.frames) > 0.9*slots || float64(p.frames) < p.duration {
		t.Errorf("%d frames in %.2f s: want fewer than the camera's %d fps (it is too slow) and at least 1 a second", p.frames, p.duration, fps)
	}
	if dropped == 0 || st.Dropped < dropped {
		t.Errorf("status: %d dropped while recording, %d after; want the drops counted", dropped, st.Dropped)
	}
	log := cam.output.String()
	if !strings.Contains(log, "ffmpeg encodes slower than the camera delivers") ||
		!strings.Contains(log, "codec copy with container mkv") || !strings.Contains(log, "a smaller size or a lower fps") {
		t.Errorf("no warning that names the fix:\n%s", log)
	}
	for _, bad := range []string{"sending SIGINT", "does not take frames", "recording failed"} {
		if strings.Contains(log, bad) {
			t.Errorf("camrec logged %q", bad)
		}
	}
	t.Logf("slow machine: 1280x720 MJPEG at 30 fps into x264: %.2f s recorded, file %.2f s, %d frames (%.1f fps), %d dropped, final %.1f s after the stop",
		most, p.duration, p.frames, float64(p.frames)/p.duration, st.Dropped, finished.Seconds())
}
