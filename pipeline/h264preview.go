package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/mjpeg"
)

// Timing of the H.264 preview decoder.
const (
	// snapshotWatch keeps the decoder running this long after a snapshot
	// request, so that a page polling snapshots does not start an ffmpeg
	// for each.
	snapshotWatch = 5 * time.Second
	// decoderIdle: the decoder is stopped when nobody has watched for this
	// long (no preview client, no recent snapshot request).
	decoderIdle = 2 * time.Second
	// decoderQueue is how many access units wait for the decoder; when it
	// is full the decoder skips to the next keyframe (a lost unit breaks
	// the pictures that refer to it).
	decoderQueue = 64
)

// h264Preview turns an H.264 camera's access units into JPEG previews
// while someone watches: an ffmpeg (H.264 on stdin, MJPEG at PreviewFPS on
// stdout) started at a keyframe when the first preview client subscribes
// or a snapshot is asked for, stopped decoderIdle after the last one, and
// restarted with Backoff when it dies. The capture goroutine only offers
// units (never blocks); run, owned by Camera.Run, does the rest.
type h264Preview struct {
	ffmpeg  string
	fps     float64 // camera's nominal rate, for ffmpeg's input
	preview float64 // output rate
	quality int     // JPEG quality 1-100
	hub     *Hub    // JPEG previews go here
	log     *slog.Logger
	// encoded counts the JPEGs published.
	encoded *atomic.Uint64
	// idle and snapWatch: decoderIdle and snapshotWatch (tests shorten them).
	idle, snapWatch time.Duration

	in        chan *Frame
	needKey   atomic.Bool  // the capture goroutine skips units until a keyframe
	snapUntil atomic.Int64 // unix nanos until which a snapshot asked for previews
	running   atomic.Int32 // decoder processes alive (for tests and status)
	starts    atomic.Uint64
}

func newH264Preview(cfg CameraConfig, hub *Hub, encoded *atomic.Uint64, log *slog.Logger) *h264Preview {
	p := &h264Preview{ffmpeg: cfg.FFmpeg, fps: cfg.FPS, preview: cfg.PreviewFPS, quality: cfg.JPEGQuality,
		hub: hub, log: log, encoded: encoded, in: make(chan *Frame, decoderQueue),
		idle: decoderIdle, snapWatch: snapshotWatch}
	if p.ffmpeg == "" {
		p.ffmpeg = "ffmpeg"
	}
	if p.fps <= 0 {
		p.fps = DefaultFPS
	}
	p.needKey.Store(true)
	return p
}

// wanted reports whether previews are wanted now.
func (p *h264Preview) wanted(now time.Time) bool {
	return p.hub.Subscribers() > 0 || now.UnixNano() < p.snapUntil.Load()
}

// offer hands f to the decoder if previews are wanted; it never blocks.
// Called by the capture goroutine.
func (p *h264Preview) offer(f *Frame) {
	if !p.wanted(f.Time) {
		p.needKey.Store(true)
		return
	}
	if p.needKey.Load() {
		if !f.Key {
			return
		}
		p.needKey.Store(false)
	}
	select {
	case p.in <- f:
	default:
		p.needKey.Store(true) // the decoder is behind: go on at the next keyframe
	}
}

// watchSnapshot asks for previews for the next d, at least.
func (p *h264Preview) watchSnapshot(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		old := p.snapUntil.Load()
		if old >= until || p.snapUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// run starts a decoder for the first unit offered, feeds it, and stops it
// when nobody has watched for decoderIdle; until ctx is done.
func (p *h264Preview) run(ctx context.Context) {
	var wait defs.Backoff
	wait.First, wait.Max = 500*time.Millisecond, 10*time.Second
	for {
		var first *Frame
		select {
		case <-ctx.Done():
			return
		case first = <-p.in:
		}
		if !first.Key {
			continue // the tail of a decoder that was stopped
		}
		started := time.Now()
		err := p.decode(ctx, first)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			wait.Reset()
			continue
		}
		if time.Since(started) > backoffReset {
			wait.Reset()
		}
		d := wait.Next()
		p.log.Warn("preview decoder failed, restarting", "error", err.Error(), "in_s", d.Seconds())
		p.needKey.Store(true)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		p.drain()
	}
}

// drain empties the queue (units offered while the decoder was down).
func (p *h264Preview) drain() {
	for {
		select {
		case <-p.in:
		default:
			return
		}
	}
}

// decoderArgs is the decoder's command line (without argv[0]).
func (p *h264Preview) decoderArgs() []string {
	// mjpeg's qscale 2 (best) .. 31: quality 80 → ~5.
	q := max(2, min(31, 2+(100-p.quality)*29/97))
	return []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
		// Decode from the first unit on: no probing (the default 5 MB is
		// seconds of video), no frame threads (each adds a frame of delay).
		"-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer",
		"-threads", "1", "-flags", "low_delay",
		"-f", "h264", "-framerate", strconv.FormatFloat(p.fps, 'f', -1, 64), "-i", "pipe:0",
		"-vf", "fps=" + strconv.FormatFloat(p.preview, 'f', -1, 64),
		"-c:v", "mjpeg", "-q:v", strconv.Itoa(q), "-pix_fmt", "yuvj420p", "-f", "mjpeg", "pipe:1"}
}

// decode runs one decoder from the keyframe first until nobody watches
// (nil), ctx ends (nil) or ffmpeg fails (its error).
func (p *h264Preview) decode(ctx context.Context, first *Frame) error {
	cmd := exec.Command(p.ffmpeg, p.decoderArgs()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	p.running.Add(1)
	defer p.running.Add(-1)
	p.starts.Add(1)
	p.log.Info("preview decoder started", "pid", cmd.Process.Pid)

	// The reader publishes the JPEGs; its exit is awaited below.
	var wg sync.WaitGroup
	var last atomic.Pointer[Frame] // the newest unit written, for the JPEGs' times
	last.Store(first)
	wg.Go(func() { p.readJPEGs(stdout, &last) })

	idle := time.NewTicker(250 * time.Millisecond)
	defer idle.Stop()
	lastWanted := time.Now()
	var werr error
	f := first
loop:
	for {
		if f != nil {
			if _, err := stdin.Write(f.Raw); err != nil {
				werr = fmt.Errorf("write to ffmpeg: %w", err)
				break
			}
			last.Store(f)
			f = nil
		}
		select {
		case <-ctx.Done():
			break loop
		case f = <-p.in:
		case now := <-idle.C:
			if p.wanted(now) {
				lastWanted = now
			} else if now.Sub(lastWanted) >= p.idle {
				break loop
			}
		}
	}
	stdin.Close() // ffmpeg drains and exits
	done := make(chan error, 1)
	go func() {
		wg.Wait() // stdout at EOF before Wait closes it
		done <- cmd.Wait()
	}()
	var exitErr error
	select {
	case exitErr = <-done:
	case <-time.After(2 * time.Second):
		_ = cmd.Process.Kill()
		exitErr = <-done
	}
	p.log.Info("preview decoder stopped", "pid", cmd.Process.Pid)
	switch {
	case werr != nil:
		return fmt.Errorf("%w (%s)", werr, stderr.String())
	case exitErr != nil && ctx.Err() == nil:
		return fmt.Errorf("ffmpeg: %w (%s)", exitErr, stderr.String())
	}
	return nil
}

// readJPEGs publishes the decoder's JPEGs until its stdout ends.
func (p *h264Preview) readJPEGs(r io.Reader, last *atomic.Pointer[Frame]) {
	rd := mjpeg.NewReader(r, MaxFrameBytes)
	for {
		data, err := rd.Next()
		if errors.Is(err, mjpeg.ErrSkipped) {
			continue
		}
		if err != nil {
			_, _ = io.Copy(io.Discard, r)
			return
		}
		src := last.Load()
		p.encoded.Add(1)
		p.hub.Publish(&Frame{Data: data, Seq: src.Seq, Time: src.Time})
	}
}

// tailBuffer keeps the last 2 KB written to it (ffmpeg's stderr).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
