package cluster

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
)

// maxListedPaths bounds the paths one root's listing of one prefix may hold
// on this node; beyond it new paths are not announced (and a warning is
// logged once), so a flood of announcements elsewhere cannot exhaust this
// node's memory.
const maxListedPaths = 1 << 20

// listings makes broadcasts published anywhere in the cluster visible in
// this node's announcements. For each prefix that local clients watch (the
// Origin asks through moqt.PrefixWatcher), it asks every root — on a root,
// its own directory — for the paths other nodes publish under it, then
// follows the changes, and advertises the union in the Origin. A path stays
// advertised while any root lists it, so the view does not depend on which
// root answers. A root that drops out keeps its last listing until it
// resyncs after reconnecting, or for the offline threshold.
//
// Lock order: listings.mu, then a rootLink's mu, then the event queue's;
// Origin calls are made under listings.mu (the Origin never calls back with
// its own lock held).
type listings struct {
	n *Node

	mu       sync.Mutex
	prefixes map[string]*prefixListing
	count    map[string]int // path → listings (prefix × root) that hold it
	warned   bool           // maxListedPaths reached once

	qmu   sync.Mutex
	queue []listingEvent
	wake  chan struct{}
}

// prefixListing is one watched prefix, shared by every local watcher of it.
type prefixListing struct {
	prefix  string
	refs    int
	sources []*sourceListing // one per root link, or one for the root's own directory
}

// sourceListing is what one root lists under one prefix.
type sourceListing struct {
	pl    *prefixListing
	link  *rootLink // nil for the root's own directory
	paths map[string]struct{}
	// syncing collects a (re)started listing until it is complete; nil when
	// entries are changes.
	syncing map[string]struct{}
	stale   uint64      // bumped when the source is lost; a resync or withdrawal ends it
	expire  *time.Timer // withdraws a lost source's paths
	stop    func()      // root's own directory: cancels the WatchPrefix
	reqID   uint64      // leaf: the WatchPaths request id on the current connection
	dead    bool        // its prefix is no longer watched
}

// listingEvent is applied by run, in arrival order.
type listingEvent struct {
	sl       *sourceListing
	entries  []proto.PathEntry
	complete bool
	restart  bool   // a new listing begins: collect until complete
	lost     bool   // the source dropped out
	expire   uint64 // the stale generation whose grace ran out
}

func newListings(n *Node) *listings {
	return &listings{
		n:        n,
		prefixes: make(map[string]*prefixListing),
		count:    make(map[string]int),
		wake:     make(chan struct{}, 1),
	}
}

// WatchPrefix implements moqt.PrefixWatcher: the Origin calls it for each
// watcher that includes remote broadcasts.
func (n *Node) WatchPrefix(prefix string) (stop func()) {
	ls := n.listings
	ls.mu.Lock()
	pl := ls.prefixes[prefix]
	if pl == nil {
		pl = &prefixListing{prefix: prefix}
		ls.prefixes[prefix] = pl
		if n.root != nil {
			sl := &sourceListing{pl: pl, paths: make(map[string]struct{}), syncing: make(map[string]struct{})}
			pl.sources = append(pl.sources, sl)
			sl.stop = n.root.dir.WatchPrefix(prefix, n.opts.ID, func(entries []proto.PathEntry) {
				ls.push(listingEvent{sl: sl, entries: entries, complete: true})
			})
		}
		for _, l := range n.links {
			sl := &sourceListing{pl: pl, link: l, paths: make(map[string]struct{})}
			pl.sources = append(pl.sources, sl)
			l.startListing(sl)
		}
	}
	pl.refs++
	ls.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { ls.release(pl) }) }
}

// release drops one watcher of pl; the last one ends the listing at every
// source and withdraws what it held.
func (ls *listings) release(pl *prefixListing) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	pl.refs--
	if pl.refs > 0 {
		return
	}
	delete(ls.prefixes, pl.prefix)
	for _, sl := range pl.sources {
		sl.dead = true
		if sl.stop != nil {
			sl.stop()
		}
		if sl.link != nil {
			sl.link.stopListing(sl)
		}
		if sl.expire != nil {
			sl.expire.Stop()
		}
		for p := range sl.paths {
			ls.unlist(p)
		}
		sl.paths = nil
	}
}

// forLink returns the listings that link serves, for it to restart them
// after a Welcome. Caller holds ls.mu.
func (ls *listings) forLinkLocked(l *rootLink) []*sourceListing {
	var out []*sourceListing
	for _, pl := range ls.prefixes {
		for _, sl := range pl.sources {
			if sl.link == l {
				out = append(out, sl)
			}
		}
	}
	return out
}

// push queues an event for run; it never blocks.
func (ls *listings) push(ev listingEvent) {
	ls.qmu.Lock()
	ls.queue = append(ls.queue, ev)
	ls.qmu.Unlock()
	select {
	case ls.wake <- struct{}{}:
	default:
	}
}

// run applies queued events until the node closes.
func (ls *listings) run() {
	for {
		select {
		case <-ls.n.ctx.Done():
			return
		case <-ls.wake:
		}
		ls.qmu.Lock()
		batch := ls.queue
		ls.queue = nil
		ls.qmu.Unlock()
		ls.mu.Lock()
		for _, ev := range batch {
			ls.apply(ev)
		}
		ls.mu.Unlock()
	}
}

// apply handles one event. Caller holds ls.mu.
func (ls *listings) apply(ev listingEvent) {
	sl := ev.sl
	if sl.dead {
		return
	}
	switch {
	case ev.restart:
		sl.syncing = make(map[string]struct{})
		return
	case ev.lost:
		// Keep what it listed for now: the root may be back within a
		// heartbeat, and other roots may list the same paths anyway.
		sl.syncing = nil
		sl.stale++
		gen := sl.stale
		grace := time.Duration(ls.n.opts.OfflineThreshold) * ls.n.opts.HeartbeatInterval
		if sl.expire != nil {
			sl.expire.Stop()
		}
		sl.expire = time.AfterFunc(grace, func() { ls.push(listingEvent{sl: sl, expire: gen}) })
		return
	case ev.expire != 0:
		if ev.expire == sl.stale && sl.syncing == nil {
			for p := range sl.paths {
				ls.unlist(p)
			}
			clear(sl.paths)
		}
		return
	}
	if sl.syncing != nil {
		for _, e := range ev.entries {
			if e.Active {
				if len(sl.syncing) < maxListedPaths {
					sl.syncing[e.Path] = struct{}{}
				} else {
					ls.warnFull()
				}
			} else {
				delete(sl.syncing, e.Path)
			}
		}
		if !ev.complete {
			return
		}
		// The listing is whole: it replaces what this root listed before.
		for p := range sl.paths {
			if _, ok := sl.syncing[p]; !ok {
				ls.unlist(p)
			}
		}
		for p := range sl.syncing {
			if _, ok := sl.paths[p]; !ok {
				ls.list(p)
			}
		}
		sl.paths, sl.syncing = sl.syncing, nil
		sl.stale++ // any pending withdrawal is void
		return
	}
	for _, e := range ev.entries {
		_, had := sl.paths[e.Path]
		switch {
		case e.Active && !had:
			if len(sl.paths) >= maxListedPaths {
				ls.warnFull()
				continue
			}
			sl.paths[e.Path] = struct{}{}
			ls.list(e.Path)
		case !e.Active && had:
			delete(sl.paths, e.Path)
			ls.unlist(e.Path)
		}
	}
}

func (ls *listings) list(path string) {
	ls.count[path]++
	if ls.count[path] == 1 {
		ls.n.opts.Origin.Advertise(path)
	}
}

func (ls *listings) unlist(path string) {
	ls.count[path]--
	if ls.count[path] <= 0 {
		delete(ls.count, path)
		ls.n.opts.Origin.Withdraw(path)
	}
}

func (ls *listings) warnFull() {
	if !ls.warned {
		ls.warned = true
		ls.n.log.Warn("cluster listing full: further remote broadcasts are not announced to clients",
			zap.Int("max_paths", maxListedPaths))
	}
}

// advertised is how many remote paths this node announces to its clients.
func (ls *listings) advertised() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.count)
}

// startListing asks the root for sl's prefix if connected; otherwise the
// next Welcome does. Caller holds listings.mu.
func (l *rootLink) startListing(sl *sourceListing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.snd == nil {
		return
	}
	l.watchPathsLocked(sl)
}

// watchPathsLocked sends WatchPaths for sl on the current connection.
// Caller holds l.mu and listings.mu.
func (l *rootLink) watchPathsLocked(sl *sourceListing) {
	l.nextID++
	sl.reqID = l.nextID
	l.lists[sl.reqID] = sl
	l.n.listings.push(listingEvent{sl: sl, restart: true})
	l.snd.send(proto.WatchPaths{RequestID: sl.reqID, Prefix: sl.pl.prefix})
}

// stopListing ends sl's watch at the root. Caller holds listings.mu.
func (l *rootLink) stopListing(sl *sourceListing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.snd == nil || l.lists[sl.reqID] != sl {
		return
	}
	delete(l.lists, sl.reqID)
	l.snd.send(proto.Unwatch{RequestID: sl.reqID})
}
