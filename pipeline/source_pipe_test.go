package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startFFmpegToFIFO starts real ffmpeg writing n testsrc2 frames as MJPEG
// into the FIFO at path; realtime paces it at the source rate.
func startFFmpegToFIFO(t *testing.T, path string, n int, realtime bool) *exec.Cmd {
	t.Helper()
	args := []string{"-hide_banner", "-nostdin", "-v", "error"}
	if realtime {
		args = append(args, "-re")
	}
	args = append(args, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-frames:v", strconv.Itoa(n), "-f", "mjpeg", "-y", path)
	cmd := exec.Command(srcNeedFFmpeg(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // the test did not wait for it
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if stderr.Len() > 0 && t.Failed() {
			t.Logf("ffmpeg stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

func makeFIFO(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "camera.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitFIFOOpen waits until this process holds the FIFO open, that is until
// Run has opened it and is waiting for a writer.
func waitFIFOOpen(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
				return
			}
		}
		time.Sleep(5 * time.Millisecond) // polling /proc: there is no event to wait on
	}
	t.Fatalf("%s not opened within 5s", path)
}

func TestPipeSourceFIFOFedByFFmpeg(t *testing.T) {
	srcNeedFFmpeg(t)
	path := makeFIFO(t)
	src, err := NewPipeSource(path, SourceOptions{FPS: 25, Log: srcDiscardLog()})
	if err != nil {
		t.Fatal(err)
	}
	// Two writers one after the other: Run ends with the first (EOF) and a
	// second Run takes the second, with Seq counting on.
	const perWriter = 40
	var all []*Frame
	for round := range 2 {
		sink := newSrcSink()
		done := make(chan error, 1)
		go func() { done <- src.Run(context.Background(), sink) }()
		waitFIFOOpen(t, path)
		cmd := startFFmpegToFIFO(t, path, perWriter, false)
		var runErr error
		select {
		case runErr = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not end when ffmpeg closed the FIFO")
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
		if !errors.Is(runErr, io.EOF) || !strings.Contains(runErr.Error(), path) {
			t.Fatalf("round %d: Run = %v, want an EOF error naming the FIFO", round, runErr)
		}
		formats, frames, invalid := sink.snapshot()
		if len(frames) != perWriter || invalid != 0 {
			t.Fatalf("round %d: %d frames, %d invalid; want %d, 0", round, len(frames), invalid, perWriter)
		}
		if len(formats) != 1 || formats[0] != (Format{Name: "mjpeg", Width: 320, Height: 240, FPS: 25}) {
			t.Fatalf("round %d: negotiated %v", round, formats)
		}
		all = append(all, frames...)
	}
	for i, f := range all {
		if f.Seq != uint64(i) {
			t.Fatalf("frame %d has Seq %d", i, f.Seq)
		}
		if img := decodeJPEG(t, f.Data); img.Bounds().Dx() != 320 {
			t.Fatalf("frame %d decodes to %v", i, img.Bounds())
		}
		if i > 0 && f.Time.Before(all[i-1].Time) {
			t.Fatalf("frame %d: time goes back", i)
		}
	}
}

func TestPipeSourceCancel(t *testing.T) {
	t.Run("waiting for a writer", func(t *testing.T) {
		path := makeFIFO(t)
		src, err := NewPipeSource(path, SourceOptions{Log: srcDiscardLog()})
		if err != nil {
			t.Fatal(err)
		}
		stop := runSource(t, src, newSrcSink())
		waitFIFOOpen(t, path)
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
	t.Run("while ffmpeg streams", func(t *testing.T) {
		srcNeedFFmpeg(t)
		path := makeFIFO(t)
		src, err := NewPipeSource(path, SourceOptions{Log: srcDiscardLog()})
		if err != nil {
			t.Fatal(err)
		}
		sink := newSrcSink()
		stop := runSource(t, src, sink)
		waitFIFOOpen(t, path)
		startFFmpegToFIFO(t, path, 1000, true)
		sink.waitFrames(t, 3, 10*time.Second)
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
	t.Run("reader without deadline", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		stop := runSource(t, NewReaderSource("test", pr, SourceOptions{}), newSrcSink())
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
}

func TestPipeSourceNotAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := "pipe source: " + path + " is not a FIFO (create one with mkfifo)"
	if _, err := NewPipeSource(path, SourceOptions{}); err == nil || err.Error() != want {
		t.Fatalf("NewPipeSource = %v, want %q", err, want)
	}
	missing := filepath.Join(t.TempDir(), "later.fifo")
	src, err := NewPipeSource(missing, SourceOptions{})
	if err != nil {
		t.Fatalf("a FIFO that does not exist yet: %v", err)
	}
	if err := src.Run(context.Background(), newSrcSink()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Run = %v, want not-exist", err)
	}
}

func TestReaderSourceSplitsAndCounts(t *testing.T) {
	frames := fixtureFrames(t, "testdata/testsrc2_96x64.mjpeg")
	var stream bytes.Buffer
	stream.WriteString("junk before")
	for i, f := range frames {
		stream.Write(f)
		if i == 1 {
			stream.Write(f[:len(f)/3]) // a frame cut short
		}
	}
	// Write in odd-sized pieces through a pipe, as a process would.
	pr, pw := io.Pipe()
	go func() {
		b := stream.Bytes()
		for len(b) > 0 {
			n := min(len(b), 777)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		pw.Close()
	}()
	sink := newSrcSink()
	err := NewReaderSource("camera-pipe", pr, SourceOptions{FPS: 15}).Run(context.Background(), sink)
	if err == nil || err.Error() != "camera-pipe closed: EOF" {
		t.Fatalf("Run = %v, want %q", err, "camera-pipe closed: EOF")
	}
	formats, got, invalid := sink.snapshot()
	if len(got) != len(frames) || invalid != 2 {
		t.Fatalf("%d frames, %d invalid; want %d, 2", len(got), invalid, len(frames))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, frames[i]) || got[i].Seq != uint64(i) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if formats[0] != (Format{Name: "mjpeg", Width: 96, Height: 64, FPS: 15}) {
		t.Fatalf("negotiated %v", formats[0])
	}
}

// TestPipeSourceStdin runs this test binary as a child that reads its
// standard input with NewPipeSource(""): fd 0 must not be touched in the
// test process itself.
func TestPipeSourceStdin(t *testing.T) {
	if os.Getenv("CAMREC_STDIN_CHILD") != "" {
		stdinChild()
		return
	}
	frames := fixtureFrames(t, "testdata/testsrc2_96x64.mjpeg")
	tests := []struct {
		name      string
		stopAfter string // frames after which the child cancels; "" = never
		closeIn   bool
		want      string
	}{
		{"EOF ends the source", "", true, "frames=5 invalid=0 err=stdin closed: EOF"},
		{"cancel unblocks a read", "5", false, "frames=5 invalid=0 err=<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPipeSourceStdin$")
			cmd.Env = append(os.Environ(), "CAMREC_STDIN_CHILD=1", "CAMREC_STDIN_STOP_AFTER="+tt.stopAfter)
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for _, f := range frames {
				if _, err := in.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if tt.closeIn {
				in.Close()
			}
			err = cmd.Wait()
			in.Close()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "RESULT "+tt.want+"\n") {
				t.Fatalf("child said:\n%s\nwant RESULT %s", out.String(), tt.want)
			}
		})
	}
}

func stdinChild() {
	src, err := NewPipeSource("", SourceOptions{})
	if err != nil {
		fmt.Println("RESULT", err)
		return
	}
	stopAfter, _ := strconv.Atoi(os.Getenv("CAMREC_STDIN_STOP_AFTER"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := newSrcSink()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	for {
		select {
		case err := <-done:
			_, frames, invalid := sink.snapshot()
			fmt.Printf("RESULT frames=%d invalid=%d err=%v\n", len(frames), invalid, err)
			return
		case <-sink.notified:
			if _, frames, _ := sink.snapshot(); stopAfter > 0 && len(frames) >= stopAfter {
				cancel()
			}
		}
	}
}
