package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
)

// A relayed group's stream ends with its data: the FIN rides on the last
// frame's final packet instead of a packet of its own. Groups of one 4 KiB
// frame, sent one by one over raw QUIC (moq-lite and moq-transport), reach
// the subscriber in 3 packets each (header and 4 KiB over 1.2-1.4 KB
// packets); with the FIN apart they took 4, a third more packets to pack,
// encrypt, send and acknowledge per subscriber.
func TestGroupStreamEndsWithItsData(t *testing.T) {
	for _, protocol := range []string{"moq-lite-04", "moqt-18"} {
		t.Run(protocol, func(t *testing.T) {
			r := relaytest.Start(t, relaytest.Options{})
			pub := newPublisher(t, "clock", "frames")
			r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			sub, err := moqt.Connect(cctx, r.QUICURL(""), moqt.ConnectOptions{
				Protocols:    []string{protocol},
				Fingerprints: [][32]byte{r.Cert.Fingerprint()},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sub.CloseWithError(0, "test done"); <-sub.Done() })
			waitAnnounced(t, sub, "clock")
			reader := subscribe(t, sub, "clock", "frames")
			stats, ok := sub.Transport().(interface{ Stats() transport.Stats })
			if !ok {
				t.Fatal("the subscriber's transport has no Stats")
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			payload := make([]byte, 4<<10)
			const groups = 100
			var before transport.Stats
			for i := 0; i <= groups; i++ {
				g, err := pub.track.CreateGroup(uint64(i))
				if err != nil {
					t.Fatal(err)
				}
				_ = g.WriteFrame(payload)
				_ = g.Close()
				if _, frames, err := readGroupBytes(ctx, reader); err != nil || frames != 1 {
					t.Fatalf("group %d: %d frames, %v", i, frames, err)
				}
				if i == 0 { // the first carries the subscription's start
					time.Sleep(50 * time.Millisecond) // its ACKs and stragglers
					before = stats.Stats()
				}
			}
			time.Sleep(50 * time.Millisecond)
			after := stats.Stats()
			perGroup := float64(after.PacketsReceived-before.PacketsReceived) / groups
			t.Logf("%s: %.2f packets per 4 KiB group received, %.2f sent (ACKs)", protocol, perGroup, float64(after.PacketsSent-before.PacketsSent)/groups)
			if perGroup > 3.6 {
				t.Fatalf("%.2f packets per group of one 4 KiB frame, want 3 (the FIN on the data)", perGroup)
			}
		})
	}
}

// readGroupBytes reads one whole group and returns its sequence and frame count.
func readGroupBytes(ctx context.Context, r *moqt.TrackReader) (uint64, int, error) {
	g, err := r.NextGroup(ctx)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for {
		if _, err := g.ReadFrame(ctx); err != nil {
			if err.Error() == "EOF" {
				return g.Sequence(), n, nil
			}
			return g.Sequence(), n, err
		}
		n++
	}
}
