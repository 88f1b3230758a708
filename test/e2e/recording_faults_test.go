package e2e

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The recordings-you-can-trust scenarios: camrec killed with SIGKILL, a
// full disk, a read-only record dir. They run the real binary with real
// ffmpeg; the storage faults mount a tmpfs, which needs root (CI runs as
// root; elsewhere they are skipped with a message).

type recStatus struct {
	Active           bool    `json:"active"`
	ID               string  `json:"id"`
	StartedAt        *string `json:"started_at"`
	Frames           uint64  `json:"frames"`
	Error            string  `json:"error"`
	State            string  `json:"state"`
	Segment          int     `json:"segment"`
	Restarts         uint64  `json:"restarts"`
	RetentionDeleted uint64  `json:"retention_deleted"`
}

type camStatus struct {
	State     string    `json:"state"`
	Recording recStatus `json:"recording"`
}

func (d *Daemon) camStatus(t *testing.T, cam string) camStatus {
	t.Helper()
	var st camStatus
	if code, b := d.do(t, "GET", "/api/v1/cameras/"+cam, "", &st); code != 200 {
		t.Fatalf("camera status: %d %s", code, b)
	}
	return st
}

// mountTmpfs mounts a tmpfs with opts (e.g. "size=3m") on a new dir and
// unmounts it at cleanup.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs %s on %s: %v", opts, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// ffmpegWriting reports whether some process still has an argument under
// dir (an ffmpeg writing a recording there).
func ffmpegWriting(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "ffmpeg") && strings.Contains(string(b), dir) {
			return true
		}
	}
	return false
}

func waitStreaming(t *testing.T, d *Daemon) {
	waitFor(t, 20*time.Second, "streaming", func() bool { return d.camStatus(t, "cam0").State == "streaming" })
}

// TestKill9MidRecording: camrec is killed with SIGKILL while recording.
// ffmpeg reads the end of its input and finishes the file; the file plays
// up to within 2 s of the kill; the next camrec lists it as interrupted
// with its duration, serves it and remuxes it.
func TestKill9MidRecording(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := t.TempDir()
	d := startCamrec(t, "-device", "test:", "-record-dir", dir)
	waitStreaming(t, d)
	var st recStatus
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, &st); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	waitFor(t, 10*time.Second, "4 s recorded", func() bool { return d.camStatus(t, "cam0").Recording.Frames >= 120 })
	started, err := time.Parse(time.RFC3339Nano, *st.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	d.Signal(syscall.SIGKILL)
	d.Wait(t, 20*time.Second)
	waitFor(t, 30*time.Second, "ffmpeg to finish and exit with camrec", func() bool { return !ffmpegWriting(dir) })
	t.Logf("ffmpeg gone %s after the kill", time.Since(killedAt).Round(time.Millisecond))

	path := filepath.Join(dir, "cam0", st.ID)
	p := ffprobe(t, path)
	ran := killedAt.Sub(started).Seconds()
	t.Logf("recording ran %.2f s before the kill; the file plays %.2f s (%d frames): %.2f s lost", ran, p.Duration, p.Frames, ran-p.Duration)
	// What a kill -9 can cost: the frames in camrec's queue (at most 2 s,
	// when a busy machine makes ffmpeg fall behind) and the fragment ffmpeg
	// had not written yet (1 s).
	if p.Codec != "h264" || p.Duration < ran-3 {
		t.Fatalf("file after kill -9: %+v, want h264 lasting at least %.2f s", p, ran-3)
	}

	d2 := startCamrec(t, "-device", "test:", "-record-dir", dir)
	var rec recording
	if code, b := d2.do(t, "GET", "/api/v1/recordings/"+st.ID, "", &rec); code != 200 {
		t.Fatalf("catalogue after restart: %d %s", code, b)
	}
	if rec.State != "interrupted" || rec.DurationS < p.Duration-0.1 || rec.DurationS > p.Duration+0.1 {
		t.Fatalf("catalogue entry %+v, want interrupted lasting %.2f s", rec, p.Duration)
	}
	// Remuxed at start-up to a plain MP4 (index up front), same length.
	waitFor(t, 15*time.Second, "the remux at start-up", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && !strings.Contains(string(b[:min(len(b), 1<<16)]), "moof") && strings.Contains(string(b[:min(len(b), 1<<20)]), "moov")
	})
	resp, err := apiClient.Get(d2.URL + rec.FileURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	dl := filepath.Join(t.TempDir(), "download.mp4")
	os.WriteFile(dl, body, 0o644)
	if p2 := ffprobe(t, dl); resp.StatusCode != 200 || p2.Codec != "h264" || p2.Duration < p.Duration-0.1 || p2.Frames != p.Frames {
		t.Fatalf("download: %d, %+v; want the %+v recording", resp.StatusCode, p2, p)
	}
}

// TestDiskFullStopsRecordingOnly: the record dir is a 3 MB tmpfs. The
// recording fails with "no space left on device" in the recording and
// camera status, the preview goes on, the partial file plays, the log is
// not flooded.
func TestDiskFullStopsRecordingOnly(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := mountTmpfs(t, "size=3m")
	d := startCamrec(t, "-device", "test:", "-container", "mkv", "-codec", "copy", "-record-dir", dir)
	waitStreaming(t, d)
	var st recStatus
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, &st); code != 200 {
		t.Fatalf("start: %d %s", code, b)
	}
	var cs camStatus
	waitFor(t, 20*time.Second, "the recording to fail", func() bool {
		cs = d.camStatus(t, "cam0")
		return cs.Recording.State == "failed"
	})
	t.Logf("status: %+v", cs)
	if cs.Recording.Active || !strings.Contains(cs.Recording.Error, "no space left on device") || cs.State != "streaming" {
		t.Fatalf("camera status %+v, want streaming, recording failed with no space left on device", cs)
	}
	var rec recording
	d.do(t, "GET", "/api/v1/recordings/"+st.ID, "", &rec)
	if rec.State != "failed" {
		t.Errorf("catalogue entry %+v, want failed", rec)
	}
	// Matroska writes its duration at the end, which did not fit: the
	// frames are what counts.
	if p := ffprobe(t, filepath.Join(dir, "cam0", st.ID)); p.Codec != "mjpeg" || p.Frames < 15 {
		t.Errorf("partial file: %+v, want playable frames", p)
	}
	// The preview goes on.
	if code, _ := d.do(t, "GET", "/snapshot.jpg", "", nil); code != 200 {
		t.Errorf("snapshot after disk full: %d", code)
	}
	if n := strings.Count(d.Log(), "level=ERROR"); n > 5 {
		t.Errorf("%d error lines in the log, want a few:\n%s", n, d.Log())
	}
}

// TestDiskFullContinuousRetentionResumes: continuous recording in 1 s
// segments on a 4 MB tmpfs with min-free set: when the disk fills, the
// oldest segments are deleted and recording goes on.
func TestDiskFullContinuousRetentionResumes(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := mountTmpfs(t, "size=4m")
	d := startCamrec(t, "-device", "test:", "-container", "mkv", "-codec", "copy", "-record-dir", dir,
		"-continuous", "-segment", "1s", "-min-free", "64K")
	var cs camStatus
	waitFor(t, 30*time.Second, "retention to free space and recording to go on", func() bool {
		cs = d.camStatus(t, "cam0")
		return cs.Recording.RetentionDeleted >= 2 && cs.Recording.Active && cs.Recording.Segment >= 1
	})
	t.Logf("status: %+v", cs)
	d.awaitLog(t, "no space left on device") // else the disk never filled: the test proves nothing
	if n := strings.Count(d.Log(), "level=ERROR"); n > 10 {
		t.Errorf("%d error lines in the log:\n%s", n, d.Log())
	}
	// Pause, so that retention leaves the files alone, then check them once
	// the last ones are finished (retention runs as each is).
	if code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":false}`, nil); code != 200 {
		t.Fatalf("pause: %d %s", code, b)
	}
	d.awaitFinished(t, "cam0", cred{})
	var list []recording
	d.do(t, "GET", "/api/v1/recordings?camera=cam0", "", &list)
	if len(list) < 2 {
		t.Fatalf("recordings %+v, want several", list)
	}
	// Every complete file plays. A file that ffmpeg was writing when the
	// disk filled is kept, marked failed with the reason, whatever it
	// holds: ENOSPC may have left it without one whole frame. (On a busy
	// machine every file may have met the full disk: which ones complete
	// is the machine's pace, not camrec's promise.)
	playable := 0
	for _, r := range list {
		p := ffprobe(t, filepath.Join(dir, "cam0", r.ID))
		switch {
		case r.State == "complete" && (p.Codec != "mjpeg" || p.Frames == 0):
			t.Errorf("%s (complete) does not play: %+v", r.ID, p)
		case r.State == "failed" && p.Frames == 0 && !strings.Contains(r.Error, "no space left on device"):
			t.Errorf("%s failed without a frame, not for the full disk: %q", r.ID, r.Error)
		}
		if p.Codec == "mjpeg" && p.Frames > 0 {
			playable++
		}
	}
	if playable == 0 {
		t.Errorf("no recording that plays among %+v", list)
	}
}

// TestReadOnlyRecordDir: camrec starts (preview works) and says which path
// is not writable and why; starting a recording says it again.
func TestReadOnlyRecordDir(t *testing.T) {
	requireTool(t, "ffmpeg")
	dir := mountTmpfs(t, "size=1m")
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	d := startCamrec(t, "-device", "test:", "-record-dir", dir)
	want := "record dir " + dir + " is not writable by uid 0: read-only file system"
	d.awaitLog(t, want)
	waitStreaming(t, d)
	var e struct {
		Error string `json:"error"`
	}
	code, b := d.do(t, "PUT", "/api/v1/cameras/cam0/recording", `{"active":true}`, &e)
	if code < 500 || !strings.Contains(e.Error, dir) || !strings.Contains(e.Error, "read-only file system") {
		t.Fatalf("start: %d %s; want an error naming %s and the reason", code, b, dir)
	}
}
