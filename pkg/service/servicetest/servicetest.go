// Package servicetest runs a service's run function in the background of a
// test, as main runs it, and hands out loopback addresses for it to listen on.
package servicetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/service"
)

// RunFunc is a service's run function, as service.Main takes it.
type RunFunc = service.RunFunc

// DefaultStopTimeout is how long Stop waits, unless told otherwise, for run to
// return once its context has ended: long enough for a slow shutdown under the
// race detector on a shared cluster.
const DefaultStopTimeout = 60 * time.Second

// Running is a RunFunc running in the background.
type Running struct {
	// StopTimeout bounds how long Stop waits for run to return after
	// ending its context. Start sets it to DefaultStopTimeout.
	StopTimeout time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's result, set before done is closed
}

// Start runs run with args, discarding its output, until the test ends or
// Stop is called.
func Start(tb testing.TB, run RunFunc, args ...string) *Running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{StopTimeout: DefaultStopTimeout, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx, args, io.Discard)
	}()
	tb.Cleanup(func() { _ = r.Stop() })
	return r
}

// FailIfExited fails the test at once if run has already returned: a service
// that stopped will never answer what the test waits for.
func (r *Running) FailIfExited(tb testing.TB) {
	tb.Helper()
	select {
	case <-r.done:
		tb.Fatalf("run stopped early: %v", r.err)
	default:
	}
}

// Stop ends run's context and returns run's error, or an error of its own if
// run does not return within StopTimeout. Calling it again returns the same
// result as soon as run has returned.
func (r *Running) Stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(r.StopTimeout):
		return fmt.Errorf("run did not stop within %s of its context ending", r.StopTimeout)
	}
}

// FreeAddr returns a loopback host:port whose port was free a moment ago. A
// service does not report the port it listens on, so a test that wants to
// reach it must choose one rather than ask for port 0.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
