package testutil

import (
	"testing"
	"time"
)

// Eventually calls cond until it returns true, failing the test with what
// was awaited if timeout passes first. It polls (every 10 ms, then less
// often), so a test waits for a condition instead of sleeping a guessed
// time; timeout is only the test's patience, never a claim of speed: make
// it generous, since a busy machine is slow.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
