package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// fakeEncoders starts encoders without a process, for the tests that run
// on virtual time (testing/synctest): each copies its input into its file,
// says it has opened its output at its first input (as ffmpeg's "Output
// #0" line), finishes when its input is closed, and dies as ffmpeg would
// when lifetime says so or on a signal. Only what an encoder does over
// time is faked; what ffmpeg makes of the frames is tested with ffmpeg.
type fakeEncoders struct {
	// lifetime, if set, says how long encoder n (from 0, in start order)
	// runs before it dies with exit status 1; 0 = until its input closes.
	lifetime func(n int) time.Duration
	// refuse, if set, makes start n fail as if ffmpeg could not be run.
	refuse func(n int) bool
	// readDelay is how long an encoder works on each read of its input:
	// with more than a frame period, it is slower than the camera.
	readDelay time.Duration
	// hang makes an encoder never finish by itself once its input is
	// closed: only a signal ends it; deaf makes it ignore SIGINT too.
	hang, deaf bool
	// backlog is how long an encoder goes on working once its input is
	// closed (frames it still has to encode), writing to its file every
	// 250 ms, before it finishes the file.
	backlog time.Duration

	mu        sync.Mutex
	started   []*fakeEncoder
	starts    int         // attempts, including refused ones
	startedAt []time.Time // when each attempt was made
}

// fakeEncoder is one started encoder and what happened to it.
type fakeEncoder struct {
	path     string
	launched time.Time
	enc      *encoder

	mu      sync.Mutex
	bytes   int64
	died    time.Time // zero unless it died
	ended   time.Time // when it exited, however
	signals []string  // the signals it got, and when (since its launch)
}

var errFakeDied = errors.New("exit status 1")

func (fe *fakeEncoders) start(path string, _ []string) (*encoder, error) {
	fe.mu.Lock()
	n := fe.starts
	fe.starts++
	fe.startedAt = append(fe.startedAt, time.Now())
	fe.mu.Unlock()
	if fe.refuse != nil && fe.refuse(n) {
		return nil, fmt.Errorf("run ffmpeg: %w", syscall.ENOENT)
	}
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	signals := make(chan syscall.Signal, 4)
	enc := &encoder{out: path, in: pw, tail: newTailWriter(), exited: make(chan struct{}), pid: -1, launched: time.Now(),
		signal: func(sig syscall.Signal) {
			select {
			case signals <- sig:
			default:
			}
		}}
	f := &fakeEncoder{path: path, launched: enc.launched, enc: enc}
	fe.mu.Lock()
	index := len(fe.started)
	fe.started = append(fe.started, f)
	fe.mu.Unlock()
	var life <-chan time.Time
	if fe.lifetime != nil {
		if d := fe.lifetime(index); d > 0 {
			life = time.After(d)
		}
	}
	copied := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for first := true; ; first = false {
			n, err := pr.Read(buf)
			if first && n > 0 {
				fmt.Fprintf(enc.tail, "Output #0, matroska, to '%s':\n", path)
			}
			if n > 0 {
				time.Sleep(fe.readDelay)
				_, _ = out.Write(buf[:n])
				f.mu.Lock()
				f.bytes += int64(n)
				f.mu.Unlock()
			}
			if err != nil {
				copied <- err
				return
			}
		}
	}()
	go func() {
		defer close(enc.exited)
		defer func() {
			f.mu.Lock()
			f.ended = time.Now()
			f.mu.Unlock()
		}()
		defer out.Close()
		done := copied
		for {
			select {
			case <-done: // input closed: the file is finished
				if fe.hang {
					done = nil // it hangs: only a signal ends it
					continue
				}
				for end := time.Now().Add(fe.backlog); time.Now().Before(end); {
					time.Sleep(250 * time.Millisecond)
					_, _ = out.Write([]byte{0})
				}
				return
			case <-life:
				fmt.Fprintln(enc.tail, "[fake @ 0x1] Error: the encoder died")
			case sig := <-signals:
				f.mu.Lock()
				f.signals = append(f.signals, fmt.Sprintf("%s at %v", sig, time.Since(enc.launched)))
				f.mu.Unlock()
				if sig == syscall.SIGINT && fe.deaf {
					continue
				}
				fmt.Fprintf(enc.tail, "Exiting normally, received signal %d.\n", sig)
			}
			break
		}
		f.mu.Lock()
		f.died = time.Now()
		f.mu.Unlock()
		pr.CloseWithError(syscall.EPIPE)
		if done != nil {
			<-copied
		}
		enc.exitErr = errFakeDied
	}()
	return enc, nil
}

// encoders returns the encoders started so far.
func (fe *fakeEncoders) encoders() []*fakeEncoder {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return append([]*fakeEncoder(nil), fe.started...)
}

// attempts returns when each start was asked for, refused ones included.
func (fe *fakeEncoders) attempts() []time.Time {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return append([]time.Time(nil), fe.startedAt...)
}

// endedAt is when f exited (zero while it runs).
func (f *fakeEncoder) endedAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

func (f *fakeEncoder) diedAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.died
}

func (f *fakeEncoder) written() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

// gotSignals returns the signals f got, with when.
func (f *fakeEncoder) gotSignals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.signals...)
}
