package servicetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

// fatalRecorder is a testing.TB that records Fatalf calls instead of ending
// the test, so a test can check that a helper fails the test it is given.
type fatalRecorder struct {
	testing.TB // nil: any method not defined here panics
	fatals     []string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

// untilDone is a RunFunc that serves until its context ends, as a service
// does, and then stops cleanly.
func untilDone(ctx context.Context, _ []string, _ io.Writer) error {
	<-ctx.Done()
	return nil
}

func TestStartPassesArgsAndStopReturnsNilAfterACleanStop(t *testing.T) {
	t.Parallel()
	got := make(chan []string, 1)
	r := servicetest.Start(t, func(ctx context.Context, args []string, out io.Writer) error {
		got <- args
		return untilDone(ctx, args, out)
	}, "--http-addr", "127.0.0.1:1")

	if args, want := <-got, []string{"--http-addr", "127.0.0.1:1"}; !slices.Equal(args, want) {
		t.Errorf("run got args %q, want %q", args, want)
	}
	f := &fatalRecorder{}
	r.FailIfExited(f)
	if len(f.fatals) != 0 {
		t.Errorf("FailIfExited while run serves: %q, want no failure", f.fatals)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("Stop = %v, want nil", err)
	}
}

func TestStopReturnsRunsError(t *testing.T) {
	t.Parallel()
	errBadConfig := errors.New("bad config")
	r := servicetest.Start(t, func(context.Context, []string, io.Writer) error { return errBadConfig })

	if err := r.Stop(); !errors.Is(err, errBadConfig) {
		t.Errorf("Stop = %v, want %v", err, errBadConfig)
	}
	// Stop has seen run return, so the service has exited.
	f := &fatalRecorder{}
	r.FailIfExited(f)
	if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], errBadConfig.Error()) {
		t.Errorf("FailIfExited after run returned: %q, want one failure naming %q", f.fatals, errBadConfig)
	}
}

func TestStopGivesUpOnARunThatDoesNotReturn(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	r := servicetest.Start(t, func(context.Context, []string, io.Writer) error {
		<-release // deaf to its context
		return nil
	})
	// Cleanups run last first: release run before Start's cleanup stops it.
	t.Cleanup(func() { close(release) })
	r.StopTimeout = 10 * time.Millisecond

	if err := r.Stop(); err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("Stop = %v, want an error saying run did not stop", err)
	}
}

func TestFreeAddrIsALoopbackAddressToListenOn(t *testing.T) {
	t.Parallel()
	addr := servicetest.FreeAddr(t)
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr's %s: %v", addr, err)
	}
	defer ln.Close()
	if host, port, _ := net.SplitHostPort(addr); host != "127.0.0.1" || port == "0" {
		t.Errorf("FreeAddr = %s, want 127.0.0.1 with a chosen port", addr)
	}
}
