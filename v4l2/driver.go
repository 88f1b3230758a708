package v4l2

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/blackjack/webcam"
	"golang.org/x/sys/unix"
)

// driver is what the capture loop needs from an open, streaming device.
// *webcamDriver implements it over blackjack/webcam; tests use a fake.
type driver interface {
	// wait blocks up to timeout for a frame to be ready. It returns nil
	// when one may be dequeued (or the device reports an error, which the
	// next getFrame returns) and a *webcam.Timeout when none came.
	wait(timeout time.Duration) error
	// getFrame dequeues a buffer; its data is valid until releaseFrame.
	getFrame() (dequeued, error)
	releaseFrame(index uint32) error
	// close stops streaming, unmaps the buffers and closes the device.
	close() error
}

// webcamDriver adapts *webcam.Webcam. When the device's file descriptor is
// known it dequeues buffers itself (keeping their flags and timestamps, see
// queue.go), waiting for them in Go's network poller (see waitWatched);
// where that does not work it polls the descriptor with a millisecond
// timeout. Without the descriptor it falls back to the library's
// WaitForFrame, whose timeout is in whole seconds, and GetFrame.
type webcamDriver struct {
	cam  *webcam.Webcam
	fd   int      // -1 when unknown
	maps [][]byte // own mappings of the driver's buffers; nil: use GetFrame

	// try dequeues one buffer without blocking (EAGAIN: none is done);
	// nil: wait polls and getFrame dequeues. It is given the descriptor
	// to use (mapOwn sets a VIDIOC_DQBUF on the mapped queue; tests use
	// pipes).
	try func(fd int) (dequeued, error)
	// watched is a duplicate of fd registered with the runtime's poller
	// (epoll): waiting parks the goroutine until the driver signals a
	// buffer, instead of holding a thread in poll(2), which kept the
	// scheduler's monitor awake and moved the capture goroutine between
	// threads at every frame (make bench-peers measured the difference).
	watched *os.File
	raw     syscall.RawConn
	read    func(fd uintptr) bool // d.dequeueReady; tries counts its calls in a wait
	tries   int
	// timedOut: the last wait ended at its deadline. missed counts, in a
	// row, registrations that let a done buffer wait for the deadline;
	// at maxMissed the driver polls instead.
	timedOut bool
	missed   int
	// ready is the buffer (or error) wait dequeued, for getFrame.
	ready    dequeued
	readyErr error
	hasReady bool
}

// maxMissed is how many registrations with the poller in a row may miss a
// buffer before the driver gives up on the poller and polls.
const maxMissed = 3

// mapOwn maps the streaming queue's buffers for dequeue. On failure the
// driver keeps using the library's GetFrame (no flags, no timestamps).
func (d *webcamDriver) mapOwn() error {
	if d.fd < 0 {
		return errors.New("device descriptor unknown")
	}
	maps, err := mapBuffers(d.fd)
	if err != nil {
		return err
	}
	d.maps = maps
	d.try = func(fd int) (dequeued, error) { return dequeue(fd, d.maps) }
	return nil
}

// watch registers a duplicate of the (non-blocking) descriptor with the
// runtime's poller. It fails for a descriptor the poller refuses (a driver
// without poll support).
func (d *webcamDriver) watch() error {
	dup, err := unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.SetNonblock(dup, true); err != nil { // shared with fd: the library opened it so
		unix.Close(dup)
		return err
	}
	f := os.NewFile(uintptr(dup), "camera")
	// Deadlines work only on a descriptor the poller took.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return err
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	d.watched, d.raw = f, raw
	if d.read == nil {
		d.read = d.dequeueReady
	}
	return nil
}

func (d *webcamDriver) unwatch() {
	if d.watched != nil {
		d.watched.Close() // the duplicate only: the library closes fd
		d.watched, d.raw = nil, nil
	}
}

var _ driver = (*webcamDriver)(nil)

func (d *webcamDriver) wait(timeout time.Duration) error {
	if d.try != nil && d.missed < maxMissed {
		if err := d.waitWatched(timeout); !errors.Is(err, errNotWatched) {
			return err
		}
		d.missed = maxMissed // refused: poll from now on
	}
	if d.fd < 0 {
		secs := max(1, int(math.Ceil(timeout.Seconds())))
		return d.cam.WaitForFrame(uint32(secs))
	}
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	// A signal (the Go runtime's preemption, SIGURG, on a busy machine)
	// interrupts poll: wait out the rest of the timeout.
	for errors.Is(err, unix.EINTR) {
		left := time.Until(deadline)
		if left <= 0 {
			return new(webcam.Timeout) // the caller checks ctx and waits again
		}
		n, err = unix.Poll(fds, int(left.Milliseconds()))
	}
	switch {
	case err != nil:
		return err
	case n == 0:
		return new(webcam.Timeout)
	case fds[0].Revents&unix.POLLNVAL != 0:
		return unix.EBADF
	}
	// POLLIN, or POLLERR (not streaming, unplugged): DQBUF tells which.
	return nil
}

// errNotWatched: the poller refused the descriptor.
var errNotWatched = errors.New("camera descriptor not accepted by the runtime poller")

// waitWatched dequeues a buffer into ready, parking in the runtime's
// poller while the driver has none, for at most timeout.
//
// The descriptor is registered only after a dequeue found no buffer done:
// some drivers add the poller to their wait queue only when nothing can be
// read (v4l2loopback 0.12), so a registration made while a buffer is done
// would never be woken (4 fps instead of 30 in make bench-peers, every
// frame waiting for the deadline). A buffer found done at once after a
// deadline means the registration missed it (or raced with it): it is
// made again; maxMissed such misses in a row and wait polls instead.
func (d *webcamDriver) waitWatched(timeout time.Duration) error {
	if d.hasReady {
		return nil
	}
	if d.watched == nil {
		d.ready, d.readyErr = d.try(d.fd)
		if !errors.Is(d.readyErr, unix.EAGAIN) {
			d.hasReady = true
			return nil
		}
		if err := d.watch(); err != nil {
			return fmt.Errorf("%w: %w", errNotWatched, err)
		}
	}
	if err := d.watched.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	prevTimedOut := d.timedOut
	d.tries = 0
	err := d.raw.Read(d.read) // nil once read returned true
	d.timedOut = errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case d.timedOut:
		return new(webcam.Timeout)
	case err != nil:
		return err
	case d.tries == 1 && prevTimedOut:
		d.missed++ // done at once after a deadline: the poller missed it
		d.unwatch()
	case d.tries > 1:
		d.missed = 0 // the poller woke us: the registration works
	}
	d.hasReady = true
	return nil
}

// dequeueReady is the raw read of waitWatched (bound once, in watch, to
// d.read: a closure per frame cost allocations): one try at a dequeue
// into ready, done unless the driver has no buffer (EAGAIN).
func (d *webcamDriver) dequeueReady(fd uintptr) bool {
	d.tries++
	d.ready, d.readyErr = d.try(int(fd))
	return !errors.Is(d.readyErr, unix.EAGAIN)
}

func (d *webcamDriver) getFrame() (dequeued, error) {
	if d.hasReady {
		d.hasReady = false
		return d.ready, d.readyErr
	}
	if d.maps != nil {
		return dequeue(d.fd, d.maps)
	}
	data, index, err := d.cam.GetFrame()
	return dequeued{data: data, index: index}, err
}

func (d *webcamDriver) releaseFrame(index uint32) error { return d.cam.ReleaseFrame(index) }

func (d *webcamDriver) close() error {
	// Own mappings first: a mapping left behind keeps the queue allocated.
	unmapBuffers(d.maps)
	d.maps = nil
	d.unwatch()
	return d.cam.Close()
}

// sizesOf converts the library's frame sizes, dropping duplicates, largest
// first.
func sizesOf(in []webcam.FrameSize) []SizeRange {
	seen := make(map[SizeRange]bool, len(in))
	out := make([]SizeRange, 0, len(in))
	for _, s := range in {
		r := SizeRange{
			MinWidth: int(s.MinWidth), MaxWidth: int(s.MaxWidth), StepWidth: int(s.StepWidth),
			MinHeight: int(s.MinHeight), MaxHeight: int(s.MaxHeight), StepHeight: int(s.StepHeight),
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ai, aj := out[i].MaxWidth*out[i].MaxHeight, out[j].MaxWidth*out[j].MaxHeight
		if ai != aj {
			return ai > aj
		}
		return out[i].MaxWidth > out[j].MaxWidth
	})
	return out
}

// ratesOf converts the library's frame intervals (seconds per frame) to
// rates (frames per second), dropping invalid ones and duplicates, highest
// first.
func ratesOf(in []webcam.FrameRate) []RateRange {
	seen := make(map[RateRange]bool, len(in))
	out := make([]RateRange, 0, len(in))
	for _, f := range in {
		var r RateRange
		if f.StepNumerator == 0 && f.StepDenominator == 0 {
			if f.MinNumerator == 0 || f.MinDenominator == 0 {
				continue
			}
			r = DiscreteRate(float64(f.MinDenominator) / float64(f.MinNumerator))
		} else {
			// Shortest interval = highest rate.
			if f.MinNumerator == 0 || f.MaxNumerator == 0 || f.MinDenominator == 0 || f.MaxDenominator == 0 {
				continue
			}
			r = RateRange{
				Max: float64(f.MinDenominator) / float64(f.MinNumerator),
				Min: float64(f.MaxDenominator) / float64(f.MaxNumerator),
			}
			if f.StepDenominator != 0 {
				r.StepInterval = float64(f.StepNumerator) / float64(f.StepDenominator)
			}
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Max > out[j].Max })
	return out
}
