package main

import (
	"sync"
	"syscall"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/relay"
	"github.com/moq-cluster/moq-relay/transport"
)

// Load measurement for cluster heartbeats (proto.Load): what thresholds
// and allocation compare between nodes.
//
//   - CPU is the process's, in permille of one core (1000 = one core busy,
//     2000 = two), averaged since the previous heartbeat; not of the machine.
//   - Egress and ingress are the bytes the node's sessions wrote to and read
//     from their streams (transport.Counters: clients and, where the cluster
//     counts them, node-to-node links), in kbit/s over the last
//     loadWindow, so a burst moves the figure within a heartbeat and one
//     quiet second does not zero it.
//   - Subscribers are the track subscriptions served to clients now (peer
//     links not included); sessions are the open client sessions.

// loadWindow and loadSampleEvery shape the bandwidth window.
const (
	loadWindow      = 5 * time.Second
	loadSampleEvery = time.Second
)

// loadMeter measures this node's load; each call of load is one reading.
type loadMeter struct {
	cpu     *cpuMeter
	egress  *rateMeter
	ingress *rateMeter
	srv     *relay.Server
}

func newLoadMeter(bytes *transport.Counters, srv *relay.Server) *loadMeter {
	return &loadMeter{
		cpu:     newCPUMeter(),
		egress:  newRateMeter(loadWindow, loadSampleEvery, func() uint64 { return bytes.Snapshot().Out }, time.Now),
		ingress: newRateMeter(loadWindow, loadSampleEvery, func() uint64 { return bytes.Snapshot().In }, time.Now),
		srv:     srv,
	}
}

// load reads the measured fields; the cluster node fills the rest
// (pending tickets, overloaded, draining).
func (m *loadMeter) load() proto.Load {
	st := m.srv.Stats()
	return proto.Load{
		CPUPermille: m.cpu.permille(),
		EgressKbps:  m.egress.kbps(),
		IngressKbps: m.ingress.kbps(),
		Subscribers: uint64(max(st.Subscriptions, 0)),
		Sessions:    uint64(st.Active),
	}
}

// cpuMeter reports the process's CPU use since the previous reading, in
// permille of one core (not of the machine: a process keeping four cores
// busy reads 4000).
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

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rateMeter turns a growing byte count into kbit/s over a sliding window.
// It samples the count when read, keeping at most one sample per every, so
// no goroutine runs for it: the rate is the growth from the newest sample
// at or before the window's start (the first sample while the meter is
// younger than the window, or the last one when readings are further apart
// than the window) to now.
type rateMeter struct {
	window, every time.Duration
	read          func() uint64
	now           func() time.Time

	mu      sync.Mutex
	samples []rateSample // oldest first; at most window/every+2
}

type rateSample struct {
	at    time.Time
	count uint64
}

func newRateMeter(window, every time.Duration, read func() uint64, now func() time.Time) *rateMeter {
	m := &rateMeter{window: window, every: every, read: read, now: now}
	m.samples = append(m.samples, rateSample{at: now(), count: read()})
	return m
}

func (m *rateMeter) kbps() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := rateSample{at: m.now(), count: m.read()}
	if cur.at.Sub(m.samples[len(m.samples)-1].at) >= m.every {
		m.samples = append(m.samples, cur)
	}
	start := cur.at.Add(-m.window)
	for len(m.samples) > 1 && !m.samples[1].at.After(start) {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	elapsed := cur.at.Sub(first.at)
	if elapsed <= 0 || cur.count <= first.count {
		return 0
	}
	bits := float64(cur.count-first.count) * 8
	return uint64(bits / elapsed.Seconds() / 1000)
}
