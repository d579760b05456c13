package ietf_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// Object properties (a LOC capture timestamp, an opaque odd-keyed one) cross
// a relay: a draft-18 publisher's reach draft-18, draft-16 and draft-14
// subscribers as they were sent, frame by frame (a frame without any stays
// without), as a relay must forward and cache properties it does not
// understand; a moq-lite subscriber gets the frames without them.
func TestObjectPropertiesThroughRelay(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	origin := moqt.NewOrigin()
	w := publishTrack(t, origin, "loc", "video")
	connectTo(t, r, r.QUICURL(""), "moqt-18", moqt.SessionConfig{Origin: origin})

	stamp := func(n uint64) []moqt.Property {
		return []moqt.Property{{Key: 0x06, Int: 1_700_000_000_000 + n}, {Key: 0x0b, Bytes: []byte{byte(n), 0xff}}}
	}
	type frame struct {
		payload string
		props   []moqt.Property
	}
	want := []frame{{"key", stamp(1)}, {"delta", stamp(2)}, {"bare", nil}}
	// Write groups until a subscriber has one: each starts at the newest.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			g, err := w.AppendGroup()
			if err != nil {
				return
			}
			for _, f := range want {
				_ = g.WriteFrameWithProperties([]byte(f.payload), f.props)
			}
			_ = g.Close()
		}
	}()

	for _, proto := range []string{"moqt-18", "moqt-16", "moq-00", "moq-lite-04"} {
		sub := connectTo(t, r, r.WebTransportURL(""), proto, moqt.SessionConfig{})
		var tr *moqt.TrackReader
		var g *moqt.GroupReader
		for g == nil {
			var err error
			if tr, err = sub.Consume("loc").Subscribe("video", moqt.ReaderOptions{}); err != nil {
				t.Fatal(err)
			}
			gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
			g, err = tr.NextGroup(gctx)
			gcancel()
			if err != nil {
				tr.Close()
				if ctx.Err() != nil {
					t.Fatalf("%s: no group: %v", proto, err)
				}
				time.Sleep(50 * time.Millisecond) // the announcement may still be on its way
			}
		}
		for i, f := range want {
			p, props, err := g.ReadFrameWithProperties(ctx)
			if err != nil {
				t.Fatalf("%s: frame %d: %v", proto, i, err)
			}
			wantProps := f.props
			if proto == "moq-lite-04" {
				wantProps = nil // moq-lite has no properties
			}
			if string(p) != f.payload || !reflect.DeepEqual(props, wantProps) {
				t.Errorf("%s: frame %d is %q with %v, want %q with %v", proto, i, p, props, f.payload, wantProps)
			}
		}
		tr.Close()
		t.Logf("draft-18 publisher → %s: %d frames, properties as sent", proto, len(want))
	}
}
