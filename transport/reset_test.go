package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

// streamKinds opens a stream from a to b, sending first so that b can
// accept it, and returns both halves.
var streamKinds = []struct {
	name string
	open func(ctx context.Context, a, b Session) (SendStream, ReceiveStream, error)
}{
	{"bidi", func(ctx context.Context, a, b Session) (SendStream, ReceiveStream, error) {
		s, err := a.OpenStream(ctx)
		if err != nil {
			return nil, nil, err
		}
		if _, err := s.Write([]byte("hello")); err != nil {
			return nil, nil, err
		}
		r, err := b.AcceptStream(ctx)
		if err != nil {
			return nil, nil, err
		}
		return s, r, nil
	}},
	{"uni", func(ctx context.Context, a, b Session) (SendStream, ReceiveStream, error) {
		s, err := a.OpenUniStream(ctx)
		if err != nil {
			return nil, nil, err
		}
		if _, err := s.Write([]byte("hello")); err != nil {
			return nil, nil, err
		}
		r, err := b.AcceptUniStream(ctx)
		if err != nil {
			return nil, nil, err
		}
		return s, r, nil
	}},
}

// directions are who writes: the dialer or the accepter.
var directions = []struct {
	name string
	pick func(client, server Session) (writer, reader Session)
}{
	{"client writes", func(c, s Session) (Session, Session) { return c, s }},
	{"server writes", func(c, s Session) (Session, Session) { return s, c }},
}

func forEachStreamCase(t *testing.T, f func(t *testing.T, ctx context.Context, w SendStream, r ReceiveStream)) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "", pinned(l, "moql"))
		for _, dir := range directions {
			for _, kind := range streamKinds {
				t.Run(dir.name+"/"+kind.name, func(t *testing.T) {
					ctx := testCtx(t)
					a, z := dir.pick(client, server)
					w, r, err := kind.open(ctx, a, z)
					if err != nil {
						t.Fatalf("open %s stream: %v", kind.name, err)
					}
					f(t, ctx, w, r)
				})
			}
		}
	})
}

// readUntilError reads r until it fails, at most until ctx ends.
func readUntilError(ctx context.Context, r io.Reader) error {
	ch := async(func() error {
		buf := make([]byte, 1024)
		for {
			if _, err := r.Read(buf); err != nil {
				return err
			}
		}
	})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("read did not fail: %w", ctx.Err())
	}
}

func TestCancelWrite(t *testing.T) {
	const code = 0x2a
	forEachStreamCase(t, func(t *testing.T, ctx context.Context, w SendStream, r ReceiveStream) {
		w.CancelWrite(code)

		err := readUntilError(ctx, r)
		se := asStreamError(t, err)
		if se.Code != code || !se.Remote {
			t.Fatalf("reader got %+v, want code %d from the peer", *se, code)
		}
		if errors.Is(err, io.EOF) {
			t.Fatalf("a reset stream must not read as a clean EOF")
		}

		// The writer's own side reports the local reset.
		waitDone(t, ctx, w.Context().Done(), "send context after CancelWrite")
		_, err = w.Write([]byte("more"))
		se = asStreamError(t, err)
		if se.Code != code || se.Remote {
			t.Fatalf("writer got %+v, want code %d, local", *se, code)
		}
	})
}

func TestCancelRead(t *testing.T) {
	const code = 0x17
	forEachStreamCase(t, func(t *testing.T, ctx context.Context, w SendStream, r ReceiveStream) {
		r.CancelRead(code)

		// STOP_SENDING ends the writer's context, then writes fail.
		waitDone(t, ctx, w.Context().Done(), "send context after the peer's CancelRead")
		_, err := w.Write([]byte("more"))
		se := asStreamError(t, err)
		if se.Code != code || !se.Remote {
			t.Fatalf("writer got %+v, want code %d from the peer", *se, code)
		}

		// The reader's own side reports the local cancellation.
		err = readUntilError(ctx, r)
		se = asStreamError(t, err)
		if se.Code != code || se.Remote {
			t.Fatalf("reader got %+v, want code %d, local", *se, code)
		}
	})
}

// Close is a clean FIN: the reader sees the data then io.EOF, and the
// writer's context ends without an error code.
func TestStreamFinish(t *testing.T) {
	forEachStreamCase(t, func(t *testing.T, ctx context.Context, w SendStream, r ReceiveStream) {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := readAll(ctx, r)
		if err != nil || string(got) != "hello" {
			t.Fatalf("read %q, %v; want hello and EOF", got, err)
		}
		waitDone(t, ctx, w.Context().Done(), "send context after Close")
	})
}

func TestSessionCloseWithError(t *testing.T) {
	const (
		code   = 0x77
		reason = "going away now"
	)
	forEachBinding(t, func(t *testing.T, b binding) {
		for _, closer := range []string{"client", "server"} {
			t.Run(closer+" closes", func(t *testing.T) {
				l := listen(t, ListenOptions{})
				client, server := pair(t, b, l, "", pinned(l, "moql"))
				ctx := testCtx(t)
				local, peer := client, server
				if closer == "server" {
					local, peer = server, client
				}
				// Waiters blocked on the peer are woken with the close.
				acceptBidi := async(func() error { _, err := peer.AcceptStream(ctx); return err })
				acceptUni := async(func() error { _, err := peer.AcceptUniStream(ctx); return err })

				if err := local.CloseWithError(code, reason); err != nil {
					t.Fatalf("CloseWithError: %v", err)
				}
				waitDone(t, ctx, local.Context().Done(), "local context")
				waitDone(t, ctx, peer.Context().Done(), "peer context")

				want := SessionError{Code: code, Reason: reason, Remote: true}
				for what, ch := range map[string]<-chan error{"AcceptStream": acceptBidi, "AcceptUniStream": acceptUni} {
					select {
					case err := <-ch:
						if se := asSessionError(t, err); *se != want {
							t.Errorf("peer %s: %+v, want %+v", what, *se, want)
						}
					case <-ctx.Done():
						t.Fatalf("peer %s still blocked after the close", what)
					}
				}
				if se := asSessionError(t, peer.Err()); *se != want {
					t.Errorf("peer Err %+v, want %+v", *se, want)
				}
				_, err := peer.OpenStream(ctx)
				if se := asSessionError(t, err); *se != want {
					t.Errorf("peer OpenStream after close: %+v, want %+v", *se, want)
				}

				wantLocal := SessionError{Code: code, Reason: reason}
				if se := asSessionError(t, local.Err()); *se != wantLocal {
					t.Errorf("local Err %+v, want %+v", *se, wantLocal)
				}
				_, err = local.OpenUniStream(ctx)
				if se := asSessionError(t, err); *se != wantLocal {
					t.Errorf("local OpenUniStream after close: %+v, want %+v", *se, wantLocal)
				}
				// A second close is harmless.
				_ = local.CloseWithError(code+1, "again")
				if se := asSessionError(t, local.Err()); se.Code != code {
					t.Errorf("second close changed Err to %+v", *se)
				}
			})
		}
	})
}

// Streams in flight when the session closes fail rather than hang.
func TestSessionCloseFailsStreams(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		client, server := pair(t, b, l, "", pinned(l, "moql"))
		ctx := testCtx(t)
		w, r, err := streamKinds[0].open(ctx, client, server)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.CloseWithError(5, "bye"); err != nil {
			t.Fatal(err)
		}
		if err := readUntilError(ctx, r); err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("server read after the session closed: %v, want an error", err)
		}
		waitDone(t, ctx, w.Context().Done(), "client send context")
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("write on a closed session succeeded")
		}
	})
}

// A WebTransport client's CloseWithError returns only once its connection
// is closed, after the close capsule had time to reach the server, so a
// process that exits right after still tells the server why it left.
func TestWebTransportClientCloseIsDeliveredBeforeReturn(t *testing.T) {
	l := listen(t, ListenOptions{})
	client, server := pair(t, bindings[1], l, "", pinned(l, "moql"))
	ctx := testCtx(t)
	if err := client.CloseWithError(0x42, "exiting"); err != nil {
		t.Fatal(err)
	}
	if err := client.(*wtSession).conn.Context().Err(); err == nil {
		t.Fatal("client connection still open after CloseWithError returned")
	}
	waitDone(t, ctx, server.Context().Done(), "server session")
	want := SessionError{Code: 0x42, Reason: "exiting", Remote: true}
	if se := asSessionError(t, server.Err()); *se != want {
		t.Fatalf("server saw %+v, want %+v", *se, want)
	}
}
