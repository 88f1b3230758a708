package auth

import (
	"net/netip"
	"sync"
	"time"
)

// Throttle slows down password guessing from one client address: after
// FreeFailures failures the address is refused for LockFor, and each
// further failure after a lock doubles it, up to MaxLock. A success or
// ForgetAfter without a failure (after the lock ends) clears the address.
type Throttle struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[netip.Addr]*failures
}

// The throttle's rules.
const (
	FreeFailures = 5
	LockFor      = time.Minute
	MaxLock      = time.Hour
	ForgetAfter  = 15 * time.Minute
	// maxTracked bounds the addresses tracked; past it the forgotten
	// ones are purged, then the table is reset.
	maxTracked = 65536
)

type failures struct {
	n      int
	last   time.Time
	until  time.Time
	nextLk time.Duration
}

// NewThrottle returns an empty throttle on the given clock (nil: time.Now).
func NewThrottle(now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{now: now, m: map[netip.Addr]*failures{}}
}

// key groups IPv6 clients by /64, which one host usually has whole.
func key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Blocked returns how long addr must still wait, or 0 when it may try.
func (t *Throttle) Blocked(addr netip.Addr) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[key(addr)]
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// Fail records a failure from addr and returns how long it is now locked
// out (0 while it still has free failures).
func (t *Throttle) Fail(addr netip.Addr) time.Duration {
	now := t.now()
	k := key(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[k]
	if f != nil && f.forgotten(now) {
		f = nil
	}
	if f == nil {
		if len(t.m) >= maxTracked {
			t.purgeLocked(now)
		}
		f = &failures{nextLk: LockFor}
		t.m[k] = f
	}
	f.n++
	f.last = now
	if f.n < FreeFailures {
		return 0
	}
	f.until = now.Add(f.nextLk)
	f.nextLk = min(2*f.nextLk, MaxLock)
	return f.until.Sub(now)
}

// forgotten reports whether ForgetAfter has passed since the last failure
// and the end of the last lock.
func (f *failures) forgotten(now time.Time) bool {
	quiet := f.last
	if f.until.After(quiet) {
		quiet = f.until
	}
	return now.Sub(quiet) > ForgetAfter
}

// Succeed clears addr's failures.
func (t *Throttle) Succeed(addr netip.Addr) {
	t.mu.Lock()
	delete(t.m, key(addr))
	t.mu.Unlock()
}

func (t *Throttle) purgeLocked(now time.Time) {
	for k, f := range t.m {
		if f.forgotten(now) {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxTracked {
		clear(t.m)
	}
}
