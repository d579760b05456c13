package moqt

import "sync"

// CacheBudget bounds the bytes cached by every track that shares it (a
// node's whole cache). When a write takes the total over the bound, the
// oldest groups, whatever their track, are evicted first until it fits.
// Readers already inside an evicted group finish it; new readers no longer
// find it.
//
// Its bookkeeping is bounded by what is cached: the charged groups form an
// intrusive list in arrival order (Group.prev/next, guarded by mu), which a
// group leaves as soon as its track drops it, by count, age or end.
//
// Lock order: Track.mu, then Group.mu, then CacheBudget.mu.
type CacheBudget struct {
	max int64

	mu         sync.Mutex
	used       int64
	head, tail *Group // charged groups, oldest first
	n          int    // groups in the list
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

// len returns the number of groups the budget tracks (for tests).
func (b *CacheBudget) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// enqueue records a new group of t, still empty, at the end of the list
// (t.mu held).
func (b *CacheBudget) enqueue(t *Track, g *Group) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g.owner, g.linked = t, true
	g.prev, g.next = b.tail, nil
	if b.tail != nil {
		b.tail.next = g
	} else {
		b.head = g
	}
	b.tail = g
	b.n++
}

// unlinkLocked takes g off the list if it is on it (b.mu held).
func (b *CacheBudget) unlinkLocked(g *Group) {
	if !g.linked {
		return
	}
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		b.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		b.tail = g.prev
	}
	g.prev, g.next, g.owner, g.linked = nil, nil, nil, false
	b.n--
}

// charge adds n bytes and reports whether the budget is now exceeded.
func (b *CacheBudget) charge(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += int64(n)
	return b.used > b.max
}

// release gives back g's n bytes and forgets g (g.mu held).
func (b *CacheBudget) release(g *Group, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= int64(n)
	b.unlinkLocked(g)
}

// evict drops the oldest groups until the budget fits. It holds no lock
// while it asks a track to drop a group, so tracks may charge meanwhile;
// the group is off the list by then, so concurrent evictions take the
// next ones.
func (b *CacheBudget) evict() {
	for {
		b.mu.Lock()
		g := b.head
		if b.used <= b.max || g == nil {
			b.mu.Unlock()
			return
		}
		t := g.owner
		b.unlinkLocked(g)
		b.mu.Unlock()
		t.evictGroup(g)
	}
}
