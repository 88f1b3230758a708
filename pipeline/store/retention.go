package store

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Retention says which finished recordings of a camera may be deleted to make
// room. Zero fields are off. The oldest complete (or failed, interrupted)
// recordings go first; a recording in progress or being remuxed never does.
type Retention struct {
	// Keep deletes recordings that ended more than Keep ago.
	Keep time.Duration
	// MaxDisk bounds the bytes of all the camera's recordings.
	MaxDisk int64
	// MinFreeBytes and MinFreePercent keep that much of the record dir's
	// filesystem free (either may be set, or both: both then hold).
	MinFreeBytes   int64
	MinFreePercent float64
	// HoldForUpload keeps every recording not yet uploaded (upload is
	// configured for the camera): retention never deletes the only copy of
	// a recording waiting for its upload.
	HoldForUpload bool
	// Interval is how often the rules are checked besides start-up and the
	// end of each file. Default 1 minute.
	Interval time.Duration
}

const DefaultRetentionInterval = time.Minute

// Enabled reports whether any rule is set.
func (p Retention) Enabled() bool {
	return p.Keep > 0 || p.MaxDisk > 0 || p.MinFreeBytes > 0 || p.MinFreePercent > 0
}

func (p Retention) Validate() error {
	var errs []error
	if p.Keep < 0 {
		errs = append(errs, fmt.Errorf("keep %s: must not be negative", p.Keep))
	}
	if p.MaxDisk < 0 {
		errs = append(errs, fmt.Errorf("max disk %d: must not be negative", p.MaxDisk))
	}
	if p.MinFreeBytes < 0 {
		errs = append(errs, fmt.Errorf("min free %d: must not be negative", p.MinFreeBytes))
	}
	if p.MinFreePercent < 0 || p.MinFreePercent >= 100 {
		errs = append(errs, fmt.Errorf("min free %g%%: want 0 to below 100%%", p.MinFreePercent))
	}
	return errors.Join(errs...)
}

// The retention rules, as Pruned.Reason names them.
const (
	RuleKeep    = "keep"
	RuleMaxDisk = "max_disk"
	RuleMinFree = "min_free"
)

// Pruned is one recording deleted by retention and the rule that chose it.
type Pruned struct {
	Recording Recording
	Reason    string // RuleKeep, RuleMaxDisk or RuleMinFree
}

// Prune deletes camera's oldest finished recordings until p holds (or none is
// left to delete) and returns what it deleted. Each deletion clears the
// neighbours' links to the recording deleted (see removeLocked). Errors are
// those of statfs and of deletions; what was deleted before an error is
// returned too.
func (c *Catalog) Prune(camera string, p Retention, now time.Time) ([]Pruned, error) {
	if !p.Enabled() {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconcileLocked(camera) // a file moved away takes no room
	var all, cands []*entry
	for _, e := range c.entries {
		if e.camera != camera {
			continue
		}
		all = append(all, e)
		if p.HoldForUpload && e.meta.UploadedAt == nil && e.meta.State != RecStateRecording {
			continue // pending upload
		}
		if e.meta.State != RecStateRecording && !e.busy {
			cands = append(cands, e)
		}
	}
	slices.SortFunc(cands, func(a, b *entry) int {
		if c := a.meta.StartedAt.Compare(b.meta.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []Pruned
	var errs []error
	del := func(e *entry, reason string) bool {
		rec := e.recording()
		if err := c.removeLocked(e); err != nil {
			errs = append(errs, err)
			return false
		}
		out = append(out, Pruned{Recording: rec, Reason: reason})
		return true
	}
	// keep
	rest := cands[:0:0]
	for _, e := range cands {
		end := e.meta.StartedAt.Add(time.Duration(e.meta.DurationS * float64(time.Second)))
		if e.meta.EndedAt != nil {
			end = *e.meta.EndedAt
		}
		if p.Keep > 0 && now.Sub(end) > p.Keep && del(e, RuleKeep) {
			continue
		}
		if e.meta.RemoteOnly {
			continue // takes no local space: max_disk and min_free gain nothing
		}
		rest = append(rest, e)
	}
	cands = rest
	// max_disk
	if p.MaxDisk > 0 {
		var total int64
		for _, e := range all {
			if _, kept := c.entries[e.id]; kept {
				total += e.size()
			}
		}
		for len(cands) > 0 && total > p.MaxDisk {
			e := cands[0]
			cands = cands[1:]
			size := e.size()
			if del(e, RuleMaxDisk) {
				total -= size
			}
		}
	}
	// min_free
	if p.MinFreeBytes > 0 || p.MinFreePercent > 0 {
		for len(cands) > 0 {
			free, total, err := DiskFree(c.dir)
			if err != nil {
				errs = append(errs, err)
				break
			}
			need := max(p.MinFreeBytes, int64(p.MinFreePercent/100*float64(total)))
			if free >= need {
				break
			}
			del(cands[0], RuleMinFree)
			cands = cands[1:]
		}
	}
	return out, errors.Join(errs...)
}

// size is the recording's size on disk now.
func (e *entry) size() int64 {
	if e.meta.RemoteOnly {
		return 0 // in the bucket only
	}
	if st, err := os.Stat(e.path); err == nil {
		return st.Size()
	}
	return e.bytes
}

// removeLocked deletes e's file and sidecar and forgets it, clearing its
// neighbours' links to it (unlinkLocked). Call with c.mu held.
func (c *Catalog) removeLocked(e *entry) error {
	if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete recording %s: %w", e.id, err)
	}
	if err := os.Remove(SidecarPath(e.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("delete sidecar", "recording_id", e.id, "error", err.Error())
	}
	delete(c.entries, e.id)
	c.unlinkLocked(e)
	return nil
}

// DiskFree returns the bytes available to unprivileged users and the size of
// the filesystem holding dir.
func DiskFree(dir string) (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}
