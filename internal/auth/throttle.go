package auth

import (
	"net/netip"
	"sync"
	"time"
)

// Throttle limits password guessing without letting a guesser lock the
// real user out. Only passwords are throttled: tokens and session ids are
// 256-bit random, so a wrong one is answered 401 and never counted.
//
// A password try comes either from a trusted device of the user it names
// (a browser holding the device cookie camrec set when it last logged in
// as that user, or an address from which that user's password was
// accepted within TrustFor), or from an untrusted client. The two are
// counted apart:
//
//   - A trusted device has FreeFailures of its own; then only that device
//     is locked (LockFor, doubling with each further failure up to
//     MaxLock). Nothing an untrusted client does locks it.
//   - An untrusted client is counted per address (IPv4, or the whole
//     IPv6 address: a LAN's /64 is many hosts) and, for each user it
//     names, against that user: FreeFailures per address, then the address
//     is locked; UserFreeFailures against one user from all untrusted
//     clients together, then that user is locked for untrusted clients
//     (guessing spread over many addresses), each with the same doubling.
//
// Check and count are one step: Begin reserves the try (a try in flight
// counts as a failure until it ends), so concurrent guesses cannot all get
// past a check made before any of them failed. A success clears only what
// it proves: that address's failures against that user, or that device's.
// The per-user count is never cleared by a success (the real user logging
// in says nothing about the guesses); it is forgotten ForgetAfter after
// its last failure and lock. Locked entries are never evicted: when the
// address table is full of them, new untrusted addresses are refused
// until locks expire (trusted devices still get in).
type Throttle struct {
	now func() time.Time

	mu      sync.Mutex
	addrs   map[netip.Addr]*addrFailures // untrusted clients
	users   map[string]*failures         // per user, from untrusted clients
	devices map[string]*failures         // trusted devices, by device key
	trusted map[trustKey]time.Time       // address × user → last success
	// fullUntil: the address table was found full of locked entries; new
	// addresses are refused until then without scanning it again.
	fullUntil time.Time
}

// The throttle's rules.
const (
	// FreeFailures is how many wrong passwords an address (or a trusted
	// device) may send before it is locked.
	FreeFailures = 5
	// UserFreeFailures is how many wrong passwords for one user all
	// untrusted clients together may send before that user is locked for
	// untrusted clients.
	UserFreeFailures = 20
	LockFor          = time.Minute
	MaxLock          = time.Hour
	// ForgetAfter: failures this long after the last failure and the end
	// of the last lock are forgotten.
	ForgetAfter = 15 * time.Minute
	// TrustFor is how long an address stays trusted for a user after that
	// user's password was accepted from it.
	TrustFor = 30 * 24 * time.Hour
	// busyWait is the Retry-After of a client whose free tries are all in
	// flight: they end within a password check.
	busyWait = time.Second
	// maxTracked bounds the untrusted addresses tracked; maxDevices the
	// trusted devices; maxTrusted the trusted address × user pairs.
	maxTracked = 65536
	maxDevices = 4096
	maxTrusted = 4096
)

type trustKey struct {
	addr netip.Addr
	user string
}

// failures is the state of one counted party.
type failures struct {
	n       int           // failures counted
	pending int           // tries in flight
	last    time.Time     // last failure
	until   time.Time     // locked until
	next    time.Duration // the next lock's length
}

// addrFailures is an untrusted address: its failures, and how many of them
// named each user ("" for names that are not users).
type addrFailures struct {
	failures
	byUser []userCount
}

type userCount struct {
	user string
	n    int
}

// NewThrottle returns an empty throttle on the given clock (nil: time.Now).
func NewThrottle(now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{
		now:     now,
		addrs:   map[netip.Addr]*addrFailures{},
		users:   map[string]*failures{},
		devices: map[string]*failures{},
		trusted: map[trustKey]time.Time{},
	}
}

// addrKey is the key of an untrusted address: the address itself (an
// IPv4-mapped IPv6 address as IPv4).
func addrKey(a netip.Addr) netip.Addr { return a.Unmap() }

// wait returns how long f refuses a try: its lock, or busyWait while its
// free tries are all taken by failures and tries in flight.
func (f *failures) wait(now time.Time, free int) time.Duration {
	if now.Before(f.until) {
		return f.until.Sub(now)
	}
	if f.n+f.pending >= free {
		if f.n >= free {
			// Locked before and failed again after the lock: the next
			// failure locks again at once, but a try is allowed.
			if f.pending == 0 {
				return 0
			}
		}
		return busyWait
	}
	return 0
}

// fail counts a failure and returns the lock it caused (0: none).
func (f *failures) fail(now time.Time, free int) time.Duration {
	f.pending--
	f.n++
	f.last = now
	if f.n < free {
		return 0
	}
	if f.next == 0 {
		f.next = LockFor
	}
	f.until = now.Add(f.next)
	f.next = min(2*f.next, MaxLock)
	return f.until.Sub(now)
}

// forgotten reports whether f can be dropped: nothing in flight, and
// ForgetAfter passed since the last failure and the end of the last lock.
func (f *failures) forgotten(now time.Time) bool {
	quiet := f.last
	if f.until.After(quiet) {
		quiet = f.until
	}
	return f.pending == 0 && now.Sub(quiet) > ForgetAfter
}

func (f *failures) locked(now time.Time) bool { return now.Before(f.until) }

// Attempt is one password try that Begin let through. Exactly one of
// Fail, Succeed or Cancel must follow.
type Attempt struct {
	t      *Throttle
	addr   netip.Addr
	user   string // a configured user, or "" for an unknown name
	device string // trusted device key; "" for an untrusted client
}

// Trusted reports whether the try comes from a trusted device of its user.
func (a *Attempt) Trusted() bool { return a.device != "" }

// Begin reserves a try of a password for user (a configured user's name,
// or "" for a name that is none) from addr, as the trusted device device
// ("" when the client is not one). It returns the attempt, or how long the
// client must wait.
func (t *Throttle) Begin(addr netip.Addr, user, device string) (*Attempt, time.Duration) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if device != "" {
		d := t.devices[device]
		if d != nil && d.forgotten(now) {
			d = nil
		}
		if d == nil {
			if len(t.devices) >= maxDevices && !t.purgeDevicesLocked(now) {
				return nil, LockFor
			}
			d = &failures{}
			t.devices[device] = d
		}
		if w := d.wait(now, FreeFailures); w > 0 {
			return nil, w
		}
		d.pending++
		return &Attempt{t: t, addr: addr, user: user, device: device}, 0
	}

	k := addrKey(addr)
	a := t.addrs[k]
	if a != nil && a.forgotten(now) {
		delete(t.addrs, k)
		a = nil
	}
	var u *failures
	if user != "" {
		u = t.users[user]
		if u != nil && u.forgotten(now) {
			u = nil
		}
		if u != nil {
			if w := u.wait(now, UserFreeFailures); w > 0 {
				return nil, w
			}
		}
	}
	if a != nil {
		if w := a.wait(now, FreeFailures); w > 0 {
			return nil, w
		}
	} else {
		if len(t.addrs) >= maxTracked && !t.purgeAddrsLocked(now) {
			return nil, max(t.fullUntil.Sub(now), time.Second)
		}
		a = &addrFailures{}
		t.addrs[k] = a
	}
	if user != "" && u == nil {
		u = &failures{}
		t.users[user] = u
	}
	a.pending++
	if u != nil {
		u.pending++
	}
	return &Attempt{t: t, addr: k, user: user}, 0
}

// Fail counts the attempt as a failure and returns how long the client is
// now locked out (0 while it has free failures left).
func (a *Attempt) Fail() time.Duration {
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.device != "" {
		if d := t.devices[a.device]; d != nil {
			return d.fail(now, FreeFailures)
		}
		return 0
	}
	var lock time.Duration
	if f := t.addrs[a.addr]; f != nil {
		lock = f.fail(now, FreeFailures)
		f.addUser(a.user)
	}
	if a.user != "" {
		if u := t.users[a.user]; u != nil {
			lock = max(lock, u.fail(now, UserFreeFailures))
		}
	}
	return lock
}

func (f *addrFailures) addUser(user string) {
	for i := range f.byUser {
		if f.byUser[i].user == user {
			f.byUser[i].n++
			return
		}
	}
	f.byUser = append(f.byUser, userCount{user: user, n: 1})
}

// Succeed ends the attempt with an accepted password. It clears only what
// the success proves: this device's failures, or this address's failures
// against this user; and it trusts the address for the user from now on.
func (a *Attempt) Succeed() {
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.user != "" {
		t.trustLocked(a.addr, a.user, now)
	}
	if a.device != "" {
		delete(t.devices, a.device)
		return
	}
	if f := t.addrs[a.addr]; f != nil {
		f.pending--
		for i, uc := range f.byUser {
			if uc.user == a.user {
				f.n -= uc.n
				f.byUser = append(f.byUser[:i], f.byUser[i+1:]...)
				break
			}
		}
		if f.n == 0 && f.pending == 0 {
			delete(t.addrs, a.addr)
		}
	}
	if u := t.users[a.user]; a.user != "" && u != nil {
		u.pending--
	}
}

// Cancel ends the attempt without a verdict (the check could not be made).
func (a *Attempt) Cancel() {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.device != "" {
		if d := t.devices[a.device]; d != nil {
			d.pending--
		}
		return
	}
	if f := t.addrs[a.addr]; f != nil {
		f.pending--
	}
	if u := t.users[a.user]; a.user != "" && u != nil {
		u.pending--
	}
}

// TrustedAddr reports whether user's password was accepted from addr
// within TrustFor.
func (t *Throttle) TrustedAddr(addr netip.Addr, user string) bool {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	last, ok := t.trusted[trustKey{addrKey(addr), user}]
	return ok && now.Sub(last) < TrustFor
}

func (t *Throttle) trustLocked(addr netip.Addr, user string, now time.Time) {
	k := trustKey{addrKey(addr), user}
	if _, ok := t.trusted[k]; !ok && len(t.trusted) >= maxTrusted {
		var oldest trustKey
		var at time.Time
		for k2, v := range t.trusted {
			if at.IsZero() || v.Before(at) {
				oldest, at = k2, v
			}
		}
		delete(t.trusted, oldest)
	}
	t.trusted[k] = now
}

// purgeAddrsLocked makes room in the address table: it drops forgotten
// entries, then unlocked ones; locked entries stay. It reports whether
// there is room; when there is none it remembers until when the table
// stays full (the first lock to end).
func (t *Throttle) purgeAddrsLocked(now time.Time) bool {
	if now.Before(t.fullUntil) {
		return false
	}
	for k, f := range t.addrs {
		if f.forgotten(now) {
			delete(t.addrs, k)
		}
	}
	if len(t.addrs) >= maxTracked {
		for k, f := range t.addrs {
			if !f.locked(now) && f.pending == 0 {
				delete(t.addrs, k)
			}
		}
	}
	if len(t.addrs) < maxTracked {
		return true
	}
	first := now.Add(MaxLock)
	for _, f := range t.addrs {
		if f.locked(now) && f.until.Before(first) {
			first = f.until
		}
	}
	t.fullUntil = first
	return false
}

// purgeDevicesLocked is purgeAddrsLocked for trusted devices.
func (t *Throttle) purgeDevicesLocked(now time.Time) bool {
	for k, f := range t.devices {
		if f.forgotten(now) || (!f.locked(now) && f.pending == 0) {
			delete(t.devices, k)
		}
	}
	return len(t.devices) < maxDevices
}

// Locked reports how long an untrusted client at addr trying user's
// password must still wait (0: it may try). For tests and status.
func (t *Throttle) Locked(addr netip.Addr, user string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var w time.Duration
	if f := t.addrs[addrKey(addr)]; f != nil && !f.forgotten(now) {
		w = f.wait(now, FreeFailures)
	}
	if u := t.users[user]; user != "" && u != nil && !u.forgotten(now) {
		w = max(w, u.wait(now, UserFreeFailures))
	}
	return w
}

// Tracked returns how many untrusted addresses the throttle holds.
func (t *Throttle) Tracked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.addrs)
}
