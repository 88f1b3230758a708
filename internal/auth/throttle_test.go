package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// outcome counts the answers to a batch of password tries.
type outcome struct{ ok, bad, throttled, busy, other int }

func (o *outcome) add(err error) {
	switch {
	case err == nil:
		o.ok++
	case errors.Is(err, ErrBadCredentials):
		o.bad++
	case errors.Is(err, ErrThrottled):
		o.throttled++
	case errors.Is(err, ErrBusy):
		o.busy++
	default:
		o.other++
	}
}

// concurrently tries n wrong passwords for user from c at once.
func concurrently(a *Authenticator, c Client, user string, n int) outcome {
	var (
		mu  sync.Mutex
		o   outcome
		wg  sync.WaitGroup
		go_ = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-go_
			_, _, err := a.CheckPassword(c, user, fmt.Sprintf("guess-%d", i))
			mu.Lock()
			o.add(err)
			mu.Unlock()
		})
	}
	close(go_)
	wg.Wait()
	return o
}

// TestThrottleCountsConcurrentGuesses: 30 or 300 wrong passwords sent at
// once from one address get at most FreeFailures bcrypt verdicts; the rest
// are refused without a check, and the address is then locked even for
// the right password.
func TestThrottleCountsConcurrentGuesses(t *testing.T) {
	for _, n := range []int{30, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			clk := newClock()
			a, _ := newTestAuth(t, clk.Now)
			c := client("192.0.2.7")
			o := concurrently(a, c, "alice", n)
			if o.bad > FreeFailures || o.bad == 0 || o.ok != 0 || o.other != 0 || o.bad+o.throttled+o.busy != n {
				t.Fatalf("%d concurrent wrong passwords: %+v, want at most %d checked (401), the rest refused", n, o, FreeFailures)
			}
			// Whatever was refused as busy was not counted: finish the
			// free failures one by one, then the address is locked.
			for i := o.bad; i < FreeFailures; i++ {
				if _, _, err := a.CheckPassword(c, "alice", "again"); !errors.Is(err, ErrBadCredentials) {
					t.Fatalf("failure %d after the burst: %v", i+1, err)
				}
			}
			if _, _, err := a.CheckPassword(c, "alice", "alice-pw"); !errors.Is(err, ErrThrottled) {
				t.Fatalf("the right password after %d failures: %v, want throttled", FreeFailures, err)
			}
			var te *ThrottledError
			if _, _, err := a.CheckPassword(c, "bob", "bob-pw"); !errors.As(err, &te) || te.Wait != LockFor {
				t.Fatalf("another user from the locked address: %v, want throttled for %v", err, LockFor)
			}
		})
	}
}

// TestThrottleSuccessClearsOnlyWhatItProves: an address that guesses at
// alice and logs in as bob between the guesses (or presents a valid token)
// is locked after FreeFailures guesses at alice all the same.
func TestThrottleSuccessClearsOnlyWhatItProves(t *testing.T) {
	clk := newClock()
	a, tok := newTestAuth(t, clk.Now)
	c := client("192.0.2.7")
	var o outcome
	for round := range 10 {
		for range 4 {
			_, _, err := a.CheckPassword(c, "alice", "guess")
			o.add(err)
		}
		if _, _, err := a.CheckPassword(c, "bob", "bob-pw"); err != nil && round == 0 {
			t.Fatalf("bob's good password in the first round: %v", err)
		}
		if _, err := a.Token(tok, "token_query"); err != nil {
			t.Fatal(err)
		}
	}
	if o.bad != FreeFailures || o.throttled != 40-FreeFailures {
		t.Fatalf("10 rounds of 4 guesses at alice between good logins as bob: %+v, want %d checked and the rest throttled", o, FreeFailures)
	}
}

// TestThrottleLockedAddressesSurviveEviction: failures from more
// addresses than the table holds do not unlock a locked address; when the
// table is full of locked addresses, new ones are refused until locks end,
// and a trusted device still gets in.
func TestThrottleLockedAddressesSurviveEviction(t *testing.T) {
	clk := newClock()
	th := NewThrottle(clk.Now)
	fail := func(addr netip.Addr, user string) (time.Duration, bool) {
		att, wait := th.Begin(addr, user, "")
		if att == nil {
			return wait, false
		}
		return att.Fail(), true
	}
	locked := netip.MustParseAddr("198.51.100.1")
	for range FreeFailures {
		fail(locked, "")
	}
	if th.Locked(locked, "") != LockFor {
		t.Fatal("the address is not locked")
	}
	// One failure each from 65,536 other addresses (10.0.0.0/16 and on).
	for i := range maxTracked {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		fail(addr, "")
	}
	if w := th.Locked(locked, ""); w != LockFor {
		t.Fatalf("after failures from %d addresses the locked address waits %v, want %v", maxTracked, w, LockFor)
	}
	// Fill the table with locked addresses.
	for i := 0; th.Tracked() < maxTracked || i < maxTracked; i++ {
		addr := netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)})
		for range FreeFailures {
			if _, ok := fail(addr, ""); !ok {
				break
			}
		}
		if i > 2*maxTracked {
			t.Fatal("the table never filled")
		}
	}
	if _, ok := fail(netip.MustParseAddr("203.0.113.9"), ""); ok {
		t.Fatal("a new address was tracked in a table full of locked ones")
	}
	if w := th.Locked(locked, ""); w == 0 {
		t.Fatal("filling the table unlocked the first address")
	}
	if att, _ := th.Begin(netip.MustParseAddr("203.0.113.9"), "alice", "cookie:alice:x"); att == nil {
		t.Fatal("a trusted device was refused while the address table is full")
	} else {
		att.Succeed()
	}
	// Once the locks end, new addresses get in again.
	clk.Add(LockFor + time.Second)
	if _, ok := fail(netip.MustParseAddr("203.0.113.9"), ""); !ok {
		t.Fatal("a new address is still refused after the locks ended")
	}
}

// TestThrottleIPv6PerAddress: a host that fails locks its own address,
// not its /64 neighbours.
func TestThrottleIPv6PerAddress(t *testing.T) {
	clk := newClock()
	a, _ := newTestAuth(t, clk.Now)
	bad, good := client("2001:db8::1"), client("2001:db8::ffff")
	for range FreeFailures {
		a.CheckPassword(bad, "zed", "guess")
	}
	if _, _, err := a.CheckPassword(bad, "alice", "alice-pw"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("the failing host: %v, want throttled", err)
	}
	if _, _, err := a.CheckPassword(good, "alice", "alice-pw"); err != nil {
		t.Fatalf("a neighbour in the same /64: %v", err)
	}
	// The IPv4-mapped form of an address is the same client.
	v4, mapped := client("192.0.2.9"), client("::ffff:192.0.2.9")
	for range FreeFailures {
		a.CheckPassword(mapped, "zed", "guess")
	}
	if _, _, err := a.CheckPassword(v4, "alice", "alice-pw"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("IPv4 after failures from its mapped form: %v, want throttled", err)
	}
}

// TestThrottleCannotLockOutTheUser: guesses at alice from her own address
// and from many others lock the guessers and alice for untrusted clients,
// but not the browser that logged in as alice before (device cookie) nor a
// Basic client from an address that logged in as alice before.
func TestThrottleCannotLockOutTheUser(t *testing.T) {
	clk := newClock()
	a, _ := newTestAuth(t, clk.Now)
	home := client("192.0.2.10")
	lr, _, err := a.Login(home, "alice", "alice-pw")
	if err != nil || lr.Device == "" {
		t.Fatalf("first login: %+v %v", lr, err)
	}
	browser := Client{Addr: home.Addr, Device: lr.Device}
	ha := client("192.0.2.20") // Home Assistant, Basic auth
	if _, _, err := a.CheckPassword(ha, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	a.verified.mu.Lock()
	clear(a.verified.m) // later checks go to bcrypt
	a.verified.mu.Unlock()

	// The attacker shares the browser's address (a page the user opened,
	// another account on the machine) and has many others.
	var o outcome
	for range FreeFailures + 3 {
		_, _, err := a.CheckPassword(home, "alice", "guess")
		o.add(err)
	}
	for i := range 2 * UserFreeFailures {
		_, _, err := a.CheckPassword(client(fmt.Sprintf("198.51.100.%d", i+1)), "alice", "guess")
		o.add(err)
	}
	if o.bad > FreeFailures+UserFreeFailures || o.throttled == 0 {
		t.Fatalf("the attack: %+v", o)
	}
	if _, _, err := a.CheckPassword(client("203.0.113.5"), "alice", "alice-pw"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("alice from a new, untrusted address during the attack: %v, want throttled (user locked)", err)
	}
	if _, res, err := a.Login(browser, "alice", "alice-pw"); err != nil || !res.Trusted {
		t.Fatalf("alice's browser (device cookie) during the attack: %v (trusted %v)", err, res.Trusted)
	}
	if _, res, err := a.CheckPassword(ha, "alice", "alice-pw"); err != nil || !res.Trusted {
		t.Fatalf("Basic from the address alice used before during the attack: %v (trusted %v)", err, res.Trusted)
	}
	// A device cookie is its user's only: bob's browser guessing at alice
	// is an untrusted client.
	blr, _, err := a.Login(client("192.0.2.30"), "bob", "bob-pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, res, _ := a.CheckPassword(Client{Addr: netip.MustParseAddr("192.0.2.31"), Device: blr.Device}, "alice", "guess"); res.Trusted {
		t.Fatal("bob's device cookie made a try at alice's password trusted")
	}
	// A stolen device cookie gets FreeFailures of its own, then that
	// device is locked; the real user's other devices are not.
	stolen := Client{Addr: netip.MustParseAddr("198.51.100.200"), Device: lr.Device}
	for range FreeFailures {
		a.CheckPassword(stolen, "alice", "guess")
	}
	if _, _, err := a.CheckPassword(stolen, "alice", "alice-pw"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("the device after %d failures: %v, want throttled", FreeFailures, err)
	}
	if _, _, err := a.CheckPassword(ha, "alice", "alice-pw"); err != nil {
		t.Fatalf("Basic from alice's trusted address after the device's lock: %v", err)
	}
}

// TestDeviceCookie: only a cookie camrec made for that user, with that
// password hash, makes a device trusted.
func TestDeviceCookie(t *testing.T) {
	a, _ := newTestAuth(t, nil)
	lr, _, err := a.Login(client("192.0.2.1"), "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	good := lr.Device
	if a.device(good, "alice") == "" {
		t.Fatalf("the device cookie %q is not valid for alice", good)
	}
	flip := []byte(good)
	flip[len(flip)-2] ^= 1
	for _, tc := range []struct{ name, cookie, user string }{
		{"other user", good, "bob"},
		{"renamed", "bob" + good[len("alice"):], "bob"},
		{"tampered mac", string(flip), "alice"},
		{"truncated", good[:len(good)-5], "alice"},
		{"empty", "", "alice"},
		{"junk", "alice.x.y", "alice"},
	} {
		if k := a.device(tc.cookie, tc.user); k != "" {
			t.Errorf("%s: device(%q, %s) = %q, want invalid", tc.name, tc.cookie, tc.user, k)
		}
	}
	// A new password hash for alice (a password change) voids the cookie.
	b, err := New(Config{Users: []User{{Name: "alice", PasswordHash: fastHash(t, "alice-pw2"), Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	if b.device(good, "alice") != "" {
		t.Fatal("a device cookie survived a password change")
	}
	// A second login from the same browser keeps its cookie.
	lr2, _, err := a.Login(Client{Addr: netip.MustParseAddr("192.0.2.1"), Device: good}, "alice", "alice-pw")
	if err != nil || lr2.Device != good {
		t.Fatalf("second login: device %q, %v; want the same cookie", lr2.Device, err)
	}
}

// TestThrottleDoublesAndForgets: each failure after a lock doubles it, up
// to MaxLock; failures far apart are forgotten.
func TestThrottleDoublesAndForgets(t *testing.T) {
	clk := newClock()
	th := NewThrottle(clk.Now)
	a, b := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("192.0.2.8")
	fail := func(addr netip.Addr) time.Duration {
		t.Helper()
		att, wait := th.Begin(addr, "", "")
		if att == nil {
			t.Fatalf("%v refused for %v", addr, wait)
		}
		return att.Fail()
	}
	for i := 1; i < FreeFailures; i++ {
		if lock := fail(a); lock != 0 {
			t.Fatalf("failure %d locked for %v", i, lock)
		}
	}
	if lock := fail(a); lock != LockFor {
		t.Fatalf("failure %d: locked for %v, want %v", FreeFailures, lock, LockFor)
	}
	if _, wait := th.Begin(a, "", ""); wait != LockFor {
		t.Fatalf("Begin while locked: wait %v, want %v", wait, LockFor)
	}
	if w := th.Locked(b, ""); w != 0 {
		t.Fatalf("another address is locked for %v", w)
	}
	want := LockFor
	for range 8 {
		clk.Add(th.Locked(a, ""))
		want = min(2*want, MaxLock)
		if lock := fail(a); lock != want {
			t.Fatalf("locked for %v, want %v", lock, want)
		}
	}
	for range FreeFailures + 3 {
		clk.Add(ForgetAfter + time.Second)
		if lock := fail(b); lock != 0 {
			t.Fatalf("spread-out failures locked for %v", lock)
		}
	}
}

// TestPasswordChecksAreBounded: while every untrusted check slot is taken,
// a password try is answered ErrBusy at once and not counted; a trusted
// device has a slot of its own.
func TestPasswordChecksAreBounded(t *testing.T) {
	a, _ := newTestAuth(t, nil)
	home := client("192.0.2.10")
	lr, _, err := a.Login(home, "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	a.verified.mu.Lock()
	clear(a.verified.m)
	a.verified.mu.Unlock()
	for range cap(a.untrustedChecks) {
		a.untrustedChecks <- struct{}{}
	}
	c := client("192.0.2.7")
	for range 2 * FreeFailures {
		if _, _, err := a.CheckPassword(c, "alice", "guess"); !errors.Is(err, ErrBusy) {
			t.Fatalf("a try while the checks are taken: %v, want ErrBusy", err)
		}
	}
	if w := a.Throttle.Locked(c.Addr, "alice"); w != 0 {
		t.Fatalf("busy answers were counted: locked for %v", w)
	}
	if _, _, err := a.CheckPassword(Client{Addr: home.Addr, Device: lr.Device}, "alice", "alice-pw"); err != nil {
		t.Fatalf("the trusted device while untrusted checks are taken: %v", err)
	}
	for range cap(a.untrustedChecks) {
		<-a.untrustedChecks
	}
	if _, _, err := a.CheckPassword(c, "alice", "alice-pw"); err != nil {
		t.Fatalf("after the slots are free: %v", err)
	}
}

// TestSessionsPerUserCap: one user logging in again and again ends only
// its own oldest sessions, never another user's.
func TestSessionsPerUserCap(t *testing.T) {
	clk := newClock()
	a, _ := newTestAuth(t, clk.Now)
	c := client("192.0.2.1")
	alice, _, err := a.Login(c, "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i := range maxSessions + 10 {
		clk.Add(time.Millisecond)
		lr, _, err := a.Login(c, "bob", "bob-pw")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = lr.SessionID
		}
	}
	if _, ok := a.Sessions.Lookup(alice.SessionID); !ok {
		t.Fatal("bob's logins ended alice's session")
	}
	if _, ok := a.Sessions.Lookup(first); ok {
		t.Fatal("bob's first session outlived the per-user cap")
	}
	if n := a.Sessions.Len(); n != maxUserSessions+1 {
		t.Fatalf("%d sessions, want %d of bob's and alice's", n, maxUserSessions)
	}
}

// TestIdenticalTriesShareOneCheck: a client opening many connections at
// once with the same right password (a browser, Home Assistant) gets in on
// all of them, with one bcrypt check; the same wrong guess sent 300 times
// at once is counted once.
func TestIdenticalTriesShareOneCheck(t *testing.T) {
	a, _ := newTestAuth(t, nil)
	c := client("192.0.2.40")
	var (
		mu  sync.Mutex
		o   outcome
		wg  sync.WaitGroup
		go_ = make(chan struct{})
	)
	for range 10 {
		wg.Go(func() {
			<-go_
			_, _, err := a.CheckPassword(c, "alice", "alice-pw")
			mu.Lock()
			o.add(err)
			mu.Unlock()
		})
	}
	close(go_)
	wg.Wait()
	if o.ok != 10 {
		t.Fatalf("10 connections at once with alice's password: %+v, want all accepted", o)
	}
	// 300 copies of one guess while a check of it is under way all wait
	// for that check's verdict; none is checked (nor counted) itself.
	guesser := client("192.0.2.41")
	key := string(a.verified.mac("alice", "the-same-guess"))
	f, lead := a.flights.joinOrLead(key)
	if !lead {
		t.Fatal("a check of the guess is already under way")
	}
	done := make(chan outcome)
	go func() { done <- concurrentlySame(a, guesser, "alice", "the-same-guess", 300) }()
	deadline := time.Now().Add(30 * time.Second)
	for a.flights.waiting(key) < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 300 copies wait for the check under way", a.flights.waiting(key))
		}
		time.Sleep(time.Millisecond)
	}
	a.flights.end(key, f, flightRefused)
	if o := <-done; o.bad != 300 {
		t.Fatalf("300 copies of one guess: %+v, want all refused with the first's verdict", o)
	}
	if w := a.Throttle.Locked(guesser.Addr, "alice"); w != 0 || a.Throttle.Tracked() != 0 {
		t.Fatalf("the copies were counted: locked %v, %d addresses tracked", w, a.Throttle.Tracked())
	}
}

// concurrentlySame tries the same password n times at once.
func concurrentlySame(a *Authenticator, c Client, user, pw string, n int) outcome {
	var (
		mu  sync.Mutex
		o   outcome
		wg  sync.WaitGroup
		go_ = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-go_
			_, _, err := a.CheckPassword(c, user, pw)
			mu.Lock()
			o.add(err)
			mu.Unlock()
		})
	}
	close(go_)
	wg.Wait()
	return o
}
