package ietf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// rawPeer is a hand-driven moq-transport client over raw QUIC, built from
// the codec, for what the engine's client side never sends (FETCH,
// TRACK_STATUS) and for malformed input.
type rawPeer struct {
	t    *testing.T
	v    message.Version
	conn transport.Session
	// Through draft-16, the control stream all requests share.
	ctrl  transport.Stream
	ctrlR *wire.Reader
	next  uint64
}

// dialRaw connects to srv with proto and runs the client's SETUP with opts.
func dialRaw(t *testing.T, srv *server, proto string, opts message.Parameters) *rawPeer {
	t.Helper()
	v, ok := message.ParseALPN(proto)
	if !ok {
		t.Fatalf("unknown protocol %q", proto)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := transport.DialQUIC(ctx, fmt.Sprintf("127.0.0.1:%d", srv.ln.UDPAddr().Port), "127.0.0.1", transport.DialOptions{
		Protocols:    []string{proto},
		Fingerprints: [][32]byte{srv.cert.Fingerprint()},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "test done") })
	p := &rawPeer{t: t, v: v, conn: conn}
	if v.RequestStreams() {
		out, err := conn.OpenUniStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := message.AppendControl(nil, &message.Setup{Options: opts}, v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write(b); err != nil {
			t.Fatal(err)
		}
		in, err := conn.AcceptUniStream(ctx)
		if err != nil {
			t.Fatalf("accept server's control stream: %v", err)
		}
		if m, err := message.ReadControl(wire.NewReader(in), v); err != nil {
			t.Fatalf("read server SETUP: %v", err)
		} else if _, ok := m.(*message.Setup); !ok {
			t.Fatalf("server sent %T, not SETUP", m)
		}
		return p
	}
	p.ctrl, err = conn.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opts.SetInt(message.OptionMaxRequestID, 1000)
	cs := message.ClientSetup{Options: opts}
	if v == message.Draft14 {
		cs.Versions = []message.Version{message.Draft14}
	}
	b, err := message.AppendControl(nil, &cs, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ctrl.Write(b); err != nil {
		t.Fatal(err)
	}
	p.ctrlR = wire.NewReader(p.ctrl)
	if m, err := message.ReadControl(p.ctrlR, v); err != nil {
		t.Fatalf("read SERVER_SETUP: %v", err)
	} else if _, ok := m.(*message.ServerSetup); !ok {
		t.Fatalf("server sent %T, not SERVER_SETUP", m)
	}
	return p
}

// requestID returns the client's next request id.
func (p *rawPeer) requestID() uint64 {
	id := p.next
	p.next += 2
	return id
}

// send starts a request and returns a function reading the messages sent
// back for it (on its stream, or the control stream through draft-16,
// skipping MAX_REQUEST_ID and other requests' messages there).
func (p *rawPeer) send(m message.Message) func() (message.Message, error) {
	p.t.Helper()
	b, err := message.AppendControl(nil, m, p.v)
	if err != nil {
		p.t.Fatal(err)
	}
	if !p.v.RequestStreams() {
		if _, err := p.ctrl.Write(b); err != nil {
			p.t.Fatal(err)
		}
		return func() (message.Message, error) {
			for {
				m, err := message.ReadControl(p.ctrlR, p.v)
				if _, skip := m.(*message.MaxRequestID); skip {
					continue
				}
				return m, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := p.conn.OpenStream(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := str.Write(b); err != nil {
		p.t.Fatal(err)
	}
	r := wire.NewReader(str)
	return func() (message.Message, error) { return message.ReadControl(r, p.v) }
}

// sendRaw writes raw bytes on a new request stream, which it then ends
// (draft-17+), or on the control stream.
func (p *rawPeer) sendRaw(b []byte) {
	p.t.Helper()
	if !p.v.RequestStreams() {
		if _, err := p.ctrl.Write(b); err != nil {
			p.t.Fatal(err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := p.conn.OpenStream(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := str.Write(b); err != nil {
		p.t.Fatal(err)
	}
	_ = str.Close()
}

// fetched is one object read from a FETCH stream.
type fetched struct {
	group, object uint64
	payload       string
}

// readFetch reads the next FETCH response stream, skipping subgroup
// streams (of a subscription).
func (p *rawPeer) readFetch(ctx context.Context) (uint64, []fetched, error) {
	var r *wire.Reader
	for r == nil {
		str, err := p.conn.AcceptUniStream(ctx)
		if err != nil {
			return 0, nil, err
		}
		sr := wire.NewReader(str)
		t, err := message.ReadInt(sr, p.v)
		if err != nil {
			return 0, nil, err
		}
		if t == message.StreamFetch {
			r = sr
		} else {
			str.CancelRead(0)
		}
	}
	h, err := message.ReadFetchHeader(r, p.v)
	if err != nil {
		return 0, nil, err
	}
	fs := message.NewFetchStream(p.v, false)
	var out []fetched
	for {
		o, err := fs.ReadObject(r)
		if errors.Is(err, io.EOF) {
			return h.RequestID, out, nil
		}
		if err != nil {
			return h.RequestID, out, err
		}
		payload, err := r.ReadN(int(o.Length))
		if err != nil {
			return h.RequestID, out, err
		}
		out = append(out, fetched{group: o.Group, object: o.ID, payload: string(payload)})
	}
}

// subgroup is one subgroup stream read whole.
type subgroup struct {
	group   uint64
	whole   bool
	objects []fetched
}

// readSubgroup reads the next subgroup stream to its end.
func (p *rawPeer) readSubgroup(ctx context.Context) (subgroup, error) {
	str, err := p.conn.AcceptUniStream(ctx)
	if err != nil {
		return subgroup{}, err
	}
	r := wire.NewReader(str)
	t, err := message.ReadInt(r, p.v)
	if err != nil {
		return subgroup{}, err
	}
	h, err := message.ReadSubgroupHeader(r, t, p.v)
	if err != nil {
		return subgroup{}, err
	}
	sg := subgroup{group: h.Group, whole: h.FirstObject}
	ss := message.NewSubgroupStream(h, p.v)
	for {
		o, err := ss.ReadObject(r)
		if errors.Is(err, io.EOF) {
			return sg, nil
		}
		if err != nil {
			return sg, err
		}
		payload, err := r.ReadN(int(o.Length))
		if err != nil {
			return sg, err
		}
		sg.objects = append(sg.objects, fetched{group: h.Group, object: o.ID, payload: string(payload)})
	}
}
