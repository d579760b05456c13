package main

import (
	"sync"
	"syscall"
	"time"
)

// cpuMeter reports the process's CPU use since the previous reading, in
// permille of one core, for cluster heartbeats.
type cpuMeter struct {
	mu   sync.Mutex
	at   time.Time
	used time.Duration
}

func newCPUMeter() *cpuMeter {
	return &cpuMeter{at: time.Now(), used: processCPU()}
}

func (m *cpuMeter) permille() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, used := time.Now(), processCPU()
	wall := now.Sub(m.at)
	busy := used - m.used
	m.at, m.used = now, used
	if wall <= 0 || busy <= 0 {
		return 0
	}
	return uint64(busy * 1000 / wall)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
