package ietf

import (
	"context"
	"io"
	"sync"

	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// request is one request's message exchange: a bidirectional stream of its
// own from draft-17 (and for draft-16's SUBSCRIBE_NAMESPACE), or a virtual
// stream cut out of the one control stream by controlStream through
// draft-16. The engine sees only this draft-17 model.
type request interface {
	// Read returns the next message the peer sent on the request, io.EOF
	// once the peer ended its side (FIN, or on the control stream the
	// message that ends a request: UNSUBSCRIBE, FETCH_CANCEL,
	// PUBLISH_NAMESPACE_DONE/CANCEL, UNSUBSCRIBE_NAMESPACE). Cancelling ctx
	// abandons the read.
	Read(ctx context.Context) (message.Message, error)
	// Write sends one message.
	Write(m message.Message) error
	// Close ends this side (FIN); the peer may still send.
	Close()
	// Cancel abandons the request in both directions (reset and
	// STOP_SENDING), with a data-stream reset code.
	Cancel(code uint64)
	// Stopped is closed when the peer stopped reading (STOP_SENDING) or the
	// request was cancelled; never on the control stream.
	Stopped() <-chan struct{}
}

// streamRequest is a request on its own bidirectional stream.
type streamRequest struct {
	str transport.Stream
	rr  *recordingReader
	r   *wire.Reader
	v   message.Version

	wmu sync.Mutex
	buf []byte
}

func newStreamRequest(str transport.Stream, v message.Version) *streamRequest {
	rr := &recordingReader{r: str}
	return &streamRequest{str: str, rr: rr, r: wire.NewReader(rr), v: v}
}

func (q *streamRequest) Read(ctx context.Context) (message.Message, error) {
	stop := context.AfterFunc(ctx, func() { q.str.CancelRead(uint32(message.ResetCancelled)) })
	defer stop()
	m, err := message.ReadControl(q.r, q.v)
	return m, q.rr.cause(err)
}

func (q *streamRequest) Write(m message.Message) error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	b, err := message.AppendControl(q.buf[:0], m, q.v)
	if err != nil {
		return err
	}
	q.buf = b
	_, err = q.str.Write(b)
	return err
}

func (q *streamRequest) Close() { _ = q.str.Close() }

func (q *streamRequest) Cancel(code uint64) {
	q.str.CancelWrite(uint32(code))
	q.str.CancelRead(uint32(code))
}

func (q *streamRequest) Stopped() <-chan struct{} { return q.str.Context().Done() }

// recordingReader remembers the stream's own read error (a reset, the
// session's end), so a decoder's failure can be told apart from the
// transport's: only the former is the peer's protocol violation.
type recordingReader struct {
	r   io.Reader
	err error
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF && rr.err == nil {
		rr.err = err
	}
	return n, err
}

// cause returns the transport's error when there was one, else err.
func (rr *recordingReader) cause(err error) error {
	if err != nil && rr.err != nil {
		return rr.err
	}
	return err
}
