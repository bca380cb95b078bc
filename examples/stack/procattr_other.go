//go:build unix && !linux

package main

import "syscall"

// procAttr puts a child in its own process group (Stop ends the group). Only Linux can also tie
// the child's life to the orchestrator's; elsewhere a SIGKILLed orchestrator leaves its children.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
