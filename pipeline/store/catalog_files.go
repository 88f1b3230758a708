// This file holds how a recording's file is opened for serving: inside the
// record dir, without following links, regular files only.

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/camrec/camrec/internal/defs"
)

// Open opens the recording's file for reading (http.ServeContent). The caller
// closes it. A recording in progress can be opened; it is still growing.
// Only a regular file at <dir>/<camera>/<id> is served: a symlink in place of
// the file or of its camera folder, or anything else that is not a regular
// file, is ErrNotFound.
func (c *Catalog) Open(id string) (*os.File, Recording, error) {
	c.mu.Lock()
	e, err := c.lookupLocked(id)
	var rec Recording
	var cam, path string
	if err == nil {
		rec, cam, path = e.recording(), e.camera, e.path
	}
	c.mu.Unlock()
	if err != nil {
		return nil, Recording{}, err
	}
	f, err := c.openRegular(id, cam, path)
	if err != nil {
		return nil, Recording{}, err
	}
	return f, rec, nil
}

// openRegular opens the recording id of camera, at path, read-only without
// following symlinks. The camera folder is opened relative to the record dir
// and the file relative to the folder, both with O_NOFOLLOW, so that
// swapping either for a link, even between the checks, cannot make camrec
// serve a file from elsewhere. The record dir itself may be a link (it is
// configured, not written by camrec).
func (c *Catalog) openRegular(id, cam, path string) (*os.File, error) {
	rel, err := filepath.Rel(c.dir, path)
	if err != nil || rel != filepath.Join(cam, id) {
		return nil, fmt.Errorf("recording %s: path %s is not inside the record dir %s: %w", id, path, c.dir, defs.ErrNotFound)
	}
	gone := func() error { return fmt.Errorf("recording %s: file is gone: %w", id, defs.ErrNotFound) }
	dirFD, err := openat(unix.AT_FDCWD, c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if errors.Is(err, unix.ENOENT) {
		return nil, gone()
	}
	if err != nil {
		return nil, fmt.Errorf("open recording %s: record dir: %w", id, &fs.PathError{Op: "open", Path: c.dir, Err: err})
	}
	defer unix.Close(dirFD)
	camFD, err := openat(dirFD, cam, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, gone()
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("recording %s: camera folder %s is not a directory: %w", id, filepath.Dir(path), defs.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "open", Path: filepath.Dir(path), Err: err})
	}
	defer unix.Close(camFD)
	// O_NONBLOCK: a FIFO planted in the file's place must not block the
	// request until a writer comes; it is refused below.
	fd, err := openat(camFD, id, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY)
	notRegular := func() error {
		return fmt.Errorf("recording %s: file is not a regular file: %w", id, defs.ErrNotFound)
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, gone()
	case errors.Is(err, unix.ELOOP):
		return nil, notRegular()
	case err != nil:
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, notRegular()
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open recording %s: %w", id, &fs.PathError{Op: "fcntl", Path: path, Err: err})
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openat is unix.Openat retried on EINTR (as package os does).
func openat(dirFD int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirFD, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
