package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/procstat"
	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline/restream"
)

type restreamStatus struct {
	State    string `json:"state"`
	Error    string `json:"error"`
	Restarts uint64 `json:"restarts"`
	Mode     string `json:"mode"`
	URL      string `json:"url"`
	Frames   uint64 `json:"frames"`
}

type restreamedCamera struct {
	State     string          `json:"state"`
	Frames    uint64          `json:"frames"`
	Recording recordingState  `json:"recording"`
	Restream  *restreamStatus `json:"restream"`
}

func (d *Daemon) restream(t *testing.T, cam string) restreamedCamera {
	t.Helper()
	var st restreamedCamera
	if code, b := d.do(t, "GET", "/api/v1/cameras/"+cam, "", &st); code != 200 || st.Restream == nil {
		t.Fatalf("GET camera: %d %s (want a restream status)", code, b)
	}
	return st
}

func (d *Daemon) awaitRestream(t *testing.T, cam, state string) restreamedCamera {
	t.Helper()
	var st restreamedCamera
	waitFor(t, time.Minute, "restream "+state, func() bool {
		st = d.restream(t, cam)
		return st.Restream.State == state
	})
	return st
}

// childCommands returns the command lines of pid's child processes.
func childCommands(t *testing.T, pid int) []string {
	t.Helper()
	var out []string
	for _, c := range procstat.Children(pid) {
		if cl := procstat.Cmdline(c); cl != "" {
			out = append(out, cl)
		}
	}
	return out
}

// TestRestreamAndRecordingShareOneEncode: camrec restreams a camera to a
// real MediaMTX, where an RTSP reader gets H.264 of the camera's size with
// every frame's capture time; a recording made meanwhile is H.264 of the
// right length, and while both run camrec has exactly one x264 encoder.
// MediaMTX killed during the recording: the restream says retrying, the
// recording and the preview go on; MediaMTX back: the restream runs again.
func TestRestreamAndRecordingShareOneEncode(t *testing.T) {
	ff := requireTool(t, "ffmpeg")
	mtx := testutil.StartMediaMTX(t, "")
	d := startCamrec(t, "-device", "test:", "-size", "640x360", "-restream", mtx.URL("garage"))
	d.awaitStreaming(t, "cam0", cred{})
	st := d.awaitRestream(t, "cam0", "running")
	if st.Restream.Mode != "always" || st.Restream.URL != mtx.URL("garage") {
		t.Fatalf("restream status %+v", st.Restream)
	}

	rd := testutil.ReadStream(t, ff, mtx.URL("garage"), restream.CaptureTime)
	waitFor(t, time.Minute, "60 frames at the RTSP reader", func() bool {
		n, _, _ := rd.Counts()
		return n >= 60
	})
	frames, _, stamped := rd.Counts()
	if w, h := rd.Size(); w != 640 || h != 360 || stamped != frames {
		t.Fatalf("reader: %dx%d, %d of %d frames stamped; want 640x360, all", w, h, stamped, frames)
	}

	var rs recordingState
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active": true}`, &rs); code != 200 || !rs.Active {
		t.Fatalf("start: %d %s", code, b)
	}
	sent := time.Now()
	var encoders []string
	waitFor(t, 30*time.Second, "the recording's first frames", func() bool {
		encoders = nil
		for _, c := range childCommands(t, d.cmd.Process.Pid) {
			if strings.Contains(c, "libx264") {
				encoders = append(encoders, c)
			}
		}
		return d.restream(t, "cam0").Recording.Frames > 0
	})
	if len(encoders) != 1 {
		t.Fatalf("%d x264 encoders while recording and restreaming, want 1:\n%s", len(encoders), strings.Join(encoders, "\n"))
	}

	mtx.Kill()
	st = d.awaitRestream(t, "cam0", "retrying")
	if st.Restream.Error == "" || st.Restream.Restarts < 1 {
		t.Fatalf("after MediaMTX died: %+v", st.Restream)
	}
	recFrames, camFrames := st.Recording.Frames, st.Frames
	waitFor(t, 30*time.Second, "the recording and the camera to go on", func() bool {
		st := d.restream(t, "cam0")
		return st.Recording.Frames > recFrames+30 && st.Frames > camFrames+30 && st.Recording.Active
	})
	mtx.Start()
	d.awaitRestream(t, "cam0", "running")

	time.Sleep(time.Until(sent.Add(4 * time.Second))) // the recording's length is under test
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active": false}`, &rs); code != 200 {
		t.Fatalf("stop: %d %s", code, b)
	}
	span := time.Since(sent).Seconds()
	d.awaitFinished(t, "cam0", cred{})
	var list []recording
	d.do(t, "GET", "/api/v1/recordings?camera=cam0", "", &list)
	if len(list) != 1 || list[0].State != "complete" {
		t.Fatalf("recordings: %+v", list)
	}
	p := ffprobe(t, filepath.Join(d.RecordDir, "cam0", list[0].ID))
	t.Logf("ffprobe: %+v (request span %.2f s)", p, span)
	// The file starts at the encoder's next keyframe (at most a second
	// after the request) and ends at the stop.
	if p.Codec != "h264" || p.Width != 640 || p.Height != 360 || p.PixFmt != "yuv420p" {
		t.Fatalf("got %s %s %dx%d, want h264 yuv420p 640x360", p.Codec, p.PixFmt, p.Width, p.Height)
	}
	if p.Duration < 2.8 || p.Duration > span+0.3 {
		t.Fatalf("duration %.2f s, want 2.8 s to %.2f s", p.Duration, span+0.3)
	}
	if want := p.Duration * 30; float64(p.Frames) < want*0.9 || float64(p.Frames) > want*1.1+2 {
		t.Fatalf("%d frames in %.2f s, want 30 fps ±10%%", p.Frames, p.Duration)
	}
}

// TestRestreamOnDemandThroughMediaMTX: with restream_mode on_demand,
// camrec publishes nothing until a viewer asks MediaMTX for the path;
// MediaMTX's runOnDemand then holds POST .../restream/demand open with
// curl, the viewer gets the stream, and when the viewer leaves MediaMTX
// ends curl and camrec stops publishing.
func TestRestreamOnDemandThroughMediaMTX(t *testing.T) {
	ff := requireTool(t, "ffmpeg")
	curl := requireTool(t, "curl")
	port := testutil.FreePort(t)
	paths := fmt.Sprintf("  garage:\n    runOnDemand: %s -sfN -X POST http://127.0.0.1:%d/api/v1/cameras/garage/restream/demand\n"+
		"    runOnDemandCloseAfter: 1s\n    runOnDemandStartTimeout: 30s\n", curl, port)
	mtx := testutil.StartMediaMTX(t, paths)
	d := startCamrec(t, "-device", "test:", "-name", "garage", "-size", "320x240",
		"-listen", "127.0.0.1:"+strconv.Itoa(port), "-restream", mtx.URL("garage"), "-restream-mode", "on_demand")
	d.awaitStreaming(t, "garage", cred{})
	if st := d.restream(t, "garage"); st.Restream.State != "idle" || st.Restream.Mode != "on_demand" {
		t.Fatalf("before any viewer: %+v", st.Restream)
	}
	for _, c := range childCommands(t, d.cmd.Process.Pid) {
		t.Fatalf("before any viewer camrec runs %q", c)
	}

	rd := testutil.ReadStream(t, ff, mtx.URL("garage"), restream.CaptureTime)
	waitFor(t, time.Minute, "30 frames at the viewer", func() bool {
		n, _, _ := rd.Counts()
		return n >= 30
	})
	if st := d.restream(t, "garage"); st.Restream.State != "running" {
		t.Fatalf("while watched: %+v", st.Restream)
	}
	rd.Stop()
	d.awaitRestream(t, "garage", "idle")
	waitFor(t, 30*time.Second, "camrec's ffmpegs to end", func() bool { return len(childCommands(t, d.cmd.Process.Pid)) == 0 })
	d.awaitLog(t, "restream no longer asked for")
}

// TestRestreamDemandNeedsARestream: the demand endpoint of a camera
// without a restream answers 404 with the reason.
func TestRestreamDemandNeedsARestream(t *testing.T) {
	d := startCamrec(t, "-device", "test:")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", d.URL+"/api/v1/cameras/cam0/restream/demand", nil)
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(line, "has no restream") {
		t.Fatalf("%d %q, want 404 saying the camera has no restream", resp.StatusCode, line)
	}
}
