package v4l2

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const procSelfMaps = "/proc/self/maps"

// unmapLeftovers unmaps every mapping of target listed in maps (a
// /proc/PID/maps). blackjack/webcam leaks the buffers it mapped when
// StartStreaming fails half-way (upstream #70): the mappings keep the
// device's buffer queue allocated after Close, and every later open of the
// device then fails with EBUSY until the process exits. Call it only after
// the Webcam is closed and its buffers can no longer be touched.
func unmapLeftovers(maps, target string) (int, error) {
	f, err := os.Open(maps)
	if err != nil {
		return 0, fmt.Errorf("read memory maps: %w", err)
	}
	type region struct{ start, end uintptr }
	var regions []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7f2a1c000000-7f2a1c096000 rw-s 00000000 00:05 1234   /dev/video0
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != target {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		regions = append(regions, region{uintptr(start), uintptr(end)})
	}
	err = sc.Err()
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("read memory maps: %w", err)
	}
	for _, r := range regions {
		if _, _, errno := unix.Syscall(unix.SYS_MUNMAP, r.start, r.end-r.start, 0); errno != 0 {
			return 0, fmt.Errorf("unmap %s at %#x: %w", target, r.start, errno)
		}
	}
	return len(regions), nil
}
