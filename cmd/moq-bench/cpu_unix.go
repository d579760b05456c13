//go:build unix

package main

import (
	"syscall"
	"time"
)

// usage is the process's resource use so far: user+system CPU time and
// minor page faults.
func usage() (cpu time.Duration, minorFaults int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), int64(ru.Minflt)
}
