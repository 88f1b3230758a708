package v4l2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnmapLeftovers maps a file the way the library maps driver buffers
// (shared, read-write), forgets the slice as a failed StartStreaming does,
// and checks that unmapLeftovers removes exactly those mappings.
func TestUnmapLeftovers(t *testing.T) {
	dir := t.TempDir()
	target, other := filepath.Join(dir, "video0"), filepath.Join(dir, "video1")
	for _, p := range []string{target, other} {
		if err := os.WriteFile(p, make([]byte, 3*4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mapFile := func(path string, n int) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // the mapping outlives the fd, as after Close
		for i := range n {
			if _, err := unix.Mmap(int(f.Fd()), int64(i*4096), 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
				t.Fatal(err)
			}
		}
	}
	mapFile(target, 3)
	mapFile(other, 1)
	otherMap := mappedBytes(t, other)
	t.Cleanup(func() { _, _ = unmapLeftovers(procSelfMaps, other) })

	if got := mappedBytes(t, target); got != 3*4096 {
		t.Fatalf("before: %d bytes of %s mapped, want %d", got, target, 3*4096)
	}
	n, err := unmapLeftovers(procSelfMaps, target)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 { // adjacent mappings may be merged into one region
		t.Errorf("unmapped %d regions, want at least 1", n)
	}
	if got := mappedBytes(t, target); got != 0 {
		t.Errorf("after: %d bytes of %s still mapped", got, target)
	}
	if got := mappedBytes(t, other); got != otherMap || got == 0 {
		t.Errorf("mapping of another file changed: %d bytes, was %d", got, otherMap)
	}
	if n, err := unmapLeftovers(procSelfMaps, target); n != 0 || err != nil {
		t.Errorf("second call = %d, %v; want 0, nil", n, err)
	}
}

func mappedBytes(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(procSelfMaps)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != path {
			continue
		}
		var lo, hi uint64
		if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil {
			t.Fatal(err)
		}
		total += int(hi - lo)
	}
	return total
}
