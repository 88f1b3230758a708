package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownTimeout bounds the graceful shutdown of Serve.
const shutdownTimeout = 5 * time.Second

// Serve serves h on ln until ctx is done, then shuts down gracefully: it
// stops accepting, ends open MJPEG streams at once (their request contexts
// are cancelled) and waits up to 5 s for other requests. It returns nil after
// a clean shutdown.
//
// There is no server-wide write timeout, which would cut long streams; the
// stream handler sets a deadline per part instead.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(cancelBase)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("http listening", "addr", ln.Addr().String())

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
