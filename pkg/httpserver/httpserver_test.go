package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/httpserver"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// get sends a GET for url with client, ended with the test.
func get(t *testing.T, client *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

// newServer returns a server for h with a header timeout, as httpserver.New
// gives the services'; the tests that use it are about ServeListener alone.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
}

// wait returns what errc delivers, failing the test if nothing comes soon:
// a ServeListener that never returns is the bug these tests look for.
func wait(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return")
		return nil
	}
}

func TestServeListenerStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := newServer(http.NotFoundHandler())
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- httpserver.ServeListener(ctx, srv, listen(t), time.Second) }()

	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("ServeListener = %v, want nil after cancel", err)
	}
}

func TestServeListenerFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
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
		resp, err := get(t, http.DefaultClient, "http://"+ln.Addr().String())
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
	srv := newServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(started)
		<-stuck
	}))

	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- httpserver.ServeListener(ctx, srv, ln, 50*time.Millisecond) }()

	go func() {
		resp, err := get(t, http.DefaultClient, "http://"+ln.Addr().String())
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
	srv := newServer(http.NotFoundHandler())
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

	err := httpserver.ServeListener(t.Context(), newServer(nil), ln, time.Second)
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServeListener = %v, want an error wrapping net.ErrClosed", err)
	}
}

// slowClient opens a connection to addr and writes data a byte at a time,
// every interval, until the server closes the connection; it returns how
// long the server let it go on.
func slowClient(t *testing.T, addr, data string, interval time.Duration) time.Duration {
	t.Helper()
	conn := dial(t, addr)
	defer conn.Close()
	start := time.Now()
	for i := 0; time.Since(start) < 10*time.Second; i = (i + 1) % len(data) {
		if _, err := conn.Write([]byte{data[i]}); err != nil {
			return time.Since(start)
		}
		// A closed connection shows on a read, which waits at most the
		// interval.
		_ = conn.SetReadDeadline(time.Now().Add(interval))
		if _, err := conn.Read(make([]byte, 512)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return time.Since(start)
		}
	}
	t.Fatalf("the server kept a client that sends a byte every %s for 10s", interval)
	return 0
}

// TestLimitsCutSlowClients sends a request a byte at a time, once in the
// headers (slowloris) and once in the body: the server cuts each off after
// its read timeout, and stops cleanly meanwhile.
func TestLimitsCutSlowClients(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"slow headers": "POST /orders HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000),
		"slow body":    "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("{", 100000),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := httpserver.DefaultLimits()
			l.ReadTimeout = 300 * time.Millisecond
			h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
			srv := httpserver.New(h, l)
			ln := listen(t)
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() { errc <- httpserver.ServeListener(ctx, srv, httpserver.Limit(ln, l), time.Second) }()

			if d := slowClient(t, ln.Addr().String(), data, 50*time.Millisecond); d > 3*time.Second {
				t.Errorf("cut off after %s, want about the read timeout, %s", d, l.ReadTimeout)
			}
			// Another slow client is connected when the stop comes: it is
			// cut by its read timeout, within the shutdown budget.
			conn := dial(t, ln.Addr().String())
			defer conn.Close()
			go func() {
				for i := 0; i < len(data); i++ {
					if _, err := conn.Write([]byte{data[i]}); err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
			time.Sleep(100 * time.Millisecond)
			cancel()
			if err := wait(t, errc); err != nil {
				t.Errorf("ServeListener = %v, want a clean stop", err)
			}
		})
	}
}

// TestLimitCapsConnections holds MaxConns connections open: the next one is
// served only once one of them closes.
func TestLimitCapsConnections(t *testing.T) {
	t.Parallel()
	l := httpserver.DefaultLimits()
	l.MaxConns = 2
	srv := httpserver.New(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), l)
	ln := listen(t)
	go func() { _ = httpserver.ServeListener(t.Context(), srv, httpserver.Limit(ln, l), time.Second) }()

	var held []net.Conn
	for range l.MaxConns {
		c := dial(t, ln.Addr().String())
		defer c.Close()
		held = append(held, c)
	}
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	try := func() error {
		resp, err := get(t, client, "http://"+ln.Addr().String()+"/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := try(); err == nil {
		t.Fatalf("a request beyond %d connections was served", l.MaxConns)
	}
	held[0].Close()
	if err := try(); err != nil {
		t.Errorf("after a connection closed: %v", err)
	}
}
