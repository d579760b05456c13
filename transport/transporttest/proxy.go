// Package transporttest holds test kits for the network under a transport.
//
// Proxy is a user-space network path between clients and one server, for
// machines without netem: it forwards UDP datagrams with a fixed delay each
// way and drops a seeded, random fraction of them, and it forwards TCP on
// the same port number unchanged, so http:// URLs (certificate hash fetch,
// /health) work through it too.
package transporttest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// PathOptions shape the UDP path. TCP is forwarded as is.
type PathOptions struct {
	// Delay is added to every datagram, in each direction.
	Delay time.Duration
	// Loss is the fraction of datagrams dropped, in each direction (0 to 1).
	Loss float64
	// Seed seeds the loss draws, so a run can be repeated.
	Seed uint64
	// Queue bounds the datagrams held back per client and direction
	// (default 4096); beyond it they are dropped and counted as Overflow.
	Queue int
}

// Stats count datagrams by direction.
type Stats struct {
	ToServer, ToClient Counts
}

// Counts are the datagrams of one direction.
type Counts struct {
	Forwarded uint64 // delivered (after the delay)
	Lost      uint64 // dropped by the loss draw or the blackhole
	Overflow  uint64 // dropped because the queue was full
}

// Proxy forwards between clients and a server; see the package comment.
// Each client address gets its own socket towards the server, as behind a
// NAT.
type Proxy struct {
	opts      PathOptions
	udp       *net.UDPConn
	tcp       net.Listener
	target    atomic.Pointer[string] // server host:port; nil until set
	blackhole atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu      sync.Mutex
	rng     *rand.Rand
	clients map[string]*udpClient
	conns   map[net.Conn]struct{}
	closed  bool

	toServer, toClient counters
}

type counters struct{ forwarded, lost, overflow atomic.Uint64 }

func (c *counters) snapshot() Counts {
	return Counts{Forwarded: c.forwarded.Load(), Lost: c.lost.Load(), Overflow: c.overflow.Load()}
}

// udpClient is one client address and its socket towards the server.
type udpClient struct {
	addr     *net.UDPAddr
	back     *net.UDPConn
	toServer chan datagram
	toClient chan datagram
}

type datagram struct {
	due  time.Time
	data []byte
}

// Start listens on a free 127.0.0.1 port, UDP and TCP alike, and forwards to
// target (host:port, the same port for UDP and TCP). An empty target drops
// everything until SetTarget names one. The proxy is closed when the test
// ends, if not before.
func Start(t testing.TB, target string, opts PathOptions) *Proxy {
	t.Helper()
	p, err := Listen(target, opts)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Listen is Start without a test: the caller must Close the proxy.
func Listen(target string, opts PathOptions) (*Proxy, error) {
	if opts.Loss < 0 || opts.Loss > 1 {
		return nil, fmt.Errorf("loss %v outside 0..1", opts.Loss)
	}
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	udp, tcp, err := listenPair()
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		opts:    opts,
		udp:     udp,
		tcp:     tcp,
		done:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		clients: make(map[string]*udpClient),
		conns:   make(map[net.Conn]struct{}),
	}
	if target != "" {
		p.SetTarget(target)
	}
	p.wg.Add(2)
	go p.readClients()
	go p.acceptTCP()
	return p, nil
}

// listenPair finds a port free on both UDP and TCP.
func listenPair() (*net.UDPConn, net.Listener, error) {
	var last error
	for range 20 {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		last = err
	}
	return nil, nil, fmt.Errorf("no port free on both udp and tcp: %w", last)
}

// Addr is the proxy's host:port (UDP and TCP).
func (p *Proxy) Addr() string { return p.udp.LocalAddr().String() }

// Port is the proxy's port number.
func (p *Proxy) Port() int { return p.udp.LocalAddr().(*net.UDPAddr).Port }

// SetTarget names the server for clients that arrive from now on.
func (p *Proxy) SetTarget(hostport string) { p.target.Store(&hostport) }

// SetBlackhole makes the UDP path drop everything (true) or carry on
// (false): a peer that vanished without a word.
func (p *Proxy) SetBlackhole(on bool) { p.blackhole.Store(on) }

// Stats returns the datagram counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{ToServer: p.toServer.snapshot(), ToClient: p.toClient.snapshot()}
}

// Close stops forwarding and waits for every goroutine of the proxy. It is
// safe to call more than once.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.done)
		_ = p.udp.Close()
		_ = p.tcp.Close()
		for _, c := range p.clients {
			_ = c.back.Close()
		}
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	p.wg.Wait()
}

// lose draws whether the next datagram is lost.
func (p *Proxy) lose() bool {
	if p.opts.Loss == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < p.opts.Loss
}

// offer queues a copy of b for delivery after the delay, unless it is lost.
func (p *Proxy) offer(q chan<- datagram, b []byte, c *counters) {
	if p.blackhole.Load() || p.lose() {
		c.lost.Add(1)
		return
	}
	select {
	case q <- datagram{due: time.Now().Add(p.opts.Delay), data: append([]byte(nil), b...)}:
	default:
		c.overflow.Add(1)
	}
}

// deliver sends queued datagrams when they are due, in order, until the
// proxy closes.
func (p *Proxy) deliver(q <-chan datagram, send func([]byte) error, c *counters) {
	defer p.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var d datagram
		select {
		case d = <-q:
		case <-p.done:
			return
		}
		if wait := time.Until(d.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.done:
				return
			}
		}
		if send(d.data) == nil {
			c.forwarded.Add(1)
		}
	}
}

// readClients reads datagrams from clients until the proxy closes.
func (p *Proxy) readClients() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error surfaced on the socket
		}
		c := p.client(from)
		if c == nil {
			p.toServer.lost.Add(1)
			continue
		}
		p.offer(c.toServer, buf[:n], &p.toServer)
	}
}

// client returns the state for a client address, creating it (and its
// socket towards the server) on its first datagram; nil when there is no
// target yet or the proxy is closing.
func (p *Proxy) client(from *net.UDPAddr) *udpClient {
	key := from.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok || p.closed {
		return c
	}
	target := p.target.Load()
	if target == nil {
		return nil
	}
	raddr, err := net.ResolveUDPAddr("udp", *target)
	if err != nil {
		return nil
	}
	back, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil
	}
	c := &udpClient{
		addr:     from,
		back:     back,
		toServer: make(chan datagram, p.opts.Queue),
		toClient: make(chan datagram, p.opts.Queue),
	}
	p.clients[key] = c
	p.wg.Add(3)
	go p.deliver(c.toServer, func(b []byte) error { _, err := back.Write(b); return err }, &p.toServer)
	go p.deliver(c.toClient, func(b []byte) error { _, err := p.udp.WriteToUDP(b, c.addr); return err }, &p.toClient)
	go p.readServer(c)
	return c
}

// readServer reads the server's datagrams for one client until the proxy
// closes.
func (p *Proxy) readServer(c *udpClient) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.back.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP port unreachable while the server restarts: keep going.
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.offer(c.toClient, buf[:n], &p.toClient)
	}
}

// acceptTCP forwards each TCP connection to the target's TCP port.
func (p *Proxy) acceptTCP() {
	defer p.wg.Done()
	for {
		conn, err := p.tcp.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(conn) {
			_ = conn.Close()
			return
		}
		p.wg.Add(1)
		go p.forwardTCP(conn)
	}
}

// track registers conn so Close can end it; false once closing.
func (p *Proxy) track(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[conn] = struct{}{}
	return true
}

func (p *Proxy) untrack(conn net.Conn) {
	p.mu.Lock()
	delete(p.conns, conn)
	p.mu.Unlock()
	_ = conn.Close()
}

func (p *Proxy) forwardTCP(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	target := p.target.Load()
	if target == nil {
		return
	}
	server, err := net.DialTimeout("tcp", *target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	copied := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // pass the end on; the other direction may still run
		}
		copied <- struct{}{}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		pipe(server, client)
	}()
	pipe(client, server)
	<-copied
	<-copied
}

// HostPort joins 127.0.0.1 and port, for targets named by port.
func HostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
