package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// BenchmarkRootLookup measures lookups as a leaf sees them: each one is a
// LOOKUP/RESULT round trip over the control stream (real QUIC on loopback)
// to a root whose directory holds 10k or 100k broadcasts. Concurrent
// lookups share the one control connection, as they do in a leaf.
func BenchmarkRootLookup(b *testing.B) {
	for _, broadcasts := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("broadcasts=%d", broadcasts), func(b *testing.B) {
			root := benchNode(b, "root", nil)
			origin, _ := root.root.dir.Join("origin", "https://origin.example:4443", 0)
			keepAlive(b, root.root.dir, "origin", origin)
			paths := make([]string, broadcasts)
			for i := range paths {
				paths[i] = fmt.Sprintf("org-%d/room-%06d/camera", i%97, i)
				root.root.dir.Announce("origin", origin, paths[i])
			}
			leaf := benchNode(b, "leaf", []string{root.opts.URL})
			deadline := time.Now().Add(10 * time.Second)
			for !leaf.links[0].healthy() {
				if time.Now().After(deadline) {
					b.Fatal("leaf did not register")
				}
				time.Sleep(10 * time.Millisecond)
			}

			var (
				mu      sync.Mutex
				samples []time.Duration
			)
			b.SetParallelism(16) // lookups in flight per GOMAXPROCS
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
				res := reservoir{rng: rng, samples: make([]time.Duration, 0, 4096)}
				ctx := context.Background()
				for pb.Next() {
					start := time.Now()
					c, _, err := leaf.lookup(ctx, paths[rng.IntN(len(paths))], nil)
					if err != nil || len(c) != 1 {
						b.Errorf("lookup: %v, %d candidates", err, len(c))
						return
					}
					res.add(time.Since(start))
				}
				mu.Lock()
				samples = append(samples, res.samples...)
				mu.Unlock()
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			b.ReportMetric(percentile(samples, 0.99)/1e3, "p99-µs")
			b.ReportMetric(percentile(samples, 0.50)/1e3, "p50-µs")
		})
	}
}

// benchNode starts a relay listener with a cluster node on it.
func benchNode(b testing.TB, id string, roots []string) *Node {
	b.Helper()
	r := relaytest.Start(b, relaytest.Options{})
	n, err := New(Options{
		ID:                id,
		URL:               fmt.Sprintf("http://127.0.0.1:%d", r.Listener.UDPAddr().Port),
		Roots:             roots,
		Token:             "bench-secret",
		NodeHosts:         []string{"127.0.0.1"},
		Listener:          r.Listener,
		Origin:            r.Server.Origin(),
		HeartbeatInterval: time.Second,
		SuspectThreshold:  3,
		OfflineThreshold:  6,
		EstablishTimeout:  5 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(n.Close)
	return n
}
