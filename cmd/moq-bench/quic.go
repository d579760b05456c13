package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/moq-cluster/moq-relay/transport"
)

// The raw quic-go baseline: the smallest forwarder of the same shape as the
// relay. One server accepts a publisher connection and n subscriber
// connections (ALPN "bench"; each client first sends its role, 'P' or 'S', on
// a unidirectional stream). The publisher sends each group on a new
// unidirectional stream: an 8-byte big-endian sequence, then frames as a
// 4-byte big-endian length and the payload. The server reads each group
// stream once and copies it, frame by frame as frames arrive, onto a new
// unidirectional stream to every subscriber (one goroutine per group and
// subscriber, as the relay has); subscribers read every stream concurrently
// and count (--quic-retain makes them keep what they read, as moqt clients
// do). No announcements, no subscriptions, no cache, no priorities:
// what is left is QUIC, TLS and the copy.

const (
	benchALPN   = "bench"
	roleBytePub = 'P'
	roleByteSub = 'S'
	// fwdBuffer is how many frames of one group a subscriber's writer may
	// lag behind the server's reader before the reader waits.
	fwdBuffer = 64
)

// quicConfig mirrors the transport package's settings so the baseline runs
// with the same stream limits and timeouts as the relay.
func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:             transport.DefaultHandshakeTimeout,
		MaxIdleTimeout:                   transport.DefaultIdleTimeout,
		KeepAlivePeriod:                  transport.DefaultIdleTimeout / 3,
		MaxIncomingStreams:               transport.DefaultMaxIncomingStreams,
		MaxIncomingUniStreams:            transport.DefaultMaxIncomingUniStreams,
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
	}
}

// quicForwarder is the server side of the baseline: it accepts the
// publisher and the subscribers and copies every group stream to every
// subscriber. The in-process comparison runs it in this process; the
// quic-forwarder subcommand serves it in a process of its own (the floor
// rows of moq-bench proc).
type quicForwarder struct {
	// The forwarder owns its UDP socket and quic.Transport, as the relay's
	// listener does, so that close can stop the transport's read loop and
	// send queue. quic.ListenAddr's own transport stops them only when the
	// expiry of a closed connection's IDs leaves its map empty; when the
	// last ID goes another way (removed: a destroyed connection, a retired
	// ID), they run on (the 2 goroutines sometimes left after N = 1000).
	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, connection and forwarding goroutines

	mu    sync.Mutex
	cond  *sync.Cond // broadcast when a client registers
	subs  []*quic.Conn
	pub   *quic.Conn
	conns []*quic.Conn // every accepted connection
}

// startForwarder serves the baseline forwarder on addr (UDP, e.g.
// 127.0.0.1:0) with cert.
func startForwarder(addr string, cert *transport.Certificate) (*quicForwarder, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	f := &quicForwarder{udp: udp, tr: &quic.Transport{Conn: udp}}
	f.cond = sync.NewCond(&f.mu)
	f.ln, err = f.tr.Listen(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert.TLS},
		NextProtos:   []string{benchALPN},
	}, quicConfig())
	if err != nil {
		_ = udp.Close()
		return nil, fmt.Errorf("forwarder: listen quic %s: %w", udp.LocalAddr(), err)
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Go(f.accept)
	return f, nil
}

// addr is the UDP address the forwarder listens on.
func (f *quicForwarder) addr() string { return f.udp.LocalAddr().String() }

// waitClients waits until the publisher and n subscribers have registered.
func (f *quicForwarder) waitClients(ctx context.Context, n int) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.cond.Broadcast()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.subs) < n || f.pub == nil {
		if ctx.Err() != nil {
			return fmt.Errorf("forwarder registered %d of %d subscribers: %w", len(f.subs), n, ctx.Err())
		}
		f.cond.Wait()
	}
	return nil
}

// accept runs the server until the listener closes.
func (f *quicForwarder) accept() {
	for {
		c, err := f.ln.Accept(f.ctx)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Go(func() { f.serveConn(c) })
	}
}

// serveConn waits for the client's role (an idle client never sends one:
// this goroutine is all the forwarder keeps for it besides quic-go's), then
// registers it; for the publisher it forwards every group stream.
func (f *quicForwarder) serveConn(c *quic.Conn) {
	str, err := c.AcceptUniStream(f.ctx)
	if err != nil {
		return
	}
	var role [1]byte
	if _, err := io.ReadFull(str, role[:]); err != nil {
		return
	}
	f.mu.Lock()
	switch role[0] {
	case roleByteSub:
		f.subs = append(f.subs, c)
	case roleBytePub:
		f.pub = c
	}
	f.cond.Broadcast()
	f.mu.Unlock()
	if role[0] != roleBytePub {
		return
	}
	for {
		str, err := c.AcceptUniStream(f.ctx)
		if err != nil {
			return
		}
		f.wg.Go(func() { f.forward(str) })
	}
}

// forward copies one group stream to every subscriber.
func (f *quicForwarder) forward(in *quic.ReceiveStream) {
	var hdr [8]byte
	if _, err := io.ReadFull(in, hdr[:]); err != nil {
		in.CancelRead(0)
		return
	}
	f.mu.Lock()
	subs := f.subs
	f.mu.Unlock()

	aborted := false
	chans := make([]chan []byte, len(subs))
	for i, c := range subs {
		ch := make(chan []byte, fwdBuffer)
		chans[i] = ch
		f.wg.Go(func() { f.sendGroup(c, hdr, ch, &aborted) })
	}
	defer func() {
		for _, ch := range chans {
			close(ch)
		}
	}()
	var lenBuf [4]byte
	for {
		if _, err := io.ReadFull(in, lenBuf[:]); err != nil {
			if err != io.EOF {
				aborted = true
			}
			return
		}
		// A fresh buffer per frame, shared by every subscriber (the relay
		// does the same).
		p := make([]byte, binary.BigEndian.Uint32(lenBuf[:]))
		if _, err := io.ReadFull(in, p); err != nil {
			aborted = true
			return
		}
		for _, ch := range chans {
			ch <- p
		}
	}
}

// sendGroup writes one group to one subscriber as its frames come.
// aborted is only read after ch is closed (the close orders it).
func (f *quicForwarder) sendGroup(c *quic.Conn, hdr [8]byte, ch <-chan []byte, aborted *bool) {
	str, err := c.OpenUniStreamSync(f.ctx)
	if err != nil {
		for range ch {
		}
		return
	}
	// What a careful forwarder does, as the relay does: the header goes
	// with the first frame, each frame's length prefix with the frame, in
	// one write; the group's last frame, when the group has already ended,
	// is queued whole and the stream closed at once, so the FIN leaves with
	// the data instead of in a packet of its own.
	buf := append(make([]byte, 0, 64), hdr[:]...)
	ok := true
	p, more := <-ch
	for more {
		var next []byte
		last, peeked := false, false
		select {
		case next, more = <-ch:
			peeked, last = true, !more
		default:
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = append(buf, p...)
		if ok {
			switch {
			case last && len(buf) <= 8<<10:
				if err := str.TryWriteAll(buf); err == nil {
					buf = buf[:0]
					break
				}
				fallthrough
			default:
				if _, err := str.Write(buf); err != nil {
					ok = false
				}
				buf = buf[:0]
			}
		}
		if !peeked {
			next, more = <-ch
		}
		p = next
	}
	if !ok || *aborted {
		str.CancelWrite(1)
		return
	}
	if len(buf) > 0 { // a group without frames: its header alone
		if _, err := str.Write(buf); err != nil {
			str.CancelWrite(1)
			return
		}
	}
	_ = str.Close()
}

// close closes every connection, then the transport (which waits for its
// read loop), then the socket, and waits for the forwarder's goroutines.
func (f *quicForwarder) close() error {
	f.cancel()
	errs := []error{f.ln.Close()}
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.CloseWithError(0, "bench done")
	}
	errs = append(errs, f.tr.Close(), f.udp.Close(), waitTimeout(&f.wg, 5*time.Second))
	return errors.Join(errs...)
}

// dialForwarder connects a client to the forwarder at addr, its
// certificate pinned by fp.
func dialForwarder(ctx context.Context, addr string, fp [32]byte) (*quic.Conn, error) {
	tlsConf := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         "127.0.0.1",
		NextProtos:         []string{benchALPN},
		InsecureSkipVerify: true, // pinned below, as the relay's clients do
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || sha256.Sum256(raw[0]) != fp {
				return errors.New("certificate does not match the pin")
			}
			return nil
		},
	}
	c, err := quic.DialAddr(ctx, addr, tlsConf, quicConfig())
	if err != nil {
		return nil, fmt.Errorf("dial forwarder %s: %w", addr, err)
	}
	return c, nil
}

// sendRole announces a client's role on its first unidirectional stream.
func sendRole(ctx context.Context, c *quic.Conn, role byte) error {
	str, err := c.OpenUniStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := str.Write([]byte{role}); err != nil {
		return err
	}
	return str.Close()
}

// quicSystem is the in-process baseline: the forwarder, the publisher and
// the subscribers in this process.
type quicSystem struct {
	cert *transport.Certificate
	fwd  *quicForwarder

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // client goroutines

	mu    sync.Mutex
	conns []*quic.Conn       // client side of every connection
	kept  map[int][][][]byte // with retain: each subscriber's last groups

	// retain > 0 makes subscribers copy every frame into a fresh buffer and
	// keep their last retain groups, as the moqt client does (its track
	// cache holds moqt.DefaultCacheGroups); 0 is the minimal reader.
	retain int

	pub       *quic.Conn      // client side of the publisher
	pubLabels context.Context // profile labels of the publisher's goroutines
}

func newQUICSystem(cert *transport.Certificate, retain int) *quicSystem {
	return &quicSystem{cert: cert, retain: retain, kept: make(map[int][][][]byte)}
}

func (s *quicSystem) setup(ctx context.Context, n int, tr *tracker) error {
	var err error
	s.ctx, s.cancel = context.WithCancel(context.Background())
	labeled("quic", roleFwd, func() { s.fwd, err = startForwarder("127.0.0.1:0", s.cert) })
	if err != nil {
		return err
	}
	labeled("quic", rolePub, func() {
		s.pubLabels = pprof.WithLabels(context.Background(), pprof.Labels("system", "quic", "role", rolePub))
		s.pub, err = s.dial(ctx, roleBytePub)
	})
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	labeled("quic", roleSub, func() {
		for i := range n {
			var c *quic.Conn
			if c, err = s.dial(ctx, roleByteSub); err != nil {
				err = fmt.Errorf("subscriber %d: %w", i, err)
				return
			}
			s.wg.Go(func() { s.receive(i, c, tr) })
		}
	})
	if err != nil {
		return err
	}
	return s.fwd.waitClients(ctx, n)
}

// dial connects a client and announces its role.
func (s *quicSystem) dial(ctx context.Context, role byte) (*quic.Conn, error) {
	c, err := dialForwarder(ctx, s.fwd.addr(), s.cert.Fingerprint())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	return c, sendRole(ctx, c, role)
}

// receive reads every group stream the server opens to a subscriber.
func (s *quicSystem) receive(sub int, c *quic.Conn, tr *tracker) {
	for {
		str, err := c.AcceptUniStream(s.ctx)
		if err != nil {
			return
		}
		s.wg.Go(func() { s.readGroup(sub, str, tr) })
	}
}

func (s *quicSystem) readGroup(sub int, str *quic.ReceiveStream, tr *tracker) {
	var hdr [8]byte
	if _, err := io.ReadFull(str, hdr[:]); err != nil {
		str.CancelRead(0)
		return
	}
	seq := binary.BigEndian.Uint64(hdr[:])
	var lenBuf [4]byte
	var buf []byte
	var kept [][]byte // with retain: this group's frames
	for {
		if _, err := io.ReadFull(str, lenBuf[:]); err != nil {
			if err == io.EOF && s.retain > 0 {
				s.keep(sub, kept)
			}
			tr.group(sub, seq, err == io.EOF)
			return
		}
		size := int(binary.BigEndian.Uint32(lenBuf[:]))
		switch {
		case s.retain > 0:
			buf = make([]byte, size)
			kept = append(kept, buf)
		case cap(buf) < size:
			buf = make([]byte, size)
		}
		if _, err := io.ReadFull(str, buf[:size]); err != nil {
			tr.group(sub, seq, false)
			return
		}
		tr.frame(sub, seq, size)
	}
}

// keep retains a subscriber's last s.retain groups, as a moqt client's
// track cache does.
func (s *quicSystem) keep(sub int, frames [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := append(s.kept[sub], frames)
	if len(k) > s.retain {
		k[0] = nil
		k = k[1:]
	}
	s.kept[sub] = k
}

func (s *quicSystem) writeGroup(seq uint64, frames int, payload []byte) error {
	// Like the moq-lite publisher session, each group is written by its own
	// goroutine so the publisher never waits on the network.
	s.wg.Go(func() {
		pprof.SetGoroutineLabels(s.pubLabels)
		str, err := s.pub.OpenUniStreamSync(s.ctx)
		if err != nil {
			return
		}
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], seq)
		if _, err := str.Write(hdr[:]); err != nil {
			return
		}
		var lenBuf [4]byte
		binary.BigEndian.PutUint32(lenBuf[:], uint32(len(payload)))
		for range frames {
			if _, err := str.Write(lenBuf[:]); err != nil {
				return
			}
			if _, err := str.Write(payload); err != nil {
				return
			}
		}
		_ = str.Close()
	})
	return nil
}

func (s *quicSystem) close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.CloseWithError(0, "bench done")
	}
	var errs []error
	if s.fwd != nil {
		errs = append(errs, s.fwd.close())
	}
	errs = append(errs, waitTimeout(&s.wg, 5*time.Second))
	return errors.Join(errs...)
}
