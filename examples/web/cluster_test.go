package web_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/clustertest"
	"github.com/moq-cluster/moq-relay/moqt"
)

// TestBrowserPublishesOnLeafWatchedOnAnother: the page publishes over
// WebTransport on leaf A of a three-node cluster; a Go client watching on
// leaf B receives the frames through the A→B peer link.
func TestBrowserPublishesOnLeafWatchedOnAnother(t *testing.T) {
	requireHarness(t)
	for _, pkg := range pkgs {
		t.Run(pkg, func(t *testing.T) {
			root := clustertest.Start(t, clustertest.Options{ID: "root"})
			a := clustertest.Start(t, clustertest.Options{ID: "a", Roots: []*clustertest.Node{root}})
			b := clustertest.Start(t, clustertest.Options{ID: "b", Roots: []*clustertest.Node{root}})
			clustertest.Registered(t, root, a, b)

			broadcast, prefix := "cluster-"+pkg, uniquePrefix(t)
			const frames, want = 40, 5
			p := startPage(t, "--pkg", pkg, "--mode", "pub", "--relay", a.HTTPURL(""),
				"--broadcast", broadcast, "--track", "t", "--frames", strconv.Itoa(frames),
				"--interval", "100", "--prefix", prefix, "--hold", "1000", "--timeout", pageBudget)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			go func() {
				select {
				case <-p.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			// B does not announce remote broadcasts: wait for the root to
			// know the page's, then subscribe on B by name.
			for root.Cluster.Status().DirectorySize == 0 {
				if ctx.Err() != nil {
					t.Fatalf("the page's broadcast never reached the root's directory%s", p.logs())
				}
				time.Sleep(20 * time.Millisecond)
			}
			sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
			r, err := sub.Consume(broadcast).Subscribe("t", moqt.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// The subscription joins at the latest group: from there, want
			// consecutive frames.
			var got []string
			next := -1
			for len(got) < want {
				g, err := r.NextGroup(ctx)
				if err != nil {
					t.Fatalf("Go subscriber on leaf B after %q: %v%s", got, err, p.logs())
				}
				f, err := g.ReadFrame(ctx)
				if err != nil {
					t.Fatalf("Go subscriber on leaf B: group %d: %v", g.Sequence(), err)
				}
				var i int
				if _, err := fmt.Sscanf(string(f), prefix+"-%d", &i); err != nil {
					t.Fatalf("frame %q is not the page's (%s-N)", f, prefix)
				}
				if next >= 0 && i != next {
					t.Fatalf("frame %d after %q, want %d", i, got, next)
				}
				next = i + 1
				got = append(got, string(f))
			}
			t.Logf("Go subscriber on leaf B got %q", got)
			if n := a.Cluster.PeerSubscribes(); n != 1 {
				t.Errorf("leaf A served %d peer subscriptions, want 1", n)
			}
			lines := p.wait(t)
			if final := lines[len(lines)-1]; !final.OK {
				t.Fatalf("page failed in phase %q: %s%s", final.Phase, final.Error, p.logs())
			}
		})
	}
}
