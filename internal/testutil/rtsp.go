package testutil

import (
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/flv"
	"github.com/camrec/camrec/internal/h264"
)

// StreamReader reads an H.264 stream from a media server with ffmpeg
// (copied into FLV, whose tags end where frames end, so that a frame is
// counted the moment it is complete; not decoded) and counts what arrives: frames,
// keyframes, the size in the SPS, and the capture-time stamps found by the
// stamp function given to ReadStream (restream.CaptureTime).
type StreamReader struct {
	mu        sync.Mutex
	frames    int
	keys      int
	stamps    []time.Time
	latencies []time.Duration
	w, h      int
	done      chan struct{}
	cmd       *exec.Cmd
}

// ReadStream starts reading url (rtsp://, rtmp://) with the ffmpeg at ff
// until the test ends or Stop.
func ReadStream(tb testing.TB, ff, url string, stamp func(nal []byte) (time.Time, bool)) *StreamReader {
	tb.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-fflags", "nobuffer"}
	if len(url) > 7 && url[:7] == "rtsp://" {
		args = append(args, "-rtsp_transport", "tcp")
	}
	cmd := exec.Command(ff, append(args, "-i", url, "-c", "copy", "-flush_packets", "1", "-f", "flv", "pipe:1")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	r := &StreamReader{done: make(chan struct{}), cmd: cmd}
	go func() {
		defer close(r.done)
		rd := flv.NewReader(out, 8<<20)
		for {
			u, err := rd.Next()
			if err != nil {
				_, _ = io.Copy(io.Discard, out)
				return
			}
			now := time.Now()
			r.mu.Lock()
			r.frames++
			if u.Key {
				r.keys++
				if in := h264.Inspect(u.Data); in.SPS != nil {
					if sps, err := h264.ParseSPS(in.SPS); err == nil {
						r.w, r.h = sps.Width, sps.Height
					}
				}
			}
			it := h264.Iter(u.Data)
			for nal, ok := it.Next(); ok; nal, ok = it.Next() {
				if at, ok := stamp(nal); ok {
					r.stamps = append(r.stamps, at)
					r.latencies = append(r.latencies, now.Sub(at))
				}
			}
			r.mu.Unlock()
		}
	}()
	tb.Cleanup(r.Stop)
	return r
}

// Stop ends the reading (again: nothing).
func (r *StreamReader) Stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
	_ = r.cmd.Wait()
}

// Counts returns the frames and keyframes read so far, and how many
// carried a stamp.
func (r *StreamReader) Counts() (frames, keys, stamped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames, r.keys, len(r.stamps)
}

// Size is the picture size of the last SPS read.
func (r *StreamReader) Size() (w, h int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w, r.h
}

// Stamps returns the capture times read, in order, and for each how long
// after it the frame arrived.
func (r *StreamReader) Stamps() ([]time.Time, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.stamps...), append([]time.Duration(nil), r.latencies...)
}

// FreePort returns a free loopback TCP port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return freePorts(tb, 1)[0]
}
