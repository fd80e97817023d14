package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a child process whose output lines go to a lineWriter under its
// name.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
}

// lineWriter serialises whole lines from many processes onto one writer,
// each prefixed with the name of its process.
type lineWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *lineWriter) write(name, line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.out, "%-20s | %s\n", name, line)
}

// start runs path with args and extra environment. The child gets its own
// process group, so that a Ctrl-C in the terminal reaches only us and we
// stop the children in order.
func start(name, path string, args, env []string, w *lineWriter) (*proc, error) {
	// Not CommandContext: stopAll stops the children in order, the shop
	// before the tools that watch it, after the context has ended.
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
				w.write(name, sc.Text())
			}
			// Keep draining past a line too long for the scanner, or the
			// child would block writing.
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
// within grace. A process stopped by our SIGTERM has done nothing wrong.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var exit *exec.ExitError
		if errors.As(p.err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
			return nil
		}
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

// stopAll stops procs in reverse order of starting: the shop before the
// tools that watch it.
func stopAll(procs []*proc, grace time.Duration) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		errs = append(errs, procs[i].stop(grace))
	}
	return errors.Join(errs...)
}

// waitHTTP waits until a GET of url answers 200, failing early if p exits.
func waitHTTP(ctx context.Context, url string, p *proc, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	for {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			if err := p.exitErr(); err != nil {
				return fmt.Errorf("%s exited before %s answered: %w", p.name, url, err)
			}
			return fmt.Errorf("%s exited with status 0 before %s answered", p.name, url)
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %s", p.name, url, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
