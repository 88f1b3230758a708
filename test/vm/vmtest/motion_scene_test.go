package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/api"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/test/vm/internal/scene"
)

// renderScene renders s with the guest's ffmpeg into a file under dir
// (which must be under /tmp: the ffmpeg wrapper runs chrooted with the
// guest's /tmp).
func renderScene(t *testing.T, v vm, s scene.Scene, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "scene.mjpeg")
	t0 := time.Now()
	if b, err := s.Command(v.ffmpeg, out).CombinedOutput(); err != nil {
		t.Fatalf("render the scene: %v\n%s\ngraph: %s", err, b, s.Graph())
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered %gs of %dx%d at %d fps (%.1f MB) in %.1fs", s.Dur, s.W, s.H, s.FPS, float64(fi.Size())/1e6, time.Since(t0).Seconds())
	return out
}

// startScene starts mjpegwriter on dev with the rendered scene, looping its
// first second until play is called; play then returns the write time of
// each scene frame once all are written (the writer then loops the last
// second). The times file goes to dir.
func startScene(t *testing.T, v vm, s scene.Scene, dev, file, dir string) (writer *proc, play func(timeout time.Duration) []time.Time) {
	t.Helper()
	times := filepath.Join(dir, "scene.times")
	writer = start(t, v, v.writer, "-device", dev, "-size", fmt.Sprintf("%dx%d", s.W, s.H), "-fps", strconv.Itoa(s.FPS),
		"-file", file, "-times", times, "-loop", strconv.Itoa(s.FPS))
	writer.waitOutput(t, "mjpegwriter: streaming", 60*time.Second)
	return writer, func(timeout time.Duration) []time.Time {
		t.Helper()
		writer.send(t, "play")
		writer.waitOutput(t, "mjpegwriter: file done", timeout)
		b, err := os.ReadFile(times)
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			_, ns, _ := strings.Cut(l, " ")
			n, err := strconv.ParseInt(ns, 10, 64)
			if err != nil {
				t.Fatalf("times file: %q", l)
			}
			out = append(out, time.Unix(0, n))
		}
		if want := s.Frames(); len(out) != want {
			t.Fatalf("the writer wrote %d scene frames, want %d", len(out), want)
		}
		return out
	}
}

// at is the write time of the scene frame at second sec.
func at(written []time.Time, fps int, sec float64) time.Time {
	i := min(int(sec*float64(fps)+0.5), len(written)-1)
	return written[i]
}

// sseEvent is one Server-Sent Event of /api/v1/events.
type sseEvent struct {
	Type string
	Data events.Body
}

// openEvents follows camrec's live events until the test ends.
func openEvents(t *testing.T, base string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET /api/v1/events: %s", resp.Status)
	}
	out := make(chan sseEvent, 256)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var e sseEvent
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.Type != "" {
					_ = json.Unmarshal([]byte(data), &e.Data)
					out <- e
				}
				e, data = sseEvent{}, ""
			case strings.HasPrefix(line, "event:"):
				e.Type = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	return out
}

// motionStatus is the camera's motion detection status.
func motionStatus(t *testing.T, base string) api.MotionStatusBody {
	t.Helper()
	var cam api.CameraBody
	doJSON(t, http.MethodGet, base+"/api/v1/cameras/cam0", nil, http.StatusOK, &cam)
	if cam.Motion == nil {
		t.Fatalf("camera cam0 has no motion status: detection is off")
	}
	return *cam.Motion
}

// waitAnalysed waits until the detector has analysed n frames in all.
func waitAnalysed(t *testing.T, cam *proc, base string, n uint64, timeout time.Duration) api.MotionStatusBody {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := motionStatus(t, base)
		if st.FramesAnalysed >= n {
			return st
		}
		if st.Error != "" {
			t.Fatalf("motion detection: %s", st.Error)
		}
		select {
		case <-cam.done:
			t.Fatalf("camrec exited (%v)", cam.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the detector analysed %d frames within %v, want %d: %+v", st.FramesAnalysed, timeout, n, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// detected is one motion event as a detector reported it: when the motion
// started and when it was last seen (zero when it has not ended).
type detected struct {
	start, last time.Time
}

// matchEvents assigns detected events to scripted box passes: an event
// belongs to the pass it starts in, from 0.5 s before the box's entry to
// 0.5 s after its exit. It returns the events per pass and those that
// start in none (false events: an event that starts with the lamp and
// lasts into a box's pass is one).
func matchEvents(boxes []scene.Box, written []time.Time, fps int, evs []detected) (per [][]detected, unmatched []detected) {
	per = make([][]detected, len(boxes))
	for _, e := range evs {
		found := false
		for i, b := range boxes {
			lo := at(written, fps, b.Entry).Add(-500 * time.Millisecond)
			hi := at(written, fps, b.Exit).Add(500 * time.Millisecond)
			if !e.start.Before(lo) && !e.start.After(hi) {
				per[i] = append(per[i], e)
				found = true
				break
			}
		}
		if !found {
			unmatched = append(unmatched, e)
		}
	}
	return per, unmatched
}

// sceneTime is t as seconds into the scene.
func sceneTime(written []time.Time, t time.Time) float64 {
	return t.Sub(written[0]).Seconds()
}
