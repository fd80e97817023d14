package main

import "syscall"

// sysProcAttr puts a child in its own process group, so that a Ctrl-C in the
// terminal reaches only the harness, which then stops its children itself;
// and it asks the kernel to terminate the child if the harness dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
