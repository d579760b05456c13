package cluster

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
)

// Allocation defaults (Options.Allocation left zero).
const (
	defaultTicketTTL      = 30 * time.Second
	defaultCandidateLimit = 3
	// maxPendingTickets bounds the root's pending-ticket table: allocations
	// are answered to anyone who reaches /cluster/allocate, so beyond this
	// new tickets are still issued but no longer counted as load.
	maxPendingTickets = 100_000
)

// pendingTicket is an issued ticket not yet redeemed or expired.
type pendingTicket struct {
	node    string
	expires time.Time
}

// allocate picks the best nodes for a new session on broadcast (see
// proto.Allocate), signs a ticket for them and counts it as pending load on
// the first. It runs on the root.
func (r *rootServer) allocate(broadcast, exclude string, limit int) proto.Allocation {
	opts := r.n.opts.Allocation
	limit = min(max(limit, 1), opts.CandidateLimit)
	carrying := make(map[string]bool)
	if broadcast != "" {
		for _, c := range r.dir.Lookup(broadcast) {
			carrying[c.NodeID] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var cands []proto.Candidate
	for _, m := range r.dir.Members() {
		if m.State != proto.StateHealthy || m.Load.Draining || m.URL == "" || m.ID == exclude {
			continue
		}
		load := m.Load
		load.PendingTickets = uint64(r.pendingBy[m.ID])
		cands = append(cands, proto.Candidate{NodeID: m.ID, URL: m.URL, State: m.State, Load: load, Incarnation: m.Incarnation})
	}
	// Under thresholds first, then those carrying the broadcast, then the
	// least loaded (sessions reported plus tickets not yet redeemed, which
	// is what spreads a burst), then by id for a stable order.
	slices.SortFunc(cands, func(a, b proto.Candidate) int {
		return cmp.Or(
			boolOrder(!a.Load.Overloaded, !b.Load.Overloaded),
			boolOrder(carrying[a.NodeID], carrying[b.NodeID]),
			cmp.Compare(a.Load.Sessions+a.Load.PendingTickets, b.Load.Sessions+b.Load.PendingTickets),
			cmp.Compare(a.Load.Subscribers, b.Load.Subscribers),
			cmp.Compare(a.NodeID, b.NodeID),
		)
	})
	cands = cands[:min(len(cands), limit)]
	a := proto.Allocation{Candidates: cands}
	if len(cands) == 0 || r.ticketKey == nil {
		return a
	}
	t := ticket{ID: rand.Uint64() & (1<<53 - 1), Root: r.n.opts.ID, Broadcast: broadcast,
		Expires: time.Now().Add(opts.TicketTTL).Truncate(time.Millisecond)}
	for _, c := range cands {
		t.Nodes = append(t.Nodes, c.NodeID)
	}
	a.Ticket, a.Expires = t.sign(r.ticketKey), t.Expires
	if len(r.pending) < maxPendingTickets {
		r.pending[t.ID] = pendingTicket{node: cands[0].NodeID, expires: t.Expires}
		r.pendingBy[cands[0].NodeID]++
	}
	r.n.metrics.ticketsIssued.Add(1)
	return a
}

// boolOrder sorts true before false.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// redeem stops counting a ticket as pending load.
func (r *rootServer) redeem(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pending[id]; ok {
		delete(r.pending, id)
		r.unpendLocked(p.node)
	}
}

// expireTickets drops pending tickets past their expiry.
func (r *rootServer) expireTickets(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.pending {
		if !now.Before(p.expires) {
			delete(r.pending, id)
			r.unpendLocked(p.node)
		}
	}
}

func (r *rootServer) unpendLocked(node string) {
	if r.pendingBy[node]--; r.pendingBy[node] <= 0 {
		delete(r.pendingBy, node)
	}
}

// pendingFor returns the tickets pending on node.
func (r *rootServer) pendingFor(node string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return uint64(r.pendingBy[node])
}

// errNoRoot: a leaf that reaches no root cannot allocate.
var errNoRoot = errors.New("no cluster root reachable")

// allocate asks the cluster for the best nodes for broadcast, never
// exclude: on a root its own directory, on a leaf the first healthy root
// that answers.
func (n *Node) allocate(ctx context.Context, broadcast, exclude string, limit int) (proto.Allocation, error) {
	if n.root != nil {
		return n.root.allocate(broadcast, exclude, limit), nil
	}
	var errs []error
	for _, l := range n.links {
		if !l.healthy() {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, n.opts.EstablishTimeout)
		a, err := l.allocate(lctx, broadcast, exclude, limit)
		cancel()
		if err == nil {
			return a, nil
		}
		errs = append(errs, fmt.Errorf("root %s: %w", l.url, err))
	}
	if len(errs) == 0 {
		return proto.Allocation{}, errNoRoot
	}
	return proto.Allocation{}, errors.Join(errs...)
}

// allocate sends Allocate to this root and waits for its Allocation.
func (l *rootLink) allocate(ctx context.Context, broadcast, exclude string, limit int) (proto.Allocation, error) {
	ch := make(chan proto.Allocation, 1)
	l.mu.Lock()
	if l.snd == nil {
		l.mu.Unlock()
		return proto.Allocation{}, errRootLost
	}
	if max := l.n.opts.Limits.MaxLookupsInFlight; max > 0 && len(l.pending)+len(l.allocs) >= max {
		l.mu.Unlock()
		return proto.Allocation{}, fmt.Errorf("%d requests already in flight (cluster.limits.max_lookups_in_flight)", max)
	}
	snd := l.snd
	l.nextID++
	id := l.nextID
	l.allocs[id] = ch
	l.mu.Unlock()
	snd.send(proto.Allocate{RequestID: id, Broadcast: broadcast, Exclude: exclude, Limit: uint64(max(limit, 0))})
	select {
	case a, ok := <-ch:
		if !ok {
			return proto.Allocation{}, errRootLost
		}
		return a, nil
	case <-ctx.Done():
		l.mu.Lock()
		if l.snd == snd {
			delete(l.allocs, id)
		}
		l.mu.Unlock()
		return proto.Allocation{}, context.Cause(ctx)
	}
}

// ticketKeyOf returns the public ticket key of root id: this node's own on
// a root, else the one its root link learned from the Welcome.
func (n *Node) ticketKeyOf(id string) ed25519.PublicKey {
	if n.root != nil && id == n.opts.ID {
		return n.root.ticketKey.Public().(ed25519.PublicKey)
	}
	for _, l := range n.links {
		l.mu.Lock()
		rootID, key := l.rootID, l.ticketKey
		l.mu.Unlock()
		if rootID == id && key != nil {
			return key
		}
	}
	return nil
}

// redeemTicket tells the root that issued t that a session presented it.
func (n *Node) redeemTicket(t ticket) {
	if n.root != nil && t.Root == n.opts.ID {
		n.root.redeem(t.ID)
		return
	}
	for _, l := range n.links {
		l.mu.Lock()
		match := l.rootID == t.Root
		l.mu.Unlock()
		if match {
			l.send(proto.Redeem{TicketID: t.ID})
		}
	}
}
