package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/service"
)

// stuckMainEnv, set, makes the test binary run service.Main with a run that
// never finishes its stop, as a service whose Kafka stopped answering.
const stuckMainEnv = "SERVICE_TEST_STUCK_MAIN"

// failAfterSetupEnv, set, makes the test binary run a service that logs a
// line after Setup and fails before App.Run.
const failAfterSetupEnv = "SERVICE_TEST_FAIL_AFTER_SETUP"

// canceledMainEnv, set, makes the test binary run service.Main with a run
// that returns an error wrapping context.Canceled: "elsewhere", at once,
// from a context of its own; "signal", once a signal ends Main's context.
const canceledMainEnv = "SERVICE_TEST_CANCELED_MAIN"

func TestMain(m *testing.M) {
	switch os.Getenv(canceledMainEnv) {
	case "elsewhere":
		service.Main("canceled", func(ctx context.Context, _ []string, _ io.Writer) error {
			publish, cancel := context.WithCancel(ctx)
			cancel()
			return fmt.Errorf("publish: %w", publish.Err())
		})
	case "signal":
		service.Main("canceled", func(ctx context.Context, _ []string, out io.Writer) error {
			_, _ = io.WriteString(out, "running\n")
			<-ctx.Done()
			return fmt.Errorf("wait for kafka: %w", ctx.Err())
		})
	}
	if os.Getenv(failAfterSetupEnv) == "1" {
		service.Main("failing", func(_ context.Context, args []string, out io.Writer) error {
			cfg := testConfig{Base: service.DefaultBase(":0")}
			log, err := service.Setup("failing", args, out, &cfg)
			if err != nil {
				return err
			}
			log.Info("the last line before the failure")
			return errors.New("failed to start")
		})
	}
	if os.Getenv(stuckMainEnv) == "1" {
		service.Main("stuck", func(ctx context.Context, _ []string, out io.Writer) error {
			_, _ = io.WriteString(out, "running\n")
			<-ctx.Done()
			_, _ = io.WriteString(out, "stopping\n")
			select {} // the stop never ends
		})
	}
	os.Exit(m.Run())
}

// TestSecondSignalEndsAStuckStop sends SIGTERM to a service whose stop
// hangs: it stays up, and a second SIGTERM ends it.
func TestSecondSignalEndsAStuckStop(t *testing.T) {
	t.Parallel()
	cmd, out := startRunning(t, stuckMainEnv+"=1", nil)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	readLine(t, out, "stopping\n")
	select {
	case err := <-exited:
		t.Fatalf("the first SIGTERM ended the process (%v); it should still be stopping", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("exit: %v, want the process ended by the signal", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second SIGTERM did not end the process")
	}
}

// startRunning starts the test binary as a service with env, stderr going
// to stderr, and returns once the service wrote "running" to its stdout,
// which is then read from out.
func startRunning(t *testing.T, env string, stderr io.Writer) (cmd *exec.Cmd, out io.Reader) {
	t.Helper()
	cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	readLine(t, out, "running\n")
	return cmd, out
}

// runFailing runs the test binary as a service with env, checks that it
// exits with status 1 and returns its stdout and stderr.
func runFailing(t *testing.T, env string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	return out
}

func readLine(t *testing.T, r io.Reader, want string) {
	t.Helper()
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

// TestExitFlushesTheLog runs a service that fails after Setup, before
// App.Run: the line it logged last must still reach stderr, out of the
// logger's buffer.
func TestExitFlushesTheLog(t *testing.T) {
	t.Parallel()
	out := runFailing(t, failAfterSetupEnv+"=1")
	if !strings.Contains(string(out), "the last line before the failure") {
		t.Errorf("the last log line was lost:\n%s", out)
	}
}

// TestCanceledIsACleanStopOnlyWhenASignalAskedForIt runs a service whose
// run returns an error wrapping context.Canceled: after SIGTERM it is the
// stop that was asked for, and exits 0; with no signal the cancel came from
// elsewhere, and it exits 1 naming the error.
func TestCanceledIsACleanStopOnlyWhenASignalAskedForIt(t *testing.T) {
	t.Parallel()
	t.Run("cancelled elsewhere", func(t *testing.T) {
		t.Parallel()
		out := runFailing(t, canceledMainEnv+"=elsewhere")
		if want := "canceled: publish: context canceled"; !strings.Contains(string(out), want) {
			t.Errorf("stderr %q, want it to say %q", out, want)
		}
	})
	t.Run("stopped by SIGTERM", func(t *testing.T) {
		t.Parallel()
		var stderr strings.Builder
		cmd, _ := startRunning(t, canceledMainEnv+"=signal", &stderr)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit: %v, want status 0 for the stop SIGTERM asked for; stderr %q", err, stderr.String())
		}
	})
}
