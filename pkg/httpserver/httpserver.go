// Package httpserver runs an http.Server for as long as a context lives and
// then shuts it down gracefully, so every service's main stops its HTTP side
// the same way on SIGTERM, and answers a method no route takes in JSON.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what one client can hold of a server: a client that sends
// too slowly, reads too slowly or idles is cut off, and past MaxConns a new
// connection waits for one to close.
type Limits struct {
	// ReadTimeout bounds reading a request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its response, from
	// the end of the request's headers.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its next
	// request.
	IdleTimeout time.Duration
	// MaxConns caps the open connections.
	MaxConns int
}

// DefaultLimits suit the services' small JSON APIs.
func DefaultLimits() Limits {
	return Limits{ReadTimeout: 10 * time.Second, WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute, MaxConns: 1024}
}

// New returns a server for h with l's timeouts; serve it on Limit(ln, l).
func New(h http.Handler, l Limits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
	}
}

// Limit returns ln accepting at most l.MaxConns connections at once.
func Limit(ln net.Listener, l Limits) net.Listener { return netutil.LimitListener(ln, l.MaxConns) }

// ServeListener serves srv on ln until ctx is done, then shuts srv down,
// giving in-flight requests up to shutdownTimeout to finish. It returns nil
// after a clean shutdown, the serve error if the server fails first, and a
// shutdown error if requests outlive the timeout. It takes ownership of ln,
// which the caller opens first, so that a port already in use fails the
// start at once, before anything waits for ctx.
//
// ServeListener fits an errgroup:
// g.Go(func() error { return httpserver.ServeListener(ctx, srv, ln, 10*time.Second) }).
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
		<-served //nolint:errcheck // Serve returns ErrServerClosed once Shutdown has begun; waited for so it ends first
		return fmt.Errorf("http server shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}
