package transport

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/transport/transporttest"
)

// A peer that goes silent is ended by the idle timeout, and the session's
// error says so (webtransport-go on its own reports H3_DATAGRAM_ERROR).
func TestIdleTimeoutEndsSilentPeer(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{IdleTimeout: 300 * time.Millisecond})
		proxy := transporttest.Start(t, l.UDPAddr().String(), transporttest.PathOptions{})
		ctx := testCtx(t)
		opts := pinned(l, "moql")
		var client Session
		var err error
		if b.kind == KindWebTransport {
			client, err = DialWebTransport(ctx, fmt.Sprintf("https://%s/", proxy.Addr()), opts)
		} else {
			client, err = DialQUIC(ctx, proxy.Addr(), "localhost", opts)
		}
		if err != nil {
			t.Fatalf("dial through proxy: %v", err)
		}
		t.Cleanup(func() { _ = client.CloseWithError(0, "") })
		server := accept(t, l)

		proxy.SetBlackhole(true)
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
