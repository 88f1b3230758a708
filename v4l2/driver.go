package v4l2

import (
	"errors"
	"math"
	"sort"
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
// known it polls it directly with a millisecond timeout and dequeues buffers
// itself (keeping their flags and timestamps, see queue.go); otherwise it
// falls back to the library's WaitForFrame, whose timeout is in whole
// seconds, and GetFrame.
type webcamDriver struct {
	cam  *webcam.Webcam
	fd   int      // -1 when unknown
	maps [][]byte // own mappings of the driver's buffers; nil: use GetFrame
}

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
	return nil
}

var _ driver = (*webcamDriver)(nil)

func (d *webcamDriver) wait(timeout time.Duration) error {
	if d.fd < 0 {
		secs := max(1, int(math.Ceil(timeout.Seconds())))
		return d.cam.WaitForFrame(uint32(secs))
	}
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	switch {
	case errors.Is(err, unix.EINTR):
		return new(webcam.Timeout) // the caller checks ctx and waits again
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

func (d *webcamDriver) getFrame() (dequeued, error) {
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
