package main

import "syscall"

// procAttr puts a child in its own process group (Stop ends the group) and has the kernel kill it
// when the orchestrator dies, even by SIGKILL, so nothing outlives the stack.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
