package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite" // also registers moq-lite
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay"
	"github.com/moq-cluster/moq-relay/transport"
)

const (
	benchBroadcast = "bench"
	benchTrack     = "data"
)

// relaySystem is the product: a relay.Server on loopback, one moq-lite
// publisher session and n moq-lite subscriber sessions, all over raw QUIC
// and all in this process.
type relaySystem struct {
	cert *transport.Certificate

	ln     *transport.Listener
	srv    *relay.Server
	served chan error

	bcast   *moqt.Broadcast
	track   *moqt.TrackWriter
	pub     moqt.Session
	subs    []moqt.Session
	readers []*moqt.TrackReader

	// thin replaces the moqt subscriber sessions by minimal moq-lite
	// readers (subscribeThin).
	thin      bool
	thinConns []transport.Session

	ctx    context.Context // subscriber goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRelaySystem(cert *transport.Certificate, thin bool) *relaySystem {
	return &relaySystem{cert: cert, thin: thin}
}

func (s *relaySystem) url() string {
	return fmt.Sprintf("moqt://127.0.0.1:%d/", s.ln.UDPAddr().Port)
}

func (s *relaySystem) connect(ctx context.Context, cfg moqt.SessionConfig) (moqt.Session, error) {
	cfg.Logger = zap.NewNop()
	return moqt.Connect(ctx, s.url(), moqt.ConnectOptions{
		SessionConfig: cfg,
		Fingerprints:  [][32]byte{s.cert.Fingerprint()},
	})
}

func (s *relaySystem) setup(ctx context.Context, n int, tr *tracker) error {
	var err error
	labeled("relay", roleFwd, func() {
		s.ln, err = transport.Listen(transport.ListenOptions{
			Addr:      "127.0.0.1:0",
			Certs:     transport.NewCertStore(s.cert),
			Protocols: moqt.Protocols(),
			Logger:    zap.NewNop(),
		})
		if err != nil {
			return
		}
		s.srv = relay.New(relay.Options{Listener: s.ln, Logger: zap.NewNop()})
		s.served = make(chan error, 1)
		go func() { s.served <- s.srv.Serve() }()
	})
	if err != nil {
		return err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	origin := moqt.NewOrigin()
	s.bcast = moqt.NewBroadcast(moqt.TrackOptions{})
	if s.track, err = s.bcast.CreateTrack(benchTrack); err != nil {
		return err
	}
	origin.Publish(benchBroadcast, s.bcast, moqt.PublishOptions{})
	labeled("relay", rolePub, func() { s.pub, err = s.connect(ctx, moqt.SessionConfig{Origin: origin}) })
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}

	labeled("relay", roleSub, func() {
		if s.thin {
			err = s.waitPublished(ctx)
		}
		for i := 0; i < n && err == nil; i++ {
			if s.thin {
				err = s.subscribeThin(ctx, i, tr)
			} else {
				err = s.subscribe(ctx, i, tr)
			}
		}
	})
	return err
}

// waitPublished waits until the publisher's broadcast reached the relay.
func (s *relaySystem) waitPublished(ctx context.Context) error {
	for {
		if _, ok := s.srv.Origin().Get(benchBroadcast, false); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broadcast %q never reached the relay: %w", benchBroadcast, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// subscribeThin connects a minimal moq-lite-04 subscriber: raw QUIC, one
// SUBSCRIBE, then every group stream read into a reused buffer, as the
// baseline's subscribers read. It measures the relay without the moqt
// client library (its per-frame buffers and track cache).
func (s *relaySystem) subscribeThin(ctx context.Context, i int, tr *tracker) error {
	conn, err := dialThinSubscriber(ctx, s.ln.UDPAddr().String(), s.cert.Fingerprint(), i, s.ctx, &s.wg,
		func(u transport.ReceiveStream) { readThinGroup(i, u, tr) })
	if err != nil {
		return err
	}
	s.thinConns = append(s.thinConns, conn)
	return nil
}

// dialThinSubscriber connects subscriber i to the relay at addr over raw
// QUIC (moq-lite-04, certificate pinned by fp), subscribes to the bench
// track and hands every group stream to read, in goroutines on wg, until
// stop ends or the connection does. The subscription lasts while its
// stream stays open; the response is read in the background so setup does
// not wait a round trip per subscriber.
func dialThinSubscriber(ctx context.Context, addr string, fp [32]byte, i int, stop context.Context, wg *sync.WaitGroup,
	read func(transport.ReceiveStream)) (transport.Session, error) {
	conn, err := transport.DialQUIC(ctx, addr, "127.0.0.1", transport.DialOptions{
		Protocols:    []string{lite.Lite04.ALPN()},
		Fingerprints: [][32]byte{fp},
		Logger:       zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("subscriber %d: %w", i, err)
	}
	str, err := conn.OpenStream(ctx)
	if err != nil {
		_ = conn.CloseWithError(0, "")
		return nil, fmt.Errorf("subscriber %d: %w", i, err)
	}
	req := lite.Subscribe{ID: 0, Broadcast: benchBroadcast, Track: benchTrack}
	if _, err := str.Write(req.AppendTo(wire.AppendVarint(nil, uint64(lite.StreamSubscribe)), lite.Lite04)); err != nil {
		_ = conn.CloseWithError(0, "")
		return nil, fmt.Errorf("subscriber %d: subscribe: %w", i, err)
	}
	wg.Go(func() {
		resp, err := lite.ReadSubscribeResponse(wire.NewReader(str), lite.Lite04)
		if err != nil || resp.Type != lite.ResponseOK {
			_ = conn.CloseWithError(1, "subscribe refused")
		}
	})
	wg.Go(func() {
		for {
			u, err := conn.AcceptUniStream(stop)
			if err != nil {
				return
			}
			wg.Go(func() { read(u) })
		}
	})
	return conn, nil
}

// readThinGroup reads one moq-lite group stream.
func readThinGroup(sub int, str transport.ReceiveStream, tr *tracker) {
	r := wire.NewReader(str)
	var hdr lite.GroupHeader
	if typ, err := r.Varint(); err != nil || typ != uint64(lite.UniStreamGroup) {
		str.CancelRead(0)
		return
	}
	if err := lite.ReadMessage(r, lite.Lite04, &hdr); err != nil {
		str.CancelRead(0)
		return
	}
	var buf []byte
	for {
		size, err := lite.ReadFrameSize(r, lite.DefaultMaxFrameSize)
		if err != nil {
			tr.group(sub, hdr.Sequence, err == io.EOF)
			return
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		if err := r.ReadFull(buf[:size]); err != nil {
			tr.group(sub, hdr.Sequence, false)
			return
		}
		tr.frame(sub, hdr.Sequence, int(size))
	}
}

// subscribe connects subscriber i and starts its receiving goroutine.
func (s *relaySystem) subscribe(ctx context.Context, i int, tr *tracker) error {
	sess, err := s.connect(ctx, moqt.SessionConfig{})
	if err != nil {
		return fmt.Errorf("subscriber %d: %w", i, err)
	}
	s.subs = append(s.subs, sess)
	if i == 0 {
		// Once one subscriber sees the announcement the relay has the
		// broadcast, and every later SUBSCRIBE finds it.
		if err := waitAnnounced(ctx, sess, benchBroadcast); err != nil {
			return err
		}
	}
	r, err := sess.Consume(benchBroadcast).Subscribe(benchTrack, moqt.ReaderOptions{})
	if err != nil {
		return fmt.Errorf("subscriber %d: subscribe: %w", i, err)
	}
	s.readers = append(s.readers, r)
	s.wg.Go(func() { s.receive(i, r, tr) })
	return nil
}

func waitAnnounced(ctx context.Context, sess moqt.Session, path string) error {
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		return fmt.Errorf("announced: %w", err)
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for announcement of %q: %w", path, err)
		}
		if a.Path == path && a.Active {
			return nil
		}
	}
}

// receive reads groups until the track or the case ends.
func (s *relaySystem) receive(sub int, r *moqt.TrackReader, tr *tracker) {
	for {
		g, err := r.NextGroup(s.ctx)
		if err != nil {
			return
		}
		seq := g.Sequence()
		complete := false
		for {
			f, err := g.ReadFrame(s.ctx)
			if err == io.EOF {
				complete = true
				break
			}
			if err != nil {
				break
			}
			tr.frame(sub, seq, len(f))
		}
		tr.group(sub, seq, complete)
	}
}

func (s *relaySystem) writeGroup(seq uint64, frames int, payload []byte) error {
	g, err := s.track.AppendGroup()
	if err != nil {
		return err
	}
	if g.Sequence() != seq {
		g.Abort(nil)
		return fmt.Errorf("track assigned group %d, want %d", g.Sequence(), seq)
	}
	// The group takes ownership of the frame; payload is never modified, so
	// every frame shares it.
	for range frames {
		if err := g.WriteFrame(payload); err != nil {
			g.Abort(err)
			return err
		}
	}
	return g.Close()
}

func (s *relaySystem) close() error {
	var errs []error
	if s.cancel != nil {
		s.cancel()
	}
	for _, r := range s.readers {
		r.Close()
	}
	if s.track != nil {
		s.track.Close()
	}
	if s.bcast != nil {
		s.bcast.Close()
	}
	sessions := append([]moqt.Session{s.pub}, s.subs...)
	for _, sess := range sessions {
		if sess != nil {
			sess.CloseWithError(0, "bench done")
		}
	}
	for i, sess := range sessions {
		if sess == nil {
			continue
		}
		select {
		case <-sess.Done():
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("session %d did not end", i))
		}
	}
	for _, c := range s.thinConns {
		_ = c.CloseWithError(0, "bench done")
	}
	if s.srv != nil {
		errs = append(errs, s.srv.Close())
	}
	if s.ln != nil {
		errs = append(errs, s.ln.Close())
	}
	if s.served != nil {
		select {
		case err := <-s.served:
			errs = append(errs, err)
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("relay Serve did not return"))
		}
	}
	errs = append(errs, waitTimeout(&s.wg, 5*time.Second))
	return errors.Join(errs...)
}
