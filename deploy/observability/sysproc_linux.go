package main

import "syscall"

// sysProcAttr puts the child in its own process group, and asks the kernel to
// terminate it if we die without stopping it, so no process is left behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
