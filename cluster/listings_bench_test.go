package cluster

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
)

// BenchmarkAnnounceReachesEveryLeaf measures what one new broadcast costs
// the cluster: it is published on one leaf, announced to the root, listed
// to every other leaf (each has a client watching announcements) and
// announced there. Reported: time until the last leaf's client sees it, and
// control-stream bytes the cluster wrote per announce (the leaf's ANNOUNCE
// plus one PATHS per other leaf; heartbeats add a little).
func BenchmarkAnnounceReachesEveryLeaf(b *testing.B) {
	for _, leaves := range []int{16, 64} {
		b.Run(fmt.Sprintf("leaves=%d", leaves), func(b *testing.B) {
			root := benchNode(b, "root", nil)
			nodes := []*Node{root}
			var watchers []*moqt.Watcher
			for i := range leaves {
				leaf := benchNode(b, fmt.Sprintf("leaf-%02d", i), []string{root.opts.URL})
				nodes = append(nodes, leaf)
				if i > 0 {
					w := leaf.opts.Origin.Watch(moqt.WatchOptions{Prefix: "live"})
					b.Cleanup(w.Close)
					watchers = append(watchers, w)
				}
			}
			waitHealthy(b, nodes[1:]...)
			publisher := nodes[1].opts.Origin
			bytes := func() int64 {
				var sum int64
				for _, n := range nodes {
					sum += n.controlSent.Load()
				}
				return sum
			}
			var samples []time.Duration
			before := bytes()
			b.ResetTimer()
			for i := range b.N {
				path := fmt.Sprintf("live/%d", i)
				start := time.Now()
				bc := moqt.NewBroadcast(moqt.TrackOptions{})
				publisher.Publish(path, bc, moqt.PublishOptions{})
				for _, w := range watchers {
					waitAnnounced(b, w, path)
				}
				samples = append(samples, time.Since(start))
				b.StopTimer()
				bc.Close() // unannounced everywhere before the next round
				for _, w := range watchers {
					waitAnnounced(b, w, path)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(percentile(samples, 0.50)/1e6, "p50-ms")
			b.ReportMetric(percentile(samples, 0.99)/1e6, "p99-ms")
			// Each round announces and unannounces once.
			b.ReportMetric(float64(bytes()-before)/float64(b.N)/2, "ctrl-bytes/announce")
		})
	}
}

// BenchmarkListing100k measures one leaf's clients watching announcements
// in a cluster of 100,000 broadcasts (97 organisations of ~1,031 rooms): 1,000
// clients each watch one organisation's prefix and get its whole listing.
// Reported: time until every client has its listing, the leaf's heap growth
// and the control bytes the root sent. The leaf asks the root once per
// distinct prefix (97), however many clients watch it.
func BenchmarkListing100k(b *testing.B) {
	const broadcasts, orgs, clients = 100_000, 97, 1000
	root := benchNode(b, "root", nil)
	origin, _ := root.root.dir.Join("origin", "https://origin.example:4443", 0)
	perOrg := make([]int, orgs)
	for i := range broadcasts {
		root.root.dir.Announce("origin", origin, fmt.Sprintf("org-%d/room-%06d/camera", i%orgs, i))
		perOrg[i%orgs]++
	}
	keepAlive(b, root.root.dir, "origin", origin)
	for b.Loop() {
		b.StopTimer()
		leaf := benchNode(b, "leaf", []string{root.opts.URL})
		waitHealthy(b, leaf)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap0, sent0 := ms.HeapAlloc, root.controlSent.Load()
		b.StartTimer()

		start := time.Now()
		var wg sync.WaitGroup
		ws := make([]*moqt.Watcher, clients)
		for c := range clients {
			ws[c] = leaf.opts.Origin.Watch(moqt.WatchOptions{Prefix: fmt.Sprintf("org-%d", c%orgs)})
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for range perOrg[c%orgs] {
					if _, err := ws[c].Next(ctx); err != nil {
						b.Errorf("client %d: %v", c, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)

		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(took.Seconds()*1e3, "ms-all-listed")
		b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(heap0))/(1<<20), "leaf-heap-MiB")
		b.ReportMetric(float64(root.controlSent.Load()-sent0)/(1<<20), "root-sent-MiB")
		b.ReportMetric(float64(leaf.listings.advertised()), "paths-advertised")
		for _, w := range ws {
			w.Close()
		}
		leaf.Close()
		b.StartTimer()
	}
}

// keepAlive heartbeats a simulated member until the benchmark ends, or
// after the offline threshold its broadcasts would leave the directory.
func keepAlive(b *testing.B, d *Directory, id string, epoch uint64) {
	stop, alive := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(alive)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d.Heartbeat(id, epoch, proto.Load{})
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-alive })
}

// waitHealthy waits until every leaf has a healthy root link.
func waitHealthy(b *testing.B, leaves ...*Node) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, l := range leaves {
		for !l.links[0].healthy() {
			if time.Now().After(deadline) {
				b.Fatalf("%s did not register", l.opts.ID)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// waitAnnounced reads w until an announcement of path arrives.
func waitAnnounced(b *testing.B, w *moqt.Watcher, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		a, err := w.Next(ctx)
		if err != nil {
			b.Fatalf("waiting for %s: %v", path, err)
		}
		if a.Path == path {
			return
		}
	}
}
