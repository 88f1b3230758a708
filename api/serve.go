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
	// IdleTimeout closes keep-alive connections that send nothing.
	IdleTimeout = 60 * time.Second
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes = 16 << 10
)

// connKey is the request context's key of the client connection.
type connKey struct{}

// ConnContext is http.Server.ConnContext for camrec's handler: it keeps the
// client connection in the request context, where the MJPEG stream finds
// it to write each part with one writev(2) and no copy (see partWriter).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// tcpConnOf returns the plain TCP connection a request came on, or nil
// (TLS, HTTP/2, a server without ConnContext).
func tcpConnOf(r *http.Request) *net.TCPConn {
	if r.ProtoMajor != 1 {
		return nil
	}
	c, _ := r.Context().Value(connKey{}).(*net.TCPConn)
	return c
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: it
// stops accepting, ends open MJPEG streams at once (their request contexts
// are cancelled) and waits up to 5 s for other requests. It returns nil after
// a clean shutdown.
//
// There is no server-wide write timeout, which would cut long streams; the
// stream handler sets a deadline per part instead. There is no server-wide
// read timeout either (it would end streams too): headers must arrive
// within ReadHeaderTimeout, bodies within the handler's read deadline, and
// an idle keep-alive connection is closed after IdleTimeout, so a slowloris
// client cannot hold connections.
//
// With tlsConfig (GetCertificate set) it serves HTTPS.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, tlsConfig *tls.Config) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
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
