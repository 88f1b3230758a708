package vmtest

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
	"github.com/camrec/camrec/test/vm/internal/frames"
)

// TestLoopbackFeedsFFmpeg checks the harness without camrec: frames that
// mjpegwriter writes into v4l2loopback come out of the capture side, read by
// the host's ffmpeg (through the wrapper), unchanged and in order.
func TestLoopbackFeedsFFmpeg(t *testing.T) {
	v := needVM(t)
	const w, h, distinct, want = 320, 240, 4, 10
	base, err := frames.Base(w, h, distinct)
	if err != nil {
		t.Fatal(err)
	}
	writer := start(t, v, v.writer, "-device", "/dev/video10", "-size", "320x240", "-fps", "20", "-distinct", "4")
	writer.waitOutput(t, "mjpegwriter: streaming", 30*time.Second)

	ff := exec.Command(v.ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "v4l2", "-input_format", "mjpeg",
		"-video_size", "320x240", "-i", "/dev/video10", "-frames:v", "10", "-c", "copy", "-f", "mjpeg", "-")
	var stderr bytes.Buffer
	ff.Stderr = &stderr
	out, err := ff.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
	}
	r := mjpeg.NewReader(bytes.NewReader(out), 1<<20)
	var got [][]byte
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, mjpeg.ErrSkipped) {
			continue
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(got), err)
		}
		got = append(got, f)
	}
	t.Logf("ffmpeg read %d bytes, %d frames, %d bytes skipped", len(out), len(got), r.Skipped())
	if len(got) != want {
		t.Fatalf("got %d frames, want %d", len(got), want)
	}
	var last uint64
	for i, f := range got {
		seq, ts, ok := frames.Parse(f)
		if !ok {
			t.Fatalf("frame %d carries no writer comment", i)
		}
		if !bytes.Equal(f, frames.Stamp(base, seq, ts)) {
			t.Errorf("frame %d (seq %d) differs from what the writer wrote", i, seq)
		}
		if i > 0 && seq <= last {
			t.Errorf("frame %d: seq %d after %d", i, seq, last)
		}
		last = seq
	}
}
