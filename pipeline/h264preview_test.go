package pipeline

import (
	"bytes"
	"context"
	"image/jpeg"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// startH264FFmpeg starts real ffmpeg writing testsrc2 as H.264 (Annex B)
// at the source's pace to its stdout, which it returns.
func startH264FFmpeg(t *testing.T, size string, seconds int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(srcNeedFFmpeg(t), "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30", "-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-f", "h264", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if stderr.Len() > 0 && t.Failed() {
			t.Logf("ffmpeg stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

// await polls cond every 20 ms until it holds or d has passed.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An H.264 pipe: source streams; previews are decoded by an ffmpeg that
// runs only while someone watches.
func TestH264PipeCameraPreviewOnlyWhileWatched(t *testing.T) {
	ff := startH264FFmpeg(t, "640x480", 60)
	out, err := ff.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	src := NewReaderSource("ffmpeg", out, SourceOptions{FPS: 30})
	cam := NewCamera(CameraConfig{Name: "h264", FPS: 30, PreviewFPS: 10, FFmpeg: srcNeedFFmpeg(t)}, src, discardLog())
	cam.h264.idle, cam.h264.snapWatch = 300*time.Millisecond, 500*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = cam.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	await(t, 15*time.Second, "frames", func() bool { return cam.FrameHub().Latest() != nil })
	if f := cam.Format(); f.Name != "h264" || f.Width != 640 || f.Height != 480 {
		t.Fatalf("format %+v", f)
	}
	if f := cam.FrameHub().Latest(); f.PixFmt != PixFmtH264 || f.Data != nil {
		t.Fatalf("frame: pix_fmt %q, data %d bytes", f.PixFmt, len(f.Data))
	}
	if running, started := cam.PreviewDecoders(); running != 0 || started != 0 {
		t.Fatalf("decoder running (%d, started %d) with nobody watching", running, started)
	}

	// A snapshot starts the decoder and gets a JPEG of the source's size.
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	snap, err := cam.Snapshot(sctx)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(snap.Data))
	if err != nil || cfg.Width != 640 || cfg.Height != 480 {
		t.Fatalf("snapshot: %dx%d, %v", cfg.Width, cfg.Height, err)
	}
	await(t, 10*time.Second, "the decoder to stop after the snapshot", func() bool {
		running, _ := cam.PreviewDecoders()
		return running == 0
	})

	// A preview client gets consecutive JPEGs; the decoder stops after it left.
	sub := cam.PreviewHub().SubscribeClient(2)
	for i := range 10 {
		select {
		case f := <-sub.Frames():
			if _, err := jpeg.DecodeConfig(bytes.NewReader(f.Data)); err != nil {
				t.Fatalf("preview %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("preview %d did not come", i)
		}
	}
	if running, started := cam.PreviewDecoders(); running != 1 || started != 2 {
		t.Fatalf("while watched: %d decoders running, %d started; want 1, 2", running, started)
	}
	sub.Close()
	await(t, 10*time.Second, "the decoder to stop after the last client", func() bool {
		running, _ := cam.PreviewDecoders()
		return running == 0
	})
	if st := cam.Status(); st.FramesInvalid != 0 {
		t.Fatalf("%d invalid frames", st.FramesInvalid)
	}
}
