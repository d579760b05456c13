package transport

import (
	"context"
	"errors"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// Raw QUIC streams. Every wrapper counts the bytes it moves into its
// session's shard of the Counters (m, nil: not counted).

type quicStream struct {
	s *quic.Stream
	m *counterShard
}

func (s quicStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	s.m.addIn(n)
	return n, convertError(err)
}
func (s quicStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	s.m.addOut(n)
	return n, convertError(err)
}
func (s quicStream) Close() error                        { return s.s.Close() }
func (s quicStream) CancelWrite(code uint32)             { s.s.CancelWrite(quic.StreamErrorCode(code)) }
func (s quicStream) CancelRead(code uint32)              { s.s.CancelRead(quic.StreamErrorCode(code)) }
func (s quicStream) SetPriority(urgency int8, incr bool) { s.s.SetPriority(urgency, incr) }
func (s quicStream) Context() context.Context            { return s.s.Context() }

type quicSendStream struct {
	s *quic.SendStream
	m *counterShard
}

func (s quicSendStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	s.m.addOut(n)
	return n, convertError(err)
}
func (s quicSendStream) TryWriteAll(p []byte) error {
	err := s.s.TryWriteAll(p)
	if err == nil {
		s.m.addOut(len(p))
		return nil
	}
	if errors.Is(err, quic.ErrWouldBlock) {
		return ErrWouldBlock
	}
	return convertError(err)
}
func (s quicSendStream) Close() error                        { return s.s.Close() }
func (s quicSendStream) CancelWrite(code uint32)             { s.s.CancelWrite(quic.StreamErrorCode(code)) }
func (s quicSendStream) SetPriority(urgency int8, incr bool) { s.s.SetPriority(urgency, incr) }
func (s quicSendStream) Context() context.Context            { return s.s.Context() }

type quicReceiveStream struct {
	s *quic.ReceiveStream
	m *counterShard
}

func (s quicReceiveStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	s.m.addIn(n)
	return n, convertError(err)
}
func (s quicReceiveStream) CancelRead(code uint32) { s.s.CancelRead(quic.StreamErrorCode(code)) }

// WebTransport streams. webtransport-go v0.13 does not expose stream
// priorities, so SetPriority is a no-op on this binding.

type wtStream struct {
	s *webtransport.Stream
	m *counterShard
}

func (s wtStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	s.m.addIn(n)
	return n, convertError(err)
}
func (s wtStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	s.m.addOut(n)
	return n, convertError(err)
}
func (s wtStream) Close() error             { return s.s.Close() }
func (s wtStream) CancelWrite(code uint32)  { s.s.CancelWrite(webtransport.StreamErrorCode(code)) }
func (s wtStream) CancelRead(code uint32)   { cancelWTRead(s.s, code) }
func (s wtStream) SetPriority(int8, bool)   {}
func (s wtStream) Context() context.Context { return s.s.Context() }

type wtSendStream struct {
	s *webtransport.SendStream
	m *counterShard
}

func (s wtSendStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	s.m.addOut(n)
	return n, convertError(err)
}
func (s wtSendStream) Close() error             { return s.s.Close() }
func (s wtSendStream) CancelWrite(code uint32)  { s.s.CancelWrite(webtransport.StreamErrorCode(code)) }
func (s wtSendStream) SetPriority(int8, bool)   {}
func (s wtSendStream) Context() context.Context { return s.s.Context() }

type wtReceiveStream struct {
	s *webtransport.ReceiveStream
	m *counterShard
}

func (s wtReceiveStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	s.m.addIn(n)
	return n, convertError(err)
}
func (s wtReceiveStream) CancelRead(code uint32) { cancelWTRead(s.s, code) }

// cancelWTRead cancels reading and also expires the read deadline.
// webtransport-go v0.13 deregisters a stream from its session on CancelRead;
// a Read blocked concurrently that then sees the peer's WT_SESSION_GONE waits
// for a session-close notification that never reaches a deregistered stream,
// and parks forever. The deadline wakes it.
func cancelWTRead(s interface {
	CancelRead(webtransport.StreamErrorCode)
	SetReadDeadline(time.Time) error
}, code uint32) {
	s.CancelRead(webtransport.StreamErrorCode(code))
	_ = s.SetReadDeadline(time.Now())
}
