package transport

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpBlackhole forwards datagrams between one client and a server until
// drop is set, then discards everything: a peer that vanished without a
// word.
type udpBlackhole struct {
	front, back *net.UDPConn
	drop        atomic.Bool
	wg          sync.WaitGroup
}

func newUDPBlackhole(t *testing.T, server *net.UDPAddr) *udpBlackhole {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, server)
	if err != nil {
		t.Fatal(err)
	}
	p := &udpBlackhole{front: front, back: back}
	var client atomic.Pointer[net.UDPAddr]
	p.wg.Add(2)
	go func() { // client → server
		defer p.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.Store(from)
			if !p.drop.Load() {
				_, _ = back.Write(buf[:n])
			}
		}
	}()
	go func() { // server → client
		defer p.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if to := client.Load(); to != nil && !p.drop.Load() {
				_, _ = front.WriteToUDP(buf[:n], to)
			}
		}
	}()
	t.Cleanup(func() {
		_ = front.Close()
		_ = back.Close()
		p.wg.Wait()
	})
	return p
}

// A peer that goes silent is ended by the idle timeout, and the session's
// error says so (webtransport-go on its own reports H3_DATAGRAM_ERROR).
func TestIdleTimeoutEndsSilentPeer(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{IdleTimeout: 300 * time.Millisecond})
		proxy := newUDPBlackhole(t, l.UDPAddr())
		ctx := testCtx(t)
		opts := pinned(l, "moql")
		var client Session
		var err error
		if b.kind == KindWebTransport {
			client, err = DialWebTransport(ctx, fmt.Sprintf("https://%s/", proxy.front.LocalAddr()), opts)
		} else {
			client, err = DialQUIC(ctx, proxy.front.LocalAddr().String(), "localhost", opts)
		}
		if err != nil {
			t.Fatalf("dial through proxy: %v", err)
		}
		t.Cleanup(func() { _ = client.CloseWithError(0, "") })
		server := accept(t, l)

		proxy.drop.Store(true)
		waitDone(t, ctx, server.Context().Done(), "server session after the client went silent")
		serr := server.Err()
		if serr == nil {
			t.Fatal("server session ended without an error")
		}
		if msg := serr.Error(); strings.Contains(msg, "DATAGRAM") || !strings.Contains(msg, "timeout") {
			t.Fatalf("server session error %q, want the idle timeout", msg)
		}
	})
}
