// This file holds what a camera reports: CameraStatus, and the watch that
// measures its frame rate and notices a stall.

package pipeline

import (
	"context"
	"time"

	"github.com/camrec/camrec/internal/defs"
)

// CameraStatus is what a camera reports (the API shows it in CameraBody).
type CameraStatus struct {
	Name          string
	Device        string
	State         string
	Error         string
	Format        string
	Width         int
	Height        int
	FPSTarget     float64
	FPSMeasured   float64
	Frames        uint64
	FramesInvalid uint64
	// FramesCorrupt counts frames the driver flagged V4L2_BUF_FLAG_ERROR
	// (dropped).
	FramesCorrupt uint64
	// FramesEncoded counts JPEGs encoded in camrec for preview and
	// snapshots of a raw camera (0 for MJPEG cameras).
	FramesEncoded uint64
	// Restarts counts streams that failed after delivering frames (EIO,
	// unplug) and were reopened.
	Restarts uint64
	Clients  int
	// ClientDrops counts the frames preview clients lost to a full queue
	// (slow viewers), since camrec started.
	ClientDrops uint64
}

// watch measures the frame rate once a second and detects stalls.
func (c *Camera) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.tick(now)
		}
	}
}

func (c *Camera) tick(now time.Time) {
	n := c.frames.Load()
	last := c.lastAt.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.winStart.IsZero() {
		if d := now.Sub(c.winStart).Seconds(); d > 0 {
			c.fpsMeas = float64(n-c.winFrames) / d
		}
	}
	c.winStart, c.winFrames = now, n
	if c.state == StateStreaming && last != 0 && now.Sub(time.Unix(0, last)) > c.cfg.StallAfter {
		c.setStateLocked(StateStalled, "no frame for "+now.Sub(time.Unix(0, last)).Round(time.Second).String())
	}
}

// Status returns the camera's current status.
func (c *Camera) Status() CameraStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CameraStatus{
		Name:          c.cfg.Name,
		Device:        c.cfg.Device,
		State:         c.state,
		Error:         c.err,
		Format:        c.format.Name,
		Width:         c.format.Width,
		Height:        c.format.Height,
		FPSTarget:     c.format.FPS,
		FPSMeasured:   defs.RoundTo(c.fpsMeas, 2),
		Frames:        c.frames.Load(),
		FramesInvalid: c.inval.Load(),
		FramesCorrupt: c.corrupt.Load(),
		FramesEncoded: c.encoded.Load(),
		Restarts:      c.restart.Load(),
		Clients:       c.hub.Clients(),
		ClientDrops:   c.hub.ClientDrops(),
	}
}
