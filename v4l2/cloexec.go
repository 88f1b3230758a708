package v4l2

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/blackjack/webcam"
)

const procSelfFD = "/proc/self/fd"

// openWebcam opens path with blackjack/webcam and marks the descriptor it
// opened close-on-exec, so ffmpeg and other children do not inherit the
// camera (an inherited fd can keep the stream owned and make a re-open fail
// with EBUSY). The library opens without O_CLOEXEC and does not expose the
// fd: it is found as the new entry of /proc/self/fd that links to the
// device. Holding syscall.ForkLock for reading across open and mark keeps
// os/exec from forking in between.
//
// fd is the descriptor when exactly one was found, else -1; markErr says
// why it could not be marked (the camera is usable anyway).
func openWebcam(path, resolved string) (cam *webcam.Webcam, fd int, markErr error, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	before, berr := openFDs(procSelfFD)
	cam, err = webcam.Open(path)
	if err != nil {
		return nil, -1, nil, err
	}
	if berr != nil {
		return cam, -1, berr, nil
	}
	fd, markErr = markNewCloexec(procSelfFD, before, resolved)
	return cam, fd, markErr, nil
}

// openFDs returns the descriptors listed in dir (a /proc/PID/fd) with what
// each links to. The listing includes the descriptor that reads dir itself,
// closed by the time it returns: its number is free again, so a number alone
// does not tell an old descriptor from a new one, the pair does.
func openFDs(dir string) (map[int]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list open files: %w", err)
	}
	fds := make(map[int]string, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		fds[n] = link
	}
	return fds, nil
}

// markNewCloexec sets FD_CLOEXEC on every descriptor in dir that links to
// target and did not in before. It returns that descriptor when there is
// exactly one, else -1 (and an error when there is none).
func markNewCloexec(dir string, before map[int]string, target string) (int, error) {
	after, err := openFDs(dir)
	if err != nil {
		return -1, err
	}
	found := -1
	n := 0
	for fd, link := range after {
		if link != target || before[fd] == target {
			continue
		}
		syscall.CloseOnExec(fd)
		found = fd
		n++
	}
	switch n {
	case 0:
		return -1, fmt.Errorf("no new descriptor of %s in %s", target, dir)
	case 1:
		return found, nil
	default:
		return -1, nil // all marked; which one is the camera's is ambiguous
	}
}
