package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/httpserver"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// wait returns what errc delivers, failing the test if nothing comes soon:
// a Serve that never returns is the bug these tests look for.
func wait(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := &http.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- httpserver.Serve(ctx, srv, time.Second) }()

	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve = %v, want nil after cancel", err)
	}
}

func TestServeReportsListenError(t *testing.T) {
	t.Parallel()
	busy := listen(t)
	defer busy.Close()

	srv := &http.Server{Addr: busy.Addr().String()}
	err := httpserver.Serve(t.Context(), srv, time.Second)
	if err == nil {
		t.Fatal("Serve on a port in use succeeded, want an error")
	}
}

func TestServeListenerFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})}
	shuttingDown := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(shuttingDown) })

	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- httpserver.ServeListener(ctx, srv, ln, 5*time.Second) }()

	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		resc <- result{string(body), err}
	}()

	<-started
	cancel()
	// Let the handler finish only once shutdown is under way, so the request
	// really is in flight when the context is cancelled.
	<-shuttingDown
	close(release)

	if res := <-resc; res.err != nil || res.body != "done" {
		t.Errorf("in-flight request got %q, %v; want done", res.body, res.err)
	}
	if err := wait(t, errc); err != nil {
		t.Errorf("ServeListener = %v, want nil", err)
	}
}

func TestServeListenerGivesUpAfterTimeout(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(started)
		<-stuck
	})}

	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- httpserver.ServeListener(ctx, srv, ln, 50*time.Millisecond) }()

	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()

	if err := wait(t, errc); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ServeListener = %v, want a shutdown error wrapping context.DeadlineExceeded", err)
	}
}

func TestServeListenerReturnsNilWhenShutDownElsewhere(t *testing.T) {
	t.Parallel()
	srv := &http.Server{Handler: http.NotFoundHandler()}
	errc := make(chan error, 1)
	go func() { errc <- httpserver.ServeListener(t.Context(), srv, listen(t), time.Second) }()

	// Shutdown may run before Serve has started; either way Serve must end.
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, errc); err != nil {
		t.Errorf("ServeListener = %v, want nil", err)
	}
}

func TestServeListenerReportsServeError(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	ln.Close() // Serve fails at once on a closed listener

	err := httpserver.ServeListener(t.Context(), &http.Server{}, ln, time.Second)
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServeListener = %v, want an error wrapping net.ErrClosed", err)
	}
}
