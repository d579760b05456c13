//go:build unix

package relay_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// BenchmarkFanout measures 1→N fan-out through a relay on loopback: one op
// is one group of 16 frames × 16 KiB delivered to every subscriber, so the
// MB/s figure is the aggregate delivered. The publisher stays at most
// benchWindow groups ahead of the slowest subscriber (below the relay's
// per-subscriber in-flight bound), so the figure is throughput, not loss.
// Extra metrics: delivered-% (complete groups received / groups × N) and
// cpu-s/GB (process user+sys per GB delivered, publisher and subscribers
// included: they run in this process too). cmd/moq-bench compares the same
// shape with a raw quic-go forwarder.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

const (
	benchFrames    = 16
	benchFrameSize = 16 << 10
	benchWindow    = 3
)

func benchFanout(b *testing.B, n int) {
	r := relaytest.Start(b, relaytest.Options{})
	origin := moqt.NewOrigin()
	bc := moqt.NewBroadcast(moqt.TrackOptions{})
	tw, err := bc.CreateTrack("data")
	if err != nil {
		b.Fatal(err)
	}
	origin.Publish("bench", bc, moqt.PublishOptions{})
	b.Cleanup(bc.Close)
	r.Connect(b, r.QUICURL(""), moqt.SessionConfig{Origin: origin})

	prog := newBenchProgress(n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		sess := r.Connect(b, r.QUICURL(""), moqt.SessionConfig{})
		if i == 0 {
			benchWaitAnnounced(b, sess, "bench")
		}
		rd, err := sess.Consume("bench").Subscribe("data", moqt.ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(rd.Close)
		wg.Go(func() { prog.receive(ctx, i, rd) })
	}
	// Runs before the sessions close (cleanups run last-registered first).
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	write := func(frames int, p []byte) {
		g, err := tw.AppendGroup()
		if err != nil {
			b.Fatal(err)
		}
		for range frames {
			if err := g.WriteFrame(p); err != nil {
				b.Fatal(err)
			}
		}
		_ = g.Close()
	}
	// Warm-up: small groups until every subscription reaches the publisher.
	seq := int64(0)
	for deadline := time.Now().Add(10 * time.Second); ; seq++ {
		write(1, []byte("warm-up"))
		if prog.wait(20*time.Millisecond, func(i int) bool { return prog.last[i] >= seq }) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("subscribers never received a group")
		}
	}
	seq++

	payload := make([]byte, benchFrameSize)
	prog.startAt(seq)
	b.SetBytes(int64(benchFrames * benchFrameSize * n))
	cpu0 := benchCPU()
	b.ResetTimer()
	first := seq
	for range b.N {
		if !prog.waitAll(seq-benchWindow, time.Now().Add(10*time.Second)) {
			b.Fatalf("subscribers stalled before group %d", seq)
		}
		write(benchFrames, payload)
		seq++
	}
	if !prog.waitAll(seq-1, time.Now().Add(10*time.Second)) {
		b.Fatalf("subscribers stalled at the end")
	}
	b.StopTimer()
	cpu := (benchCPU() - cpu0).Seconds()
	bytes, groups := prog.totals()
	if bytes > 0 {
		b.ReportMetric(cpu/(float64(bytes)/1e9), "cpu-s/GB")
	}
	b.ReportMetric(100*float64(groups)/float64((seq-first)*int64(n)), "delivered-%")
}

// benchProgress tracks what each subscriber received. Groups finish out of
// order (each has its own stream and the relay sends the newest first), so
// pacing uses prefix: every group up to it has finished at that subscriber.
type benchProgress struct {
	mu     sync.Mutex
	cond   *sync.Cond
	last   []int64 // highest group received complete, per subscriber
	prefix []int64 // every group from the first one seen up to prefix finished
	ahead  []map[int64]bool
	start  int64 // first measured group
	bytes  int64
	groups int64
}

func newBenchProgress(n int) *benchProgress {
	p := &benchProgress{last: make([]int64, n), prefix: make([]int64, n), ahead: make([]map[int64]bool, n), start: math.MaxInt64}
	for i := range p.last {
		p.last[i], p.prefix[i], p.ahead[i] = -1, -1, make(map[int64]bool)
	}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *benchProgress) startAt(seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start = seq
}

func (p *benchProgress) totals() (bytes, groups int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes, p.groups
}

func (p *benchProgress) receive(ctx context.Context, sub int, r *moqt.TrackReader) {
	for {
		g, err := r.NextGroup(ctx)
		if err != nil {
			return
		}
		n, complete := 0, false
		for {
			f, err := g.ReadFrame(ctx)
			if err == io.EOF {
				complete = true
				break
			}
			if err != nil {
				break
			}
			n += len(f)
		}
		seq := int64(g.Sequence())
		p.mu.Lock()
		if seq >= p.start {
			p.bytes += int64(n)
			if complete {
				p.groups++
			}
		}
		if complete {
			p.last[sub] = max(p.last[sub], seq)
		}
		if p.prefix[sub] < 0 {
			p.prefix[sub] = seq // joined here; earlier groups are not its concern
		} else if seq > p.prefix[sub] {
			p.ahead[sub][seq] = true
		}
		for p.ahead[sub][p.prefix[sub]+1] {
			delete(p.ahead[sub], p.prefix[sub]+1)
			p.prefix[sub]++
		}
		p.mu.Unlock()
		p.cond.Broadcast()
	}
}

// waitAll blocks until every subscriber finished every group up to g; a
// group that never arrives (dropped before its header) is given up on
// after a second, once every subscriber has a later one.
func (p *benchProgress) waitAll(g int64, deadline time.Time) bool {
	if p.wait(min(time.Second, time.Until(deadline)), func(i int) bool { return p.prefix[i] >= g }) {
		return true
	}
	return p.wait(time.Until(deadline), func(i int) bool { return p.last[i] >= g })
}

func (p *benchProgress) wait(d time.Duration, done func(sub int) bool) bool {
	deadline := time.Now().Add(d)
	stop := time.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.cond.Broadcast()
	})
	defer stop.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		all := true
		for i := range p.last {
			if !done(i) {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		p.cond.Wait()
	}
}

func benchWaitAnnounced(b *testing.B, sess moqt.Session, path string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			b.Fatalf("waiting for %q to be announced: %v", path, err)
		}
		if a.Path == path && a.Active {
			return
		}
	}
}

// benchCPU is the process's user+system CPU time so far.
func benchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
