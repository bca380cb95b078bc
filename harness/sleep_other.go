//go:build !linux

package harness

import "time"

// kernelSleep: elsewhere the runtime's own sleep.
func kernelSleep(d time.Duration) { time.Sleep(d) }
