//go:build unix

package kernels

import (
	"syscall"
	"time"
)

// processCPUTime returns the user plus system CPU time of the whole process so far.
func processCPUTime() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
