package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// lineFunc receives each line a process writes, without its newline. It is
// called from one goroutine per output stream, so it must be safe for
// concurrent use, and it must not keep line: the buffer is reused.
type lineFunc func(line []byte)

// process is a service binary running as a child of the harness.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result, valid once done is closed
}

// startProcess runs path with env added to the harness's environment (a
// later setting of a variable wins). Both output streams are read to their
// end, each line passed to onLine when it is not nil, so that the child never
// blocks writing its log.
func startProcess(name, path string, env []string, onLine lineFunc) (*process, error) {
	// The harness stops its children itself (stop: SIGTERM, then a kill
	// after the grace period), not by cancelling a context.
	cmd := exec.Command(path) //nolint:noctx // see above
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	var reading sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		reading.Go(func() { readLines(r, onLine) })
	}
	go func() {
		reading.Wait() // cmd.Wait closes the pipes: read them to the end first
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// readLines passes each line of r to onLine until r ends.
func readLines(r io.Reader, onLine lineFunc) {
	if onLine == nil {
		_, _ = io.Copy(io.Discard, r)
		return
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		onLine(sc.Bytes())
	}
	// A line longer than the buffer ends the scan; keep draining.
	_, _ = io.Copy(io.Discard, r)
}

// exited returns the process's exit error, or errStillRunning.
func (p *process) exited() error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s exited: %w", p.name, p.err)
		}
		return fmt.Errorf("%s exited", p.name)
	default:
		return errStillRunning
	}
}

var errStillRunning = errors.New("still running")

// stop asks the process to terminate and kills it if it has not exited
// within grace. A process that exits on SIGTERM with status 0 stopped cleanly.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.waitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.waitErr()
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.name, grace)
	}
}

func (p *process) waitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}

// peakRSS returns the most resident memory the process has used so far
// (VmHWM), in bytes.
func (p *process) peakRSS() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of %s: %w", p.name, err)
	}
	n, err := parseVMHWM(status)
	if err != nil {
		return 0, fmt.Errorf("peak RSS of %s: %w", p.name, err)
	}
	return n, nil
}

// cpuTime returns the CPU time (user and system) the process has used so
// far.
func (p *process) cpuTime() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %s: %w", p.name, err)
	}
	d, err := parseCPUTime(stat)
	if err != nil {
		return 0, fmt.Errorf("CPU time of %s: %w", p.name, err)
	}
	return d, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseCPUTime reads utime and stime, fields 14 and 15 of /proc/PID/stat.
// The command name, field 2, may hold spaces, so fields count from the last
// closing parenthesis.
func parseCPUTime(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat: no command name")
	}
	fields := bytes.Fields(stat[i+1:]) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/PID/stat: %d fields", len(fields)+2)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/PID/stat time %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseVMHWM reads the VmHWM line of a /proc/PID/status file, which the
// kernel writes in kB (KiB), and returns it in bytes.
func parseVMHWM(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", bytes.TrimSpace(line))
		}
		kib, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmHWM line %q: %w", bytes.TrimSpace(line), err)
		}
		return kib * 1024, nil
	}
	return 0, errors.New("no VmHWM line (not Linux?)")
}
