package main

import "syscall"

// procAttr puts a child in its own process group (killed as a whole) and
// has the kernel SIGKILL it if the harness dies without cleaning up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
