// Package httpserver runs an http.Server for as long as a context lives and
// then shuts it down gracefully, so every service's main stops its HTTP side
// the same way on SIGTERM.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve listens on srv.Addr (":http" if empty) and serves until ctx is done,
// then shuts srv down, giving in-flight requests up to shutdownTimeout to
// finish. It returns nil after a clean shutdown, the listen or serve error if
// the server fails first, and a shutdown error if requests outlive the timeout.
//
// Serve fits an errgroup: g.Go(func() error { return httpserver.Serve(ctx, srv, 10*time.Second) }).
func Serve(ctx context.Context, srv *http.Server, shutdownTimeout time.Duration) error {
	addr := srv.Addr
	if addr == "" {
		addr = ":http"
	}
	// Listening here rather than in ListenAndServe makes "address already in
	// use" an immediate error from Serve instead of a race with ctx. The
	// listen ignores ctx on purpose: a signal during start-up is a clean stop,
	// which ServeListener handles, not a failed listen.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	return ServeListener(ctx, srv, ln, shutdownTimeout)
}

// ServeListener is Serve on a listener the caller opened, for tests that
// listen on port 0 and for socket activation. It takes ownership of ln.
func ServeListener(ctx context.Context, srv *http.Server, ln net.Listener, shutdownTimeout time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Stopped before ctx was done: someone called Shutdown or Close
		// (not an error), or the listener failed (an error).
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	// ctx is already cancelled, so shutting down under it would abandon
	// in-flight requests at once. Use a fresh deadline, keeping ctx's values.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Out of patience: cut the remaining connections so Serve's
		// caller can exit rather than hang on a stuck client.
		_ = srv.Close()
		<-served
		return fmt.Errorf("http server shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}
