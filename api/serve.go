package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownTimeout bounds the graceful shutdown of Serve.
const shutdownTimeout = 5 * time.Second

// Connection limits of Serve.
const (
	// ReadHeaderTimeout: a client has this long to send its request
	// headers.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout: a client has this long to send a whole request, headers
	// and body. The guard lifts it once the body is read (or at once for
	// a request without one), so that long answers (streams, events,
	// downloads) are not cut.
	ReadTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections that send nothing.
	IdleTimeout = 60 * time.Second
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes = 16 << 10
)

// Serve serves the API on ln until ctx is done, then shuts down
// gracefully: it stops accepting, ends open MJPEG streams at once (their
// request contexts are cancelled) and waits up to 5 s for other requests.
// It returns nil after a clean shutdown.
//
// There is no server-wide write timeout, which would cut long streams; the
// stream handler sets a deadline per part instead. Every request must
// arrive whole, headers and body, within ReadTimeout (headers within
// ReadHeaderTimeout); a request refused before its body was read is
// answered at once and its connection closed. An idle keep-alive
// connection is closed after IdleTimeout. With auth on, connections no
// request has authenticated yet are bounded per address and in all
// (MaxPendingConnsPerAddr, MaxPendingConns), so that a client without
// credentials cannot hold connections and memory (slowloris, slow bodies).
//
// With tlsConfig (GetCertificate set) it serves HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	lim := serveLimits{readHeader: ReadHeaderTimeout, read: ReadTimeout}
	if s.auth != nil {
		lim.pendingPerAddr, lim.pendingTotal = MaxPendingConnsPerAddr, MaxPendingConns
	}
	return serve(ctx, ln, s.engine, s.log, tlsConfig, lim)
}

// serveLimits are serve's timeouts and connection limits (tests use
// smaller ones).
type serveLimits struct {
	readHeader, read time.Duration
	// pendingPerAddr and pendingTotal bound unauthenticated connections;
	// 0: no bound.
	pendingPerAddr, pendingTotal int
}

func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, tlsConfig *tls.Config, lim serveLimits) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	if lim.pendingPerAddr > 0 {
		ln = newLimitListener(ln, lim.pendingPerAddr, lim.pendingTotal)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		TLSConfig:         tlsConfig,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       ConnContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug), // TLS handshake noise from scanners
	}
	srv.RegisterOnShutdown(cancelBase)

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("http serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("http serve on %s: %w", ln.Addr(), serr)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("http shutdown: %w", err)
	}
	log.Info("http stopped")
	return nil
}
