//go:build unix

package bufreader_test

import (
	"syscall"
	"time"
)

// fairCPUTime returns the CPU time (user + system, all threads, so GC work
// is included) the process has used so far. Unlike wall time it barely moves
// when other processes compete for the cores, which makes it the steadier
// basis for paired ratios on a shared machine.
func fairCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
