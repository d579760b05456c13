package moqt

import (
	"context"
	"io"
	"testing"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/transport"
)

// nullStream takes every write and remembers nothing.
type nullStream struct{}

func (nullStream) Write(p []byte) (int, error) { return len(p), nil }
func (nullStream) Close() error                { return nil }
func (nullStream) CancelWrite(uint32)          {}
func (nullStream) SetPriority(int8, bool)      {}
func (nullStream) Context() context.Context    { return context.Background() }
func (nullStream) TryWriteAll(p []byte) error  { return nil }

var _ transport.TryWriter = nullStream{}

// BenchmarkDelivery is the relay's own cost of one delivery, one group of
// one 1 KB frame to one subscriber, without QUIC: the group's creation in
// the track, admission, the group's goroutine and turn, the stream's
// priority and the write. Its allocations per op are what each delivery
// adds to the garbage collector's work on top of quic-go's stream (which
// allocates about as much again); they decide the GC's share of fan-out
// latency tails (moq-bench proc with GOGC=400: fanout-1000 p99 103 → 73 ms).
func BenchmarkDelivery(b *testing.B) {
	w := NewTrack("t", TrackOptions{})
	start := uint64(0)
	reader, err := w.Track().Reader(ReaderOptions{Start: &start, Forwarding: true})
	if err != nil {
		b.Fatal(err)
	}
	defer reader.Close()
	tasks := NewTasks(zap.NewNop(), func(string, error) {}, func() {})
	sent := make(chan struct{}, 1)
	frame := make([]byte, 1000)
	writeBuf := make([]byte, 0, 2048)
	d := NewDelivery(reader, tasks, DeliverySettings{}, DeliveryConfig{
		MaxLatency: 1 << 62, MaxInFlightGroups: 100, MaxInFlightBytes: 1 << 30,
		Band: func(uint8) int8 { return 1 },
		Open: func(context.Context) (transport.SendStream, error) { return nullStream{}, nil },
		Write: func(gs *GroupSend, str transport.SendStream) {
			buf := writeBuf[:0] // the dialects reuse a pooled buffer
			g := gs.Reader()
			for {
				f, err := g.ReadFrame(gs.Context())
				if err == io.EOF {
					break
				}
				if err != nil {
					return
				}
				buf, _ = gs.WriteFrame(str, buf[:0], f, 0, g.AtEnd())
				gs.Release()
			}
			sent <- struct{}{}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := w.WriteGroup(frame); err != nil {
			b.Fatal(err)
		}
		<-sent
	}
	b.StopTimer()
	cancel()
	<-served
	tasks.Close()
	tasks.Wait()
}
