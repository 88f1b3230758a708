package v4l2

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMarkNewCloexec opens a file the way blackjack/webcam opens a camera
// (no O_CLOEXEC), marks it, and checks that a child process started with
// os/exec does not inherit it while an older descriptor of the same file,
// opened before the snapshot, is left alone.
func TestMarkNewCloexec(t *testing.T) {
	target := filepath.Join(t.TempDir(), "video0")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := syscall.Open(target, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(old)

	syscall.ForkLock.RLock()
	before, err := openFDs(procSelfFD)
	if err != nil {
		syscall.ForkLock.RUnlock()
		t.Fatal(err)
	}
	fd, err := syscall.Open(target, syscall.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		syscall.ForkLock.RUnlock()
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	got, err := markNewCloexec(procSelfFD, before, target)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if got != fd {
		t.Fatalf("markNewCloexec = %d, want %d", got, fd)
	}
	if !cloexec(t, fd) {
		t.Error("new fd not close-on-exec")
	}
	if cloexec(t, old) {
		t.Error("fd opened before the snapshot was marked too")
	}

	// The child sees the old descriptor (not marked) but not the new one.
	out, err := exec.Command("/bin/sh", "-c", "ls /proc/$$/fd").Output()
	if err != nil {
		t.Fatal(err)
	}
	fds := strings.Fields(string(out))
	if contains(fds, strconv.Itoa(fd)) {
		t.Errorf("child inherited the marked fd %d (child fds: %v)", fd, fds)
	}
	if !contains(fds, strconv.Itoa(old)) {
		t.Errorf("child lacks the unmarked fd %d: the check is blind (child fds: %v)", old, fds)
	}
}

func TestMarkNewCloexecNothingNew(t *testing.T) {
	before, err := openFDs(procSelfFD)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := markNewCloexec(procSelfFD, before, "/dev/video-none")
	if fd != -1 || err == nil {
		t.Fatalf("markNewCloexec = %d, %v; want -1 and an error", fd, err)
	}
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
