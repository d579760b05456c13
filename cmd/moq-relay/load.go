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
//     2000 = two), not of the machine.
//   - Egress and ingress are the bytes the node's sessions wrote to and read
//     from their streams (transport.Counters: clients and node-to-node
//     links), in kbit/s.
//
// All are averaged over the last loadWindow: a burst moves the figures
// within a heartbeat, one quiet second does not zero them, and the CPU
// a node spends starting (a whole core for a moment) does not make it
// refuse its first sessions as overloaded.
//   - Subscribers are the track subscriptions served to clients now (peer
//     links not included); sessions are the open client sessions.

// loadWindow and loadSampleEvery shape the bandwidth window.
const (
	loadWindow      = 5 * time.Second
	loadSampleEvery = time.Second
)

// loadMeter measures this node's load; each call of load is one reading.
type loadMeter struct {
	cpu     *rateMeter // CPU nanoseconds
	egress  *rateMeter // bytes
	ingress *rateMeter // bytes
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

// newCPUMeter is a rateMeter of the process's CPU time in nanoseconds; see
// cpuPermille.
func newCPUMeter() *rateMeter {
	return newRateMeter(loadWindow, loadSampleEvery, func() uint64 { return uint64(processCPU()) }, time.Now)
}

// cpuPermille reads a CPU meter in permille of one core: a nanosecond of
// CPU per millisecond of wall time is one permille.
func cpuPermille(m *rateMeter) uint64 { return uint64(m.perSecond() / 1e6) }

// kbps reads a byte meter in kilobits per second.
func kbps(m *rateMeter) uint64 { return uint64(m.perSecond() * 8 / 1000) }

// load reads the measured fields; the cluster node fills the rest
// (pending tickets, overloaded, draining).
func (m *loadMeter) load() proto.Load {
	st := m.srv.Stats()
	return proto.Load{
		CPUPermille: cpuPermille(m.cpu),
		EgressKbps:  kbps(m.egress),
		IngressKbps: kbps(m.ingress),
		Subscribers: uint64(max(st.Subscriptions, 0)),
		Sessions:    uint64(st.Active),
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rateMeter turns a growing count into a rate per second over a sliding
// window. It samples the count when read, keeping at most one sample per
// every, so no goroutine runs for it: the rate is the growth from the newest
// sample at or before the window's start to now, over that time, and over
// the whole window while the meter is younger than it (nothing was counted
// before). Readings further apart than the window average over the time
// between them.
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

func (m *rateMeter) perSecond() float64 {
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
	elapsed := max(cur.at.Sub(first.at), m.window)
	if cur.count <= first.count {
		return 0
	}
	return float64(cur.count-first.count) / elapsed.Seconds()
}
