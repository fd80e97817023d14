//go:build !linux

package main

import "syscall"

// sysProcAttr puts a child in its own process group, so that a Ctrl-C in the
// terminal reaches only the harness, which then stops its children itself.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
