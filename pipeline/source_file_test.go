package pipeline

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/mjpeg"
)

// fixtureFrames splits an MJPEG file into its frames.
func fixtureFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := mjpeg.NewReader(bytes.NewReader(data), MaxFrameBytes)
	var frames [][]byte
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, f)
	}
}

// ffmpegMJPEG makes an MJPEG file of n testsrc2 frames with real ffmpeg.
func ffmpegMJPEG(t testing.TB, size string, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "testsrc2.mjpeg")
	out, err := exec.Command(srcNeedFFmpeg(t), "-hide_banner", "-nostdin", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=10",
		"-frames:v", strconv.Itoa(n), "-f", "mjpeg", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

func TestFileSourceReplaysInALoop(t *testing.T) {
	const fixture = "testdata/testsrc2_96x64.mjpeg"
	want := fixtureFrames(t, fixture)
	if len(want) != 5 {
		t.Fatalf("fixture has %d frames, want 5", len(want))
	}
	src, err := NewFileSource(fixture, SourceOptions{FPS: 200, Log: srcDiscardLog()})
	if err != nil {
		t.Fatal(err)
	}
	sink := newSrcSink()
	stop := runSource(t, src, sink)
	frames := sink.waitFrames(t, 12, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	formats, _, invalid := sink.snapshot()
	if len(formats) != 1 || formats[0] != (Format{Name: "mjpeg", Width: 96, Height: 64, FPS: 200}) || invalid != 0 {
		t.Fatalf("negotiated %v, %d invalid", formats, invalid)
	}
	for i, f := range frames {
		if !bytes.Equal(f.Data, want[i%len(want)]) {
			t.Fatalf("frame %d is not fixture frame %d", i, i%len(want))
		}
		if f.Seq != uint64(i) {
			t.Fatalf("frame %d has Seq %d", i, f.Seq)
		}
		if i > 0 && !f.Time.After(frames[i-1].Time) {
			t.Fatalf("frame %d: time does not increase", i)
		}
		decodeJPEG(t, f.Data)
	}
}

func TestFileSourceFFmpegFileWithInvalidData(t *testing.T) {
	path := ffmpegMJPEG(t, "320x240", 20)
	want := fixtureFrames(t, path)
	// Append a truncated frame and some junk: two invalid pieces per pass.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, want[0][:len(want[0])/2]...)
	data = append(data, want[1]...)
	data = append(data, "junk at the end"...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := NewFileSource(path, SourceOptions{FPS: 50, Log: srcDiscardLog()})
	if err != nil {
		t.Fatal(err)
	}
	sink := newSrcSink()
	stop := runSource(t, src, sink)
	frames := sink.waitFrames(t, 2*21+1, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	formats, _, invalid := sink.snapshot()
	if formats[0].Width != 320 || formats[0].Height != 240 {
		t.Fatalf("negotiated %v", formats[0])
	}
	if invalid < 4 {
		t.Errorf("%d invalid after two passes, want at least 4", invalid)
	}
	for i, f := range frames[:21] {
		if !bytes.Equal(f.Data, append(want, want[1])[i]) {
			t.Fatalf("frame %d differs from the file", i)
		}
	}
	if !bytes.Equal(frames[21].Data, want[0]) {
		t.Fatal("the second pass does not start with the first frame")
	}
	// 42 periods of 20 ms: paced, not as fast as possible.
	if span := frames[42].Time.Sub(frames[0].Time); span < 800*time.Millisecond {
		t.Errorf("42 frames at 50 fps took %v, want about 840ms", span)
	}
}

func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mjpeg")
	if err := os.WriteFile(junk, []byte("no jpeg in here \xff\xd8 but half of one"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mjpeg")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
	}{
		{filepath.Join(dir, "missing.mjpeg"), "file source: open " + filepath.Join(dir, "missing.mjpeg") + ": no such file or directory"},
		{junk, "file source " + junk + ": no valid JPEG frame in 34 bytes"},
		{empty, "file source " + empty + ": no valid JPEG frame in 0 bytes"},
	}
	for _, tt := range tests {
		_, err := NewFileSource(tt.path, SourceOptions{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("NewFileSource(%s) = %v, want %q", filepath.Base(tt.path), err, tt.want)
		}
	}
}
