package vmtest

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/procstat"
	"github.com/camrec/camrec/pipeline/store"
)

// TestH264CameraRecording: v4l2loopback fed H.264 by ffmpeg (pixel format
// H264, as a UVC camera offering H.264 delivers it) on its own device
// (/dev/video11), camrec with -codec copy and -format h264, then with
// format auto (which asks for H.264 first when the recording copies into
// mp4): the recording is the camera's own stream (H.264, the source's
// profile and size) copied by an ffmpeg that encodes nothing, and previews
// are decoded while a client watches.
func TestH264CameraRecording(t *testing.T) {
	v := needVM(t)
	// Small: the VM runs on an emulated CPU, and ffmpeg encodes the
	// camera's H.264 in it.
	const w, h, fps = 320, 240, 15
	enc := []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", strconv.Itoa(fps)}
	src := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, fps)}

	// The source's profile, as ffprobe names it.
	sample := filepath.Join(t.TempDir(), "sample.h264")
	args := append(append(append([]string{"-hide_banner", "-v", "error"}, src...), "-frames:v", "5"), enc...)
	if out, err := exec.Command(v.ffmpeg, append(args, "-f", "h264", "-y", sample)...).CombinedOutput(); err != nil {
		t.Fatalf("sample: %v: %s", err, out)
	}
	ffprobe := filepath.Join(filepath.Dir(v.ffmpeg), "ffprobe")
	wantProfile := probeProfile(t, ffprobe, sample)

	cam := start(t, v, v.ffmpeg, append(append(append([]string{"-hide_banner", "-nostdin", "-v", "error", "-re"}, src...), enc...),
		"-f", "v4l2", "/dev/video11")...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The loopback offers capture once the writer has set its format,
		// which it shows in sysfs. (Not camrec -list-devices: probing the
		// other loopback device, /dev/video10, while this one starts left
		// that one refusing MJPEG formats for the tests after this one.)
		if b, _ := os.ReadFile("/sys/class/video4linux/video11/format"); bytes.Contains(b, []byte("H264")) {
			t.Logf("/dev/video11 format: %s", bytes.TrimSpace(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v4l2loopback never offered H264; ffmpeg said: %s", cam.output.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// -format h264 asks for H.264; so does auto when the recording copies
	// into mp4 (the rule of auto: H.264 first for a copied recording).
	for i, tc := range []struct {
		name   string
		format []string
	}{
		{"format h264", []string{"-format", "h264"}},
		{"auto, copied into mp4", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, format := fmt.Sprintf("127.0.0.1:%d", 18120+i), tc.format
			camrec := startCamrec(t, v, addr, append([]string{"-device", "/dev/video11", "-size", fmtSize(w, h),
				"-fps", strconv.Itoa(fps), "-container", "mp4", "-codec", "copy", "-log-level", "debug"}, format...)...)

			// Preview: decoded while watched.
			pc := openPreview(t, addr)
			pc.waitParts(t, 10, 30*time.Second)
			first := <-pc.first
			if cfg, err := jpeg.DecodeConfig(bytes.NewReader(first)); err != nil || cfg.Width != w || cfg.Height != h {
				t.Errorf("preview frame: %dx%d, %v; want %dx%d", cfg.Width, cfg.Height, err, w, h)
			}
			pc.close()
			// The decoder stops after the last client (2 s idle): record without it.
			camrec.waitOutput(t, "preview decoder stopped", 30*time.Second)

			var copyPID int
			var cpu string
			// The recording ffmpeg's CPU over 2-4 s after the start is logged,
			// not asserted: on the VM's emulated CPU it includes ffmpeg's start-up.
			win := recordFor(t, addr, 5*time.Second, func() {
				<-time.After(2 * time.Second)
				copyPID = childWith(camrec.cmd.Process.Pid, "-c:v")
				if copyPID == 0 {
					t.Error("no recording ffmpeg under camrec")
					return
				}
				t0, w0 := procstat.Of(copyPID), time.Now()
				<-time.After(2 * time.Second)
				cpu = fmt.Sprintf("%.1f%% of one core", (procstat.Of(copyPID)-t0).Seconds()/time.Since(w0).Seconds()*100)
			})
			rec := finished(t, addr, win.id)
			t.Logf("recorded between %.2f and %.2f s; recording ffmpeg used %s; catalogue %+v", win.minLen, win.maxLen, cpu, rec)
			if rec.State != store.RecStateComplete || rec.VideoCodec != "h264" || rec.Width != w || rec.Height != h {
				t.Errorf("catalogue entry %+v: want complete h264 %dx%d", rec, w, h)
			}
			file := filepath.Join(t.TempDir(), rec.ID)
			download(t, "http://"+addr+rec.FileURL, file)
			p := probe(t, ffprobe, file)
			profile := probeProfile(t, ffprobe, file)
			t.Logf("ffprobe: %+v, profile %s (source %s)", p, profile, wantProfile)
			if p.codec != "h264" || p.width != w || p.height != h || profile != wantProfile {
				t.Errorf("file is %s %s %dx%d, want h264 %s %dx%d", p.codec, profile, p.width, p.height, wantProfile, w, h)
			}
			// It starts at the first keyframe after the request (up to one GOP, 1 s,
			// late) and ends at the stop.
			if p.duration < win.minLen-1-0.2 || p.duration > win.maxLen+0.2 {
				t.Errorf("file lasts %.2f s, recorded between %.2f and %.2f s (less up to 1 s to the first keyframe)", p.duration, win.minLen, win.maxLen)
			}
			if want := p.duration * fps; float64(p.frames) < 0.9*want-2 || float64(p.frames) > 1.1*want+2 {
				t.Errorf("file has %d frames over %.2f s, want about %.0f at %d fps", p.frames, p.duration, want, fps)
			}
			// No re-encoding: the recording ffmpeg was found by its "-c:v copy"
			// (childWith); its CPU, logged above, is the measure, not asserted.
		})
	}
}

// probeProfile is the H.264 profile ffprobe reads in file.
func probeProfile(t *testing.T, ffprobe, file string) string {
	t.Helper()
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=profile",
		"-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// childWith returns the pid of a child of parent whose command line holds
// arg followed by "copy" (the recording ffmpeg in copy mode), 0 if none.
func childWith(parent int, arg string) int {
	for _, pid := range procstat.Children(parent) {
		if strings.Contains(procstat.Cmdline(pid)+" ", arg+" copy ") {
			return pid
		}
	}
	return 0
}
