package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
)

// Stats count open sessions by binding and version, the subscriptions
// served to clients, and the frames that crossed the relay.
func TestStatsCountSessionsSubscriptionsAndFrames(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
	quicSub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	wtSub := r.Connect(t, r.WebTransportURL(""), moqt.SessionConfig{})
	waitAnnounced(t, quicSub, "live")
	waitAnnounced(t, wtSub, "live")
	readers := []*moqt.TrackReader{subscribe(t, quicSub, "live", "video"), subscribe(t, wtSub, "live", "video")}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Each subscription starts at the latest group: keep writing until
	// both readers have three groups.
	const framesPerGroup = 2
	received := 0
	for i, rd := range readers {
		for g := 0; g < 3; {
			pub.writeGroup(t, i*100+g, framesPerGroup)
			rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, frames, err := readGroup(rctx, rd)
			rcancel()
			if err != nil && ctx.Err() != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
			if err == nil {
				received += len(frames)
				g++
			}
		}
	}
	st := r.Server.Stats()
	t.Logf("stats: active %d, open %v, subscriptions %d, frames in %d out %d (subscribers read %d), groups dropped %d",
		st.Active, st.Open, st.Subscriptions, st.FramesIn, st.FramesOut, received, st.GroupsDropped)
	wantOpen := map[relay.SessionClass]int{
		{Transport: transport.KindQUIC, Version: "moq-lite-04"}:         2,
		{Transport: transport.KindWebTransport, Version: "moq-lite-04"}: 1,
	}
	if len(st.Open) != len(wantOpen) || st.Open[relay.SessionClass{Transport: transport.KindQUIC, Version: "moq-lite-04"}] != 2 ||
		st.Open[relay.SessionClass{Transport: transport.KindWebTransport, Version: "moq-lite-04"}] != 1 {
		t.Errorf("open sessions %v, want %v", st.Open, wantOpen)
	}
	if st.Subscriptions != 2 {
		t.Errorf("subscriptions served %d, want 2", st.Subscriptions)
	}
	if st.FramesOut < uint64(received) {
		t.Errorf("frames out %d, fewer than the %d the subscribers read", st.FramesOut, received)
	}
	if st.FramesIn < 3*framesPerGroup {
		t.Errorf("frames in %d, fewer than the %d of the groups read", st.FramesIn, 3*framesPerGroup)
	}

	// Subscriptions end with their readers.
	for _, rd := range readers {
		rd.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Server.Stats().Subscriptions != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.Server.Stats().Subscriptions; n != 0 {
		t.Errorf("%d subscriptions served after every reader closed", n)
	}
}
