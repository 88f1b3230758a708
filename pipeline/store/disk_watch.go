package store

import (
	"context"
	"log/slog"
	"time"
)

// DiskWatch tells when the record dir's disk runs low: once when its free
// space falls below the threshold, and again only after it has recovered
// (above the threshold plus a margin, so that a disk hovering at the line
// does not raise a flood).
type DiskWatch struct {
	Dir string
	// Bytes and Percent set the threshold (the larger wins); both 0
	// turns the watch off.
	Bytes   int64
	Percent float64
	Every   time.Duration
	// Free is DiskFree in production.
	Free func(dir string) (free, total int64, err error)
	// Low is called when the disk runs low, with the bytes free.
	Low func(free int64)
}

// diskLowMargin is how far above the threshold the free space must climb
// before the disk counts as no longer low.
const diskLowMargin = 1.1

// Run looks at the disk every w.Every until ctx is done.
func (w DiskWatch) Run(ctx context.Context, log *slog.Logger) error {
	if w.Bytes <= 0 && w.Percent <= 0 {
		return nil
	}
	tick := time.NewTicker(w.Every)
	defer tick.Stop()
	low := false
	for {
		free, total, err := w.Free(w.Dir)
		if err == nil {
			limit := max(w.Bytes, int64(w.Percent/100*float64(total)))
			switch {
			case !low && free < limit:
				low = true
				log.Warn("disk low", "record_dir", w.Dir, "free_bytes", free, "threshold_bytes", limit)
				w.Low(free)
			case low && float64(free) > diskLowMargin*float64(limit):
				low = false
				log.Info("disk no longer low", "record_dir", w.Dir, "free_bytes", free)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
