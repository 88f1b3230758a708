package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotifySendsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Notify(path, "READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
}

func TestNotifyWithoutSocketIsNoop(t *testing.T) {
	if err := Notify("", "READY=1"); err != nil {
		t.Fatal(err)
	}
}

func TestNotifyMissingSocketFails(t *testing.T) {
	if err := Notify(filepath.Join(t.TempDir(), "absent.sock"), "READY=1"); err == nil {
		t.Fatal("want an error for a socket that does not exist")
	}
}
