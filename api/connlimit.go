package api

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// Connections that no request has authenticated yet are the ones an
// attacker without credentials can open. They are bounded per client
// address and in all, at accept time: past a bound a new connection is
// closed at once, before net/http spends a goroutine and buffers on it.
// A connection stops counting once one of its requests is authenticated
// (guard), so logged-in clients (many preview streams, the page's event
// stream) are never limited by it.
const (
	// MaxPendingConnsPerAddr: connections per client address not yet
	// authenticated. A browser opens at most 6 per host, Home Assistant
	// and scripts a few.
	MaxPendingConnsPerAddr = 64
	// MaxPendingConns: in all, from every address together.
	MaxPendingConns = 512
)

// pendingLimit counts the unauthenticated connections of a listener.
type pendingLimit struct {
	perAddr, total int

	mu     sync.Mutex
	byAddr map[netip.Addr]int
	n      int
}

// limitListener wraps a listener with a pendingLimit.
type limitListener struct {
	net.Listener
	lim *pendingLimit
}

func newLimitListener(ln net.Listener, perAddr, total int) *limitListener {
	return &limitListener{Listener: ln, lim: &pendingLimit{perAddr: perAddr, total: total, byAddr: map[netip.Addr]int{}}}
}

// Accept returns the next connection within the limits, closing those
// over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		if !l.lim.take(addr) {
			_ = c.Close()
			continue
		}
		pc := &pendingConn{lim: l.lim, addr: addr}
		if tc, ok := c.(*net.TCPConn); ok {
			return &trackedTCPConn{TCPConn: tc, pendingConn: pc}, nil
		}
		return &trackedConn{Conn: c, pendingConn: pc}, nil
	}
}

func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(ta.IP)
		return a.Unmap()
	}
	return netip.Addr{}
}

func (p *pendingLimit) take(addr netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n >= p.total || p.byAddr[addr] >= p.perAddr {
		return false
	}
	p.n++
	p.byAddr[addr]++
	return true
}

func (p *pendingLimit) release(addr netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n--
	if p.byAddr[addr]--; p.byAddr[addr] <= 0 {
		delete(p.byAddr, addr)
	}
}

// pendingConn is a connection's place in the pendingLimit, given back once
// (authenticated or closed).
type pendingConn struct {
	lim  *pendingLimit
	addr netip.Addr
	once sync.Once
}

// authenticated releases the connection's place: a request on it was
// authenticated.
func (p *pendingConn) authenticated() { p.once.Do(func() { p.lim.release(p.addr) }) }

// trackedTCPConn is a TCP connection in the pendingLimit. Embedding
// *net.TCPConn keeps its ReadFrom (sendfile for recordings) and
// SyscallConn (the stream's writev).
type trackedTCPConn struct {
	*net.TCPConn
	*pendingConn
}

func (c *trackedTCPConn) Close() error {
	c.authenticated()
	return c.TCPConn.Close()
}

// trackedConn is any other connection in the pendingLimit.
type trackedConn struct {
	net.Conn
	*pendingConn
}

func (c *trackedConn) Close() error {
	c.authenticated()
	return c.Conn.Close()
}

// connKey is the request context's key of the client connection.
type connKey struct{}

// connInfo is what the handler knows of a request's connection.
type connInfo struct {
	tcp     *net.TCPConn // the plain TCP connection, nil otherwise
	pending *pendingConn // its place in the pendingLimit, nil without one
}

// ConnContext is http.Server.ConnContext for camrec's handler: it keeps
// the client connection in the request context, where the MJPEG stream
// finds it to write each part with one writev(2) and no copy (see
// partWriter), and the guard marks it authenticated.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	var ci connInfo
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
		// Over TLS the stream writes through the TLS connection.
		switch nc := c.(type) {
		case *trackedTCPConn:
			ci.pending = nc.pendingConn
		case *trackedConn:
			ci.pending = nc.pendingConn
		}
		return context.WithValue(ctx, connKey{}, &ci)
	}
	switch nc := c.(type) {
	case *net.TCPConn:
		ci.tcp = nc
	case *trackedTCPConn:
		ci.tcp, ci.pending = nc.TCPConn, nc.pendingConn
	case *trackedConn:
		ci.pending = nc.pendingConn
	}
	return context.WithValue(ctx, connKey{}, &ci)
}

// tcpConnOf returns the plain TCP connection a request came on, or nil
// (TLS, HTTP/2, a server without ConnContext).
func tcpConnOf(r *http.Request) *net.TCPConn {
	if r.ProtoMajor != 1 {
		return nil
	}
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil {
		return nil
	}
	return ci.tcp
}

// connAuthenticated marks the request's connection as authenticated: it no
// longer counts against the pending-connection limits.
func connAuthenticated(r *http.Request) {
	if ci, _ := r.Context().Value(connKey{}).(*connInfo); ci != nil && ci.pending != nil {
		ci.pending.authenticated()
	}
}
