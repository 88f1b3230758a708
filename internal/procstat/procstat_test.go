package procstat

import (
	"os"
	"testing"
	"time"
)

// TestOf reads a process's CPU time from /proc/<pid>/stat whatever its
// command name holds; Of of this process grows while it computes, and is 0
// for no process.
func TestOf(t *testing.T) {
	if got := ticks("4242 (ff) mpeg (x)) S 1 4242 4242 0 -1 4194560 2153 0 0 0 117 23 0 0 20 0 3 0 8813 1 2 3\n"); got != 140*10*time.Millisecond {
		t.Errorf("utime+stime = %v, want (117 + 23) ticks of 10 ms", got)
	}
	for _, bad := range []string{"", "4242 (ff", "4242 (ff) S 1 2"} {
		if got := ticks(bad); got != 0 {
			t.Errorf("stat %q: %v, want 0", bad, got)
		}
	}
	if Of(-1) != 0 || Of(1<<30) != 0 {
		t.Error("Of a process that does not exist: want 0")
	}
	t0 := Of(os.Getpid())
	x := 0
	deadline := time.Now().Add(20 * time.Second)
	for Of(os.Getpid()) <= t0 {
		if time.Now().After(deadline) {
			t.Fatal("this process's CPU time did not grow in 20 s of computing")
		}
		for i := range 1 << 20 {
			x ^= i * i
		}
	}
	_ = x
}
