package lite_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// rawPeer is a moq-lite-04 session's server side, serving origin, and a raw
// QUIC connection to it that speaks only through the codec.
func rawPeer(t *testing.T, ctx context.Context, origin *moqt.Origin) transport.Session {
	t.Helper()
	conn, _ := rawPeerSession(t, ctx, origin)
	return conn
}

// rawPeerSession is rawPeer that also returns the server's session.
func rawPeerSession(t *testing.T, ctx context.Context, origin *moqt.Origin) (transport.Session, *lite.Session) {
	t.Helper()
	cert, err := transport.GenerateCertificate([]string{"localhost", "127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(transport.ListenOptions{Addr: "127.0.0.1:0", Certs: transport.NewCertStore(cert), Protocols: moqt.Protocols()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan *lite.Session, 1)
	go func() {
		defer close(accepted)
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		if s, err := lite.Accept(ctx, conn, moqt.SessionConfig{Origin: origin}); err == nil {
			accepted <- s
		}
	}()
	conn, err := transport.DialQUIC(ctx, ln.UDPAddr().String(), "localhost", transport.DialOptions{
		Protocols:    []string{message.Lite04.ALPN()},
		Fingerprints: [][32]byte{cert.Fingerprint()},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("the server did not accept the session")
	}
	t.Cleanup(func() {
		_ = conn.CloseWithError(0, "")
		server.CloseWithError(0, "done")
		<-server.Done()
	})
	return conn, server
}

// openRequest opens a bidirectional stream with the given type and first
// message, both encoded by the codec.
func openRequest(t *testing.T, ctx context.Context, conn transport.Session, typ message.StreamType, req message.Message) transport.Stream {
	t.Helper()
	str, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatalf("open %s stream: %v", typ, err)
	}
	b := message.AppendStreamType(nil, typ)
	if req != nil {
		b = req.AppendTo(b, message.Lite04)
	}
	if _, err := str.Write(b); err != nil {
		t.Fatalf("write %s request: %v", typ, err)
	}
	return str
}

// What the publishing session writes is exactly what the codec encodes:
// SUBSCRIBE_OK naming the start group, a Group stream (type, header, frames,
// small and large) and a FETCH answer, byte for byte; an unknown stream type
// is reset without ending the session.
func TestSessionWritesThroughTheCodec(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames := [][]byte{[]byte("key"), {}, bytes.Repeat([]byte{0xab}, 5000)} // the last one is written apart from its header
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack("video")
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.CreateGroup(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := g.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	_ = g.Close()
	defer origin.Publish("room/alice", b, moqt.PublishOptions{})()
	defer b.Close()
	conn := rawPeer(t, ctx, origin)

	sub := openRequest(t, ctx, conn, message.StreamSubscribe, &message.Subscribe{ID: 7, Broadcast: "room/alice", Track: "video", Priority: 3})
	defer sub.CancelRead(uint32(wire.CodeCancel))
	resp, err := message.ReadSubscribeResponse(wire.NewReader(sub), message.Lite04)
	if err != nil {
		t.Fatalf("read SUBSCRIBE_OK: %v", err)
	}
	wantOK := message.SubscribeOK{Priority: 3, StartGroup: message.GroupAt(5)}
	if resp.Type != message.ResponseOK || resp.OK != wantOK {
		t.Fatalf("subscribe response %+v, want SUBSCRIBE_OK %+v", resp, wantOK)
	}

	uni, err := conn.AcceptUniStream(ctx)
	if err != nil {
		t.Fatalf("accept group stream: %v", err)
	}
	got, err := io.ReadAll(uni)
	if err != nil {
		t.Fatalf("read group stream: %v", err)
	}
	want := message.AppendUniStreamType(nil, message.UniStreamGroup)
	want = (&message.GroupHeader{SubscribeID: 7, Sequence: 5}).AppendTo(want, message.Lite04)
	var fetched []byte
	for _, f := range frames {
		fetched = message.AppendFrame(fetched, f)
	}
	if want = append(want, fetched...); !bytes.Equal(got, want) {
		t.Fatalf("group stream:\n got %x\nwant %x", got, want)
	}
	t.Logf("group stream: %d bytes, %d frames, as the codec encodes them", len(got), len(frames))

	fetch := openRequest(t, ctx, conn, message.StreamFetch, &message.Fetch{Broadcast: "room/alice", Track: "video", Group: 5})
	_ = fetch.Close()
	got, err = io.ReadAll(fetch)
	if err != nil {
		t.Fatalf("read fetch stream: %v", err)
	}
	if !bytes.Equal(got, fetched) {
		t.Fatalf("fetch answer:\n got %x\nwant %x", got, fetched)
	}
	t.Logf("fetch answer: %d bytes", len(got))

	unknown := openRequest(t, ctx, conn, message.StreamType(0x3f), nil)
	_, err = io.ReadAll(unknown)
	var se *transport.StreamError
	if !errors.As(err, &se) || se.Code != uint32(wire.CodeUnexpectedStream) {
		t.Fatalf("unknown stream type: %v, want a reset with %s", err, wire.CodeUnexpectedStream)
	}
	if conn.Context().Err() != nil {
		t.Fatalf("the session ended after an unknown stream type: %v", conn.Err())
	}
}
