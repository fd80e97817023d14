package service_test

import (
	"context"
	"errors"
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

func TestMain(m *testing.M) {
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
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stuckMainEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	readLine(t, out, "running\n")
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
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), failAfterSetupEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "the last line before the failure") {
		t.Errorf("the last log line was lost:\n%s", out)
	}
}
