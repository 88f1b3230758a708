package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
)

// scene renders an MJPEG scene with ffmpeg's lavfi filter graph graph
// (which must end in a yuvj pixel format) for dur seconds and returns its
// frames.
func scene(t *testing.T, graph string, dur float64) [][]byte {
	t.Helper()
	ff := requireTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", graph,
		"-t", formatSeconds(dur), "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", "-")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("render scene %q: %v: %s", graph, err, errb.String())
	}
	rd := mjpeg.NewReader(&out, 8<<20)
	var frames [][]byte
	for {
		f, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split scene: %v", err)
		}
		frames = append(frames, bytes.Clone(f))
	}
	return frames
}

func formatSeconds(s float64) string {
	return time.Duration(s * float64(time.Second)).String()
}

// play writes frames into w (camrec's pipe: camera) at fps, one after
// another on a fixed clock, and returns when each was written. It stops at
// the first write error (camrec gone).
func play(w io.Writer, frames [][]byte, fps float64) []time.Time {
	times := make([]time.Time, 0, len(frames))
	start := time.Now()
	for i, f := range frames {
		due := start.Add(time.Duration(float64(i) / fps * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing a camera, not waiting for a condition
		}
		times = append(times, time.Now())
		if _, err := w.Write(f); err != nil {
			break
		}
	}
	return times
}

// fifo makes a named pipe in a temporary directory.
func fifo(t *testing.T) string {
	t.Helper()
	p := t.TempDir() + "/camera.fifo"
	if err := mkfifo(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// openWriter opens the FIFO for writing (blocking until camrec reads it).
func openWriter(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }
