package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
)

// memberLoad is a member's load as a root's GET /cluster shows it.
type memberLoad struct {
	CPUPercentOfOneCore float64 `json:"cpu_percent_of_one_core"`
	EgressMbps          float64 `json:"egress_mbps"`
	IngressMbps         float64 `json:"ingress_mbps"`
	Subscribers         uint64  `json:"subscribers"`
	Sessions            uint64  `json:"sessions"`
}

func (n *clusterNode) memberLoad(t *testing.T, id string) (memberLoad, bool) {
	t.Helper()
	body, err := n.get("/cluster")
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	var s struct {
		Members []struct {
			ID   string     `json:"id"`
			Load memberLoad `json:"load"`
		} `json:"members"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("%s: /cluster: %v\n%s", n.name, err, body)
	}
	for _, m := range s.Members {
		if m.ID == id {
			return m.Load, true
		}
	}
	return memberLoad{}, false
}

// A leaf's heartbeats carry its measured load: a publisher pushing about
// 4 Mbit/s into it and one client watching show as ingress and egress on
// the root's /cluster, with the subscription and both sessions.
func TestHeartbeatsCarryMeasuredLoad(t *testing.T) {
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil)
	leaf := startNode(t, cfg, "leaf", []*clusterNode{root})
	registered(t, []*clusterNode{root}, leaf)
	idle, _ := root.memberLoad(t, "leaf")

	const (
		frameSize = 25_000
		interval  = 50 * time.Millisecond // 500 kB/s: 4 Mbit/s
	)
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack("video")
	if err != nil {
		t.Fatal(err)
	}
	origin.Publish("load", b, moqt.PublishOptions{})
	connect(t, leaf, origin)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		frame := make([]byte, frameSize)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if w.WriteGroup(frame) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		b.Close()
	})
	r, err := connect(t, leaf, nil).Consume("load").Subscribe("video", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	go func() { // read and discard until the reader closes
		for {
			g, err := r.NextGroup(t.Context())
			if err != nil {
				return
			}
			for {
				if _, err := g.ReadFrame(t.Context()); err != nil {
					break
				}
			}
		}
	}()

	var load memberLoad
	start := time.Now()
	waitUntil(t, clusterTimeout, "the root to see the leaf's traffic", func() bool {
		load, _ = root.memberLoad(t, "leaf")
		return load.IngressMbps >= 1 && load.EgressMbps >= 1 && load.Subscribers >= 1
	})
	seen := time.Since(start)
	// Once the window holds only the flow, the figure is the steady rate.
	time.Sleep(loadWindow + 3*hbInterval)
	load, _ = root.memberLoad(t, "leaf")
	if load.IngressMbps < 1 || load.EgressMbps < 1 || load.Subscribers < 1 {
		t.Errorf("after a whole window of the flow the leaf reports %+v", load)
	}
	t.Logf("leaf idle: %+v", idle)
	t.Logf("leaf with ~4 Mbit/s in and one viewer, %v after the flow started (first seen after %v): %+v", time.Since(start).Round(time.Millisecond), seen.Round(time.Millisecond), load)
	if load.Sessions < 2 {
		t.Errorf("leaf reports %d sessions, want at least the publisher's and the viewer's", load.Sessions)
	}
	if load.IngressMbps > 40 || load.EgressMbps > 40 {
		t.Errorf("leaf reports %v Mbit/s in and %v out for about 4 each", load.IngressMbps, load.EgressMbps)
	}
}
