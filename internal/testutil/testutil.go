// Package testutil holds the few helpers that camrec's end-to-end tests on
// the host (test/e2e) and in the VM (test/vm/vmtest) share: finding the
// external programs a test needs, reading a video file with ffprobe, a
// buffer a child process writes while the test reads it, and Eventually,
// the one way tests wait for a condition.
package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// RequireTool returns the path of program name. When it is missing the
// test fails if CI is set (CI must have it) and is skipped otherwise.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is required in CI: %v", name, err)
		}
		tb.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// Video is what ffprobe says of a file's first video stream.
type Video struct {
	Codec    string
	PixFmt   string
	Width    int
	Height   int
	Duration float64 // seconds, of the container
	Frames   int     // decoded frames (counted)
	// Errors is what ffprobe reported about the file on stderr (a file cut
	// short by a crash or a full disk has some), "" for a clean file.
	Errors string
}

// Probe reads file with ffprobe (the program at path ffprobe), counting
// its frames. A file ffprobe cannot read at all fails the test.
func Probe(tb testing.TB, ffprobe, file string) Video {
	tb.Helper()
	v, err := TryProbe(ffprobe, file)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// TryProbe is Probe for a file that may not be readable yet (one being
// written): it returns the error instead of failing the test.
func TryProbe(ffprobe, file string) (Video, error) {
	cmd := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames:format=duration",
		"-of", "json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Video{}, fmt.Errorf("ffprobe %s: %v\n%s", file, err, stderr.Bytes())
	}
	var r struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			PixFmt       string `json:"pix_fmt"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		return Video{}, fmt.Errorf("ffprobe %s: %v in %s", file, err, out)
	}
	s := r.Streams[0]
	v := Video{Codec: s.CodecName, PixFmt: s.PixFmt, Width: s.Width, Height: s.Height, Errors: stderr.String()}
	v.Duration, _ = strconv.ParseFloat(r.Format.Duration, 64)
	v.Frames, _ = strconv.Atoi(s.NbReadFrames)
	return v, nil
}

// PacketTimes returns the presentation time (s) of each video packet of
// file, in file order.
func PacketTimes(tb testing.TB, ffprobe, file string) []float64 {
	tb.Helper()
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
		"-of", "json", file).Output()
	if err != nil {
		tb.Fatalf("ffprobe packets of %s: %v", file, err)
	}
	var doc struct {
		Packets []struct {
			PTS string `json:"pts_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		tb.Fatalf("ffprobe packets of %s: %v", file, err)
	}
	pts := make([]float64, len(doc.Packets))
	for i, p := range doc.Packets {
		pts[i], _ = strconv.ParseFloat(p.PTS, 64)
	}
	return pts
}

// SyncBuffer collects a child process's output while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level logger writing to the test's output.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WriteFile writes content to path, creating its directory; a failure
// fails the test.
func WriteFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
