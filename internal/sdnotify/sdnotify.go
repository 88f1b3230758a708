// Package sdnotify tells systemd that the service is ready (Type=notify),
// without cgo or a library: one datagram to $NOTIFY_SOCKET.
package sdnotify

import (
	"fmt"
	"net"
)

// Notify sends state (e.g. "READY=1") to the socket named by notifySocket
// (the value of $NOTIFY_SOCKET). An empty socket means "not under systemd":
// it does nothing and returns nil.
func Notify(notifySocket, state string) error {
	if notifySocket == "" {
		return nil
	}
	addr := &net.UnixAddr{Name: notifySocket, Net: "unixgram"}
	if notifySocket[0] == '@' { // abstract socket
		addr.Name = "\x00" + notifySocket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
