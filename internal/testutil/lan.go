package testutil

import (
	"net"
	"os"
	"testing"
)

// LANAddr returns a non-loopback IPv4 address of this machine (an
// interface that is up), which a browser treats as a non-secure origin,
// as it does a LAN address. When there is none the test fails if CI is set
// and is skipped otherwise.
func LANAddr(tb testing.TB) net.IP {
	tb.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		tb.Fatalf("list network interfaces: %v", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.To4()
			}
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("no non-loopback IPv4 address on this machine: the test needs one (a LAN address)")
	}
	tb.Skip("no non-loopback IPv4 address on this machine")
	return nil
}
