package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
)

// benchCluster is a directory filled for benchmarks.
type benchCluster struct {
	d      *Directory
	ids    []string // members
	epochs []uint64
	paths  []string
	owners []int // index in ids of the first publisher of each path
}

// populate spreads broadcasts round-robin over members, every 8th also
// published on the next member (a broadcast moving, or a second origin).
func populate(b *testing.B, broadcasts, members int) *benchCluster {
	b.Helper()
	d := NewDirectory(DirectoryOptions{HeartbeatInterval: time.Second, SuspectThreshold: 3, OfflineThreshold: 5})
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		ids    []string
		epochs []uint64
		paths  []string
		owners []int
	)
	for m := range members {
		ids = append(ids, fmt.Sprintf("node-%03d", m))
		epoch, _ := d.Join(ids[m], "https://"+ids[m]+".example:4443", 0)
		epochs = append(epochs, epoch)
		d.Heartbeat(ids[m], epochs[m], proto.Load{Subscribers: rng.Uint64N(500), CPUPermille: rng.Uint64N(4000)})
	}
	for i := range broadcasts {
		path := fmt.Sprintf("org-%d/room-%06d/camera", i%97, i)
		owner := i % members
		d.Announce(ids[owner], epochs[owner], path)
		if i%8 == 0 {
			second := (owner + 1) % members
			d.Announce(ids[second], epochs[second], path)
		}
		paths = append(paths, path)
		owners = append(owners, owner)
	}
	if d.Size() != broadcasts {
		b.Fatalf("Size = %d, want %d", d.Size(), broadcasts)
	}
	return &benchCluster{d: d, ids: ids, epochs: epochs, paths: paths, owners: owners}
}

// reservoir keeps a uniform sample of at most cap(samples) latencies.
type reservoir struct {
	rng     *rand.Rand
	seen    int
	samples []time.Duration
}

func (r *reservoir) add(v time.Duration) {
	r.seen++
	if len(r.samples) < cap(r.samples) {
		r.samples = append(r.samples, v)
	} else if j := r.rng.IntN(r.seen); j < len(r.samples) {
		r.samples[j] = v
	}
}

func percentile(samples []time.Duration, p float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	return float64(samples[int(p*float64(len(samples)-1))].Nanoseconds())
}

func BenchmarkLookup(b *testing.B) {
	for _, broadcasts := range []int{10_000, 100_000} {
		for _, members := range []int{16, 100} {
			b.Run(fmt.Sprintf("broadcasts=%d/members=%d", broadcasts, members), func(b *testing.B) {
				c := populate(b, broadcasts, members)
				var (
					mu      sync.Mutex
					samples []time.Duration
					found   int
				)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
					res := reservoir{rng: rng, samples: make([]time.Duration, 0, 4096)}
					hits := 0
					for i := 0; pb.Next(); i++ {
						path := c.paths[rng.IntN(len(c.paths))]
						if i%64 != 0 {
							hits += len(c.d.Lookup(path))
							continue
						}
						start := time.Now()
						hits += len(c.d.Lookup(path))
						res.add(time.Since(start))
					}
					mu.Lock()
					samples = append(samples, res.samples...)
					found += hits
					mu.Unlock()
				})
				b.StopTimer()
				if found < b.N {
					b.Fatalf("%d candidates for %d lookups", found, b.N)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
				b.ReportMetric(percentile(samples, 0.99), "p99-ns")
			})
		}
	}
}

// BenchmarkAnnounce measures churn on a full directory: each op withdraws
// one broadcast and announces it again.
func BenchmarkAnnounce(b *testing.B) {
	c := populate(b, 100_000, 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ { // b.Loop leaves populate out of the timing
		k := i % len(c.paths)
		m := c.owners[k]
		c.d.Unannounce(c.ids[m], c.epochs[m], c.paths[k])
		c.d.Announce(c.ids[m], c.epochs[m], c.paths[k])
	}
}
