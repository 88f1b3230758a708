// Package procstat reads processes from /proc: CPU time, memory, children
// and command lines, for the benchmarks and tests that measure or look for
// camrec's children, and for the recorder, which tells an ffmpeg still at
// work from a stuck one by its CPU time.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Tree is the utime+stime of pid and of its living children (a child that
// ended within a window is not counted).
func Tree(pid int) time.Duration {
	total := Of(pid)
	for _, child := range Children(pid) {
		total += Of(child)
	}
	return total
}

// Of is the utime+stime of pid (clock ticks of 10 ms); 0 when pid is gone.
func Of(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return ticks(string(b))
}

// ticks reads utime+stime from the text of /proc/pid/stat; 0 when it is
// not one.
func ticks(stat string) time.Duration {
	f := fields(stat)
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// stat returns the fields of /proc/pid/stat after the command name.
func stat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return fields(string(b))
}

// fields splits the text of /proc/pid/stat after the command name (which
// may hold spaces and parentheses); nil when there is none.
func fields(s string) []string {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func parent(pid int) int {
	f := stat(pid)
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// Children returns the pids of pid's living children.
func Children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err == nil && child != pid && parent(child) == pid {
			out = append(out, child)
		}
	}
	return out
}

// Cmdline is pid's command line, its arguments joined by spaces ("" when
// pid is gone).
func Cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

// Memory is VmRSS, RssAnon (anonymous memory: heap, stacks; not the
// binary's pages nor a driver's mapped buffers) and VmHWM (peak RSS) of
// pid, in MB (2^20 bytes); zeros when pid is gone.
func Memory(pid int) (rss, anon, peak float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "RssAnon:":
			anon = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, anon, peak
}
