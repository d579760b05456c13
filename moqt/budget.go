package moqt

import "sync"

// CacheBudget bounds the bytes cached by every track that shares it (a
// node's whole cache). When a write takes the total over the bound, the
// oldest groups, whatever their track, are evicted first until it fits.
// Readers already inside an evicted group finish it; new readers no longer
// find it.
type CacheBudget struct {
	max int64

	mu    sync.Mutex
	used  int64
	queue []budgetEntry // cached groups in arrival order; queue[head:] live
	head  int
}

type budgetEntry struct {
	t *Track
	g *Group
}

// NewCacheBudget returns a budget of max bytes (max > 0).
func NewCacheBudget(max int64) *CacheBudget {
	return &CacheBudget{max: max}
}

// Used returns the bytes currently charged.
func (b *CacheBudget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// enqueue records a new group of t in arrival order (t.mu held).
func (b *CacheBudget) enqueue(t *Track, g *Group) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queue = append(b.queue, budgetEntry{t, g})
}

// charge adds n bytes and reports whether the budget is now exceeded.
func (b *CacheBudget) charge(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += int64(n)
	return b.used > b.max
}

func (b *CacheBudget) refund(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= int64(n)
}

// evict drops the oldest groups until the budget fits. It holds no lock
// while it asks a track to drop a group, so tracks may charge meanwhile.
func (b *CacheBudget) evict() {
	for {
		b.mu.Lock()
		if b.used <= b.max || b.head == len(b.queue) {
			b.mu.Unlock()
			return
		}
		e := b.queue[b.head]
		b.queue[b.head] = budgetEntry{}
		b.head++
		if b.head > 1024 && b.head*2 > len(b.queue) {
			b.queue = append([]budgetEntry(nil), b.queue[b.head:]...)
			b.head = 0
		}
		b.mu.Unlock()
		e.t.evictGroup(e.g)
	}
}
