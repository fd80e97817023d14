package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process whose output lines are prefixed with its name.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
}

// lineWriter serialises whole lines from many processes onto one writer.
type lineWriter struct {
	mu    sync.Mutex
	out   io.Writer
	width int
	color bool
}

var palette = []string{"\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[31m"}

func (w *lineWriter) write(idx int, name, line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prefix := fmt.Sprintf("%-*s |", w.width, name)
	if w.color {
		prefix = palette[idx%len(palette)] + prefix + "\x1b[0m"
	}
	fmt.Fprintf(w.out, "%s %s\n", prefix, line)
}

// start runs path with args and extra environment, copying each line of its
// stdout and stderr to w under name. The child gets its own process group so
// that a Ctrl-C in the terminal reaches only us, and we stop the children in
// order: services first, the broker last.
func start(idx int, name, path string, args, env []string, w *lineWriter) (*proc, error) {
	// Not CommandContext: stopAll stops the children in order, services
	// before the broker, after the context has ended.
	cmd := exec.Command(path, args...) //nolint:noctx // see above
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	var copying sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		copying.Go(func() {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				w.write(idx, name, sc.Text())
			}
			// A line too long for the scanner ends the scan; keep draining,
			// or the child would block writing its output.
			_, _ = io.Copy(io.Discard, r)
		})
	}
	go func() {
		copying.Wait() // Wait must not run before the pipes are drained
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to terminate and kills it if it has not exited
// within grace.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.name, grace)
	}
}

func (p *proc) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}

// exitStatus says how a process that was not asked to stop exited: as
// exitErr does, and with status 0 too.
func (p *proc) exitStatus() error {
	if err := p.exitErr(); err != nil {
		return err
	}
	return fmt.Errorf("%s: exit status 0", p.name)
}

// waitAny returns the first process to exit, or nil when ctx ends first.
func waitAny(ctx context.Context, procs []*proc) *proc {
	exited := make(chan *proc, len(procs))
	for _, p := range procs {
		go func() {
			select {
			case <-p.done:
				exited <- p
			case <-ctx.Done():
			}
		}()
	}
	select {
	case p := <-exited:
		return p
	case <-ctx.Done():
		return nil
	}
}

// stopAll stops the services together, then the broker if procs[0] is one:
// consumers must be able to commit their offsets on the way out.
func stopAll(procs []*proc, grace time.Duration, withBroker bool) error {
	services := procs
	if withBroker && len(procs) > 0 {
		services = procs[1:]
	}
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range services {
		wg.Go(func() { errs[i] = p.stop(grace) })
	}
	wg.Wait()
	if withBroker && len(procs) > 0 {
		errs[len(procs)-1] = procs[0].stop(grace)
	}
	return errors.Join(errs...)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb") && os.Getenv("NO_COLOR") == ""
}
