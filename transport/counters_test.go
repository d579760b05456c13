package transport

import "testing"

// Both ends count exactly the bytes the application moved on streams of
// either kind, in each direction, on both bindings.
func TestCountersCountStreamBytes(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		var server, client Counters
		l := listen(t, ListenOptions{Counters: &server})
		opts := pinned(l, serverProtocols...)
		opts.Counters = &client
		c, s := pair(t, b, l, "", opts)
		ctx := testCtx(t)
		echoBidi(t, ctx, c, s, 1000)  // 1000 bytes up, 501 down
		sendUni(t, ctx, s, c, 3000)   // 3000 down
		sendUni(t, ctx, c, s, 64<<10) // 65536 up
		up, down := uint64(1000+64<<10), uint64(501+3000)
		got := server.Snapshot()
		t.Logf("%s: server in %d out %d, client %+v", b.name, got.In, got.Out, client.Snapshot())
		if got != (ByteCounts{In: up, Out: down}) {
			t.Errorf("server counted %+v, want in %d out %d", got, up, down)
		}
		if got := client.Snapshot(); got != (ByteCounts{In: down, Out: up}) {
			t.Errorf("client counted %+v, want in %d out %d", got, down, up)
		}
		if l.Counters() != &server {
			t.Error("Listener.Counters is not the listener's")
		}
	})
}

func TestNilCountersCountNothing(t *testing.T) {
	var c *Counters
	c.shard().addIn(5)
	c.shard().addOut(5)
	if got := c.Snapshot(); got != (ByteCounts{}) {
		t.Fatalf("nil counters: %+v", got)
	}
}
