package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
)

func TestListenBindsOnePortNumber(t *testing.T) {
	store := NewCertStore(testCert(t))
	l := listen(t, ListenOptions{Certs: store})
	u, c := l.UDPAddr(), l.TCPAddr()
	if u.Port == 0 || u.Port != c.Port {
		t.Fatalf("UDP port %d and TCP port %d should be the same non-zero port", u.Port, c.Port)
	}
	if !u.IP.Equal(net.IPv4(127, 0, 0, 1)) || !c.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("bound %s and %s, want 127.0.0.1", u, c)
	}
	if l.Certificates() != store {
		t.Fatal("Certificates is not the store the listener was given")
	}
}

func TestListenErrors(t *testing.T) {
	// A port taken on UDP, and one taken on TCP.
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udpTaken := udp.LocalAddr().String()
	tcpTaken := "127.0.0.1:" + strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port)

	certs := NewCertStore(testCert(t))
	tests := []struct {
		name string
		opts ListenOptions
	}{
		{"no certificate store", ListenOptions{Addr: "127.0.0.1:0", Protocols: serverProtocols}},
		{"empty certificate store", ListenOptions{Addr: "127.0.0.1:0", Certs: NewCertStore(nil), Protocols: serverProtocols}},
		{"address without port", ListenOptions{Addr: "127.0.0.1", Certs: certs, Protocols: serverProtocols}},
		{"bad port", ListenOptions{Addr: "127.0.0.1:notaport", Certs: certs, Protocols: serverProtocols}},
		{"udp port taken", ListenOptions{Addr: udpTaken, Certs: certs, Protocols: serverProtocols}},
		{"tcp port taken", ListenOptions{Addr: tcpTaken, Certs: certs, Protocols: serverProtocols}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Listen(tt.opts)
			if err == nil {
				_ = l.Close()
				t.Fatalf("Listen(%+v) succeeded, want an error", tt.opts)
			}
		})
	}
}

func TestSessionProperties(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "room/x?jwt=abc", pinned(l, "moq-lite-04", "moql"))

		wantPath, wantQuery := "room/x", "jwt=abc"
		if b.kind == KindQUIC {
			wantPath, wantQuery = "", ""
		}
		for _, s := range []struct {
			side string
			s    Session
		}{{"client", client}, {"server", server}} {
			if got := s.s.Kind(); got != b.kind {
				t.Errorf("%s Kind %q, want %q", s.side, got, b.kind)
			}
			if got := s.s.Protocol(); got != "moq-lite-04" {
				t.Errorf("%s Protocol %q, want moq-lite-04", s.side, got)
			}
			if got := s.s.Path(); got != wantPath {
				t.Errorf("%s Path %q, want %q", s.side, got, wantPath)
			}
			if got := s.s.Query(); got != wantQuery {
				t.Errorf("%s Query %q, want %q", s.side, got, wantQuery)
			}
			if err := s.s.Err(); err != nil {
				t.Errorf("%s Err %v on an open session", s.side, err)
			}
			if err := s.s.Context().Err(); err != nil {
				t.Errorf("%s Context done on an open session: %v", s.side, err)
			}
		}
		if port(client.LocalAddr()) <= 0 || port(client.LocalAddr()) != port(server.RemoteAddr()) {
			t.Errorf("client local %s != server remote %s", client.LocalAddr(), server.RemoteAddr())
		}
		if server.LocalAddr().String() != l.UDPAddr().String() || client.RemoteAddr().String() != l.UDPAddr().String() {
			t.Errorf("server local %s / client remote %s, want the listener's %s", server.LocalAddr(), client.RemoteAddr(), l.UDPAddr())
		}
	})
}

// WebTransport paths lose their slashes at both ends; the query stays raw.
func TestWebTransportPathAndQuery(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"", "", ""},
		{"room", "room", ""},
		{"room/x/", "room/x", ""},
		{"a/b/c?jwt=abc&x=%2F", "a/b/c", "jwt=abc&x=%2F"},
		{"?only=query", "", "only=query"},
	}
	l := listen(t, ListenOptions{})
	wt := bindings[1]
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			client, server := pair(t, wt, l, tt.in, pinned(l, "moql"))
			for side, s := range map[string]Session{"client": client, "server": server} {
				if s.Path() != tt.path || s.Query() != tt.query {
					t.Errorf("%s: Path %q Query %q, want %q %q", side, s.Path(), s.Query(), tt.path, tt.query)
				}
			}
		})
	}
}

func TestStreams(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "s", pinned(l, serverProtocols...))
		ctx := testCtx(t)
		for _, size := range []int{1, 1000, 256 << 10} {
			t.Run(fmt.Sprintf("bidi client to server %d", size), func(t *testing.T) { echoBidi(t, ctx, client, server, size) })
			t.Run(fmt.Sprintf("bidi server to client %d", size), func(t *testing.T) { echoBidi(t, ctx, server, client, size) })
			t.Run(fmt.Sprintf("uni client to server %d", size), func(t *testing.T) { sendUni(t, ctx, client, server, size) })
			t.Run(fmt.Sprintf("uni server to client %d", size), func(t *testing.T) { sendUni(t, ctx, server, client, size) })
		}
	})
}

func TestConcurrentStreams(t *testing.T) {
	const n = 16
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "", pinned(l, "moql"))
		ctx := testCtx(t)

		// The server echoes every bidirectional stream it accepts.
		serverDone := async(func() error {
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				str, err := server.AcceptStream(ctx)
				if err != nil {
					return err
				}
				wg.Go(func() {
					data, err := readAll(ctx, str)
					if err == nil {
						_, err = str.Write(data)
					}
					if err == nil {
						err = str.Close()
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					return err
				}
			}
			return nil
		})
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				want := payload(4096+i, byte(i))
				str, err := client.OpenStream(ctx)
				if err != nil {
					errs <- err
					return
				}
				if _, err := str.Write(want); err != nil {
					errs <- err
					return
				}
				if err := str.Close(); err != nil {
					errs <- err
					return
				}
				got, err := readAll(ctx, str)
				if err == nil && string(got) != string(want) {
					err = fmt.Errorf("stream %d: echoed %d bytes differ from the %d sent", i, len(got), len(want))
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		wait(t, ctx, serverDone, "server")
	})
}

func TestQUICProtocolNegotiation(t *testing.T) {
	l := listen(t, ListenOptions{})
	tests := []struct {
		name    string
		offer   []string
		want    string
		wantErr bool
	}{
		{name: "server's first", offer: []string{"moq-lite-04"}, want: "moq-lite-04"},
		{name: "server's second", offer: []string{"moql"}, want: "moql"},
		{name: "unknown then known", offer: []string{"moq-lite-99", "moql"}, want: "moql"},
		// crypto/tls picks in the server's order, whatever the client prefers.
		{name: "server preference wins", offer: []string{"moql", "moq-lite-04"}, want: "moq-lite-04"},
		{name: "unknown only", offer: []string{"test-unknown"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			s, err := DialQUIC(ctx, l.UDPAddr().String(), "localhost", pinned(l, tt.offer...))
			if tt.wantErr {
				if err == nil {
					_ = s.CloseWithError(0, "")
					t.Fatalf("dial offering %v succeeded with %q, want a handshake failure", tt.offer, s.Protocol())
				}
				return
			}
			if err != nil {
				t.Fatalf("DialQUIC offering %v: %v", tt.offer, err)
			}
			t.Cleanup(func() { _ = s.CloseWithError(0, "") })
			server := accept(t, l)
			if s.Protocol() != tt.want || server.Protocol() != tt.want {
				t.Fatalf("negotiated client %q server %q, want %q", s.Protocol(), server.Protocol(), tt.want)
			}
		})
	}
	if n := len(l.queue); n != 0 {
		t.Fatalf("%d sessions left queued, want none", n)
	}
}

func TestWebTransportProtocolNegotiation(t *testing.T) {
	l := listen(t, ListenOptions{})
	wt := bindings[1]
	tests := []struct {
		name  string
		offer []string
		want  string
	}{
		{name: "server's first", offer: []string{"moq-lite-04"}, want: "moq-lite-04"},
		{name: "server's second", offer: []string{"moql"}, want: "moql"},
		// webtransport-go picks the client's first protocol the server knows.
		{name: "client preference wins", offer: []string{"moql", "moq-lite-04"}, want: "moql"},
		{name: "unknown then known", offer: []string{"moq-lite-99", "moq-lite-04"}, want: "moq-lite-04"},
		// No protocol offered: the session is still accepted, with none.
		{name: "none offered", offer: nil, want: ""},
		// Nothing in common: also accepted with no protocol (see report).
		{name: "unknown only", offer: []string{"test-unknown"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := pair(t, wt, l, "p", pinned(l, tt.offer...))
			if client.Protocol() != tt.want || server.Protocol() != tt.want {
				t.Fatalf("negotiated client %q server %q, want %q", client.Protocol(), server.Protocol(), tt.want)
			}
		})
	}
}

func TestDialVerification(t *testing.T) {
	other := newCert(t, "localhost")
	roots := x509.NewCertPool()
	roots.AddCert(testCert(t).Leaf)

	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		right := l.Certificates().Current().Fingerprint()
		tests := []struct {
			name string
			opts DialOptions
			ok   bool
		}{
			{"pinned", DialOptions{Fingerprints: [][32]byte{right}}, true},
			{"second pin matches", DialOptions{Fingerprints: [][32]byte{other.Fingerprint(), right}}, true},
			{"wrong pin", DialOptions{Fingerprints: [][32]byte{other.Fingerprint()}}, false},
			// A pin replaces chain verification: a wrong pin fails even when
			// the chain would verify.
			{"wrong pin with trusted root", DialOptions{Fingerprints: [][32]byte{other.Fingerprint()}, RootCAs: roots}, false},
			{"wrong pin with skip verify", DialOptions{Fingerprints: [][32]byte{other.Fingerprint()}, InsecureSkipVerify: true}, false},
			{"trusted root", DialOptions{RootCAs: roots}, true},
			{"system roots reject self-signed", DialOptions{}, false},
			{"untrusted root", DialOptions{RootCAs: x509.NewCertPool()}, false},
			{"insecure skip verify", DialOptions{InsecureSkipVerify: true}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				opts := tt.opts
				opts.Protocols = []string{"moql"}
				opts.HandshakeTimeout = testTimeout
				s, err := b.dial(testCtx(t), l, "v", opts)
				if !tt.ok {
					if err == nil {
						_ = s.CloseWithError(0, "")
						t.Fatal("dial succeeded, want a verification failure")
					}
					return
				}
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				t.Cleanup(func() { _ = s.CloseWithError(0, "") })
				accept(t, l)
			})
		}
		if n := len(l.queue); n != 0 {
			t.Fatalf("%d sessions queued after the failed dials, want none", n)
		}
	})
}

func TestDialArgumentErrors(t *testing.T) {
	ctx := testCtx(t)
	fp := [][32]byte{testCert(t).Fingerprint()}
	if _, err := DialQUIC(ctx, "127.0.0.1:1", "localhost", DialOptions{Fingerprints: fp}); err == nil {
		t.Error("DialQUIC without protocols succeeded")
	}
	for _, u := range []string{
		"http://127.0.0.1:1/x",
		"127.0.0.1:1",
		"://bad",
		"https://127.0.0.1:1/%zz",
	} {
		if _, err := DialWebTransport(ctx, u, DialOptions{Protocols: []string{"moql"}, Fingerprints: fp}); err == nil {
			t.Errorf("DialWebTransport(%q) succeeded", u)
		}
	}
}

// A dial whose context ends gives up and says why.
func TestDialContextCancelled(t *testing.T) {
	l := listen(t, ListenOptions{})
	forEachBinding(t, func(t *testing.T, b binding) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s, err := b.dial(ctx, l, "", pinned(l, "moql"))
		if err == nil {
			_ = s.CloseWithError(0, "")
			t.Fatal("dial with a cancelled context succeeded")
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("dial error %v does not wrap context.Canceled", err)
		}
	})
}

func TestStats(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "", pinned(l, "moql"))
		ctx := testCtx(t)
		echoBidi(t, ctx, client, server, 64<<10)
		echoBidi(t, ctx, server, client, 64<<10)
		for side, s := range map[string]Session{"client": client, "server": server} {
			st := s.Stats()
			if st.SmoothedRTT <= 0 {
				t.Errorf("%s SmoothedRTT %s, want > 0", side, st.SmoothedRTT)
			}
			if st.CongestionWindow == 0 {
				t.Errorf("%s CongestionWindow 0", side)
			}
			if st.BytesSent < 64<<10 || st.BytesReceived < 64<<10 {
				t.Errorf("%s sent %d received %d bytes, want at least the 64 KiB each way", side, st.BytesSent, st.BytesReceived)
			}
		}
	})
}

func TestSetPriority(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "", pinned(l, "moql"))
		ctx := testCtx(t)

		bidi, err := client.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		uni, err := client.OpenUniStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Every urgency, and out-of-range values, must be accepted quietly.
		for _, u := range []int8{-1, 0, 3, 7, 8, 127} {
			for _, incr := range []bool{false, true} {
				bidi.SetPriority(u, incr)
				uni.SetPriority(u, incr)
			}
		}
		bidi.SetPriority(0, false)
		uni.SetPriority(7, true)
		if _, err := bidi.Write([]byte("urgent")); err != nil {
			t.Fatal(err)
		}
		if err := bidi.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := uni.Write([]byte("background")); err != nil {
			t.Fatal(err)
		}
		if err := uni.Close(); err != nil {
			t.Fatal(err)
		}

		sb, err := server.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(ctx, sb); err != nil || string(got) != "urgent" {
			t.Fatalf("bidi read %q, %v", got, err)
		}
		su, err := server.AcceptUniStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(ctx, su); err != nil || string(got) != "background" {
			t.Fatalf("uni read %q, %v", got, err)
		}
		// The send half of an accepted stream can be prioritised too.
		sb.SetPriority(1, true)
		if _, err := sb.Write([]byte("ok")); err != nil {
			t.Fatal(err)
		}
		if err := sb.Close(); err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(ctx, bidi); err != nil || string(got) != "ok" {
			t.Fatalf("reply read %q, %v", got, err)
		}
	})
}
