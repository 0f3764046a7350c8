//go:build !linux

package main

import "syscall"

// procAttr puts a child in its own process group (killed as a whole).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
