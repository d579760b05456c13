package moqt

import (
	"context"
	"sort"
	"sync"
)

// Resolver finds broadcasts that are not published on this node. The cluster
// implements it: it looks the path up, pulls the broadcast from the node that
// has it and returns a Broadcast fed from there. Relay and cluster meet only
// here; neither imports the other.
type Resolver interface {
	// Resolve returns a broadcast for path, or an error wrapping ErrNotFound
	// when no node has it. The broadcast stays owned by the resolver.
	Resolve(ctx context.Context, path string) (*Broadcast, error)
}

// PrefixWatcher is an optional interface of a Resolver that can tell which
// paths it would resolve, so that clients are announced broadcasts published
// elsewhere. Origin.Watch calls WatchPrefix for every watcher that includes
// remote broadcasts, and stop when that watcher closes; calls for the same
// prefix may overlap. The resolver reports what it finds with
// Origin.Advertise and Origin.Withdraw, from any goroutine but not from
// within WatchPrefix or stop.
type PrefixWatcher interface {
	WatchPrefix(prefix string) (stop func())
}

// PublishOptions describe where a published broadcast comes from.
type PublishOptions struct {
	// Remote marks a broadcast that this node relays from another node rather
	// than one a client published here. Peers are only served local
	// broadcasts, so a broadcast crosses at most one node-to-node hop.
	Remote bool
	// Hops lists the ids of the nodes the broadcast already passed through,
	// origin first (moq-lite-04 loop detection).
	Hops []uint64
}

// Announcement is a change in the set of published broadcasts.
type Announcement struct {
	Path   string
	Active bool
	Remote bool
	Hops   []uint64 // set when Active
}

type publication struct {
	b      *Broadcast
	remote bool
	hops   []uint64
	gen    uint64
}

// Origin maps broadcast paths to broadcasts. Several publishers may publish
// the same path; the newest one is served and the older ones take over, in
// order, if it leaves. Paths advertised by the resolver (published on other
// nodes) are announced too while nothing here shadows them. Watchers see
// announcements for a path prefix.
type Origin struct {
	mu         sync.Mutex
	pubs       map[string][]*publication        // newest last
	advertised map[string]*publication          // resolvable elsewhere; b is nil
	watchers   map[string]map[*Watcher]struct{} // by clean prefix
	unclean    map[*Watcher]struct{}            // prefixes CleanPath would change: matched one by one
	resolver   Resolver
	gen        uint64
}

// NewOrigin returns an empty origin.
func NewOrigin() *Origin {
	return &Origin{
		pubs:       make(map[string][]*publication),
		advertised: make(map[string]*publication),
		watchers:   make(map[string]map[*Watcher]struct{}),
		unclean:    make(map[*Watcher]struct{}),
	}
}

// SetResolver installs the resolver consulted for paths not published here.
func (o *Origin) SetResolver(r Resolver) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resolver = r
}

// Publish makes b available at path until b ends or the returned function is
// called, whichever is first.
func (o *Origin) Publish(path string, b *Broadcast, opts PublishOptions) (unpublish func()) {
	o.mu.Lock()
	o.gen++
	p := &publication{b: b, remote: opts.Remote, hops: opts.Hops, gen: o.gen}
	o.pubs[path] = append(o.pubs[path], p)
	o.touchLocked(path)
	o.mu.Unlock()

	var once sync.Once
	unpublish = func() { once.Do(func() { o.unpublish(path, p) }) }
	b.whenClosed(unpublish)
	return unpublish
}

func (o *Origin) unpublish(path string, p *publication) {
	o.mu.Lock()
	defer o.mu.Unlock()
	stack := o.pubs[path]
	for i, q := range stack {
		if q == p {
			stack = append(stack[:i:i], stack[i+1:]...)
			break
		}
	}
	if len(stack) == 0 {
		delete(o.pubs, path)
	} else {
		o.pubs[path] = stack
	}
	o.touchLocked(path)
}

// current returns the publication served for path, skipping remote ones when
// localOnly is set.
func (o *Origin) currentLocked(path string, localOnly bool) *publication {
	stack := o.pubs[path]
	for i := len(stack) - 1; i >= 0; i-- {
		if !localOnly || !stack[i].remote {
			return stack[i]
		}
	}
	return nil
}

// Advertise marks path as published on another node: watchers that include
// remote broadcasts see it announced (Remote) while no publication here
// shadows it, and Consume hands it to the resolver. Advertising a path twice
// changes nothing.
func (o *Origin) Advertise(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.advertised[path] != nil {
		return
	}
	o.gen++
	o.advertised[path] = &publication{remote: true, gen: o.gen}
	if len(o.pubs[path]) == 0 {
		o.touchLocked(path)
	}
}

// Withdraw undoes Advertise.
func (o *Origin) Withdraw(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.advertised[path] == nil {
		return
	}
	delete(o.advertised, path)
	if len(o.pubs[path]) == 0 {
		o.touchLocked(path)
	}
}

// announcedLocked is what watchers report for path: the publication served
// here, else (unless localOnly) the advertisement of a remote one.
func (o *Origin) announcedLocked(path string, localOnly bool) *publication {
	if p := o.currentLocked(path, localOnly); p != nil {
		return p
	}
	if localOnly {
		return nil
	}
	return o.advertised[path]
}

// Get returns the broadcast published at path on this node, if any. With
// localOnly, broadcasts relayed from other nodes are ignored.
func (o *Origin) Get(path string, localOnly bool) (*Broadcast, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.currentLocked(path, localOnly); p != nil {
		return p.b, true
	}
	return nil, false
}

// Consume returns the broadcast at path: the one published here, else the
// resolver's. It fails with ErrNotFound when neither has it.
func (o *Origin) Consume(ctx context.Context, path string) (*Broadcast, error) {
	o.mu.Lock()
	p := o.currentLocked(path, false)
	r := o.resolver
	o.mu.Unlock()
	if p != nil {
		return p.b, nil
	}
	if r == nil {
		return nil, ErrNotFound
	}
	return r.Resolve(ctx, path)
}

// Paths returns the announced paths under prefix, sorted: published here,
// and (unless localOnly) advertised from other nodes.
func (o *Origin) Paths(prefix string, localOnly bool) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pathsLocked(prefix, localOnly)
}

func (o *Origin) pathsLocked(prefix string, localOnly bool) []string {
	var out []string
	for path := range o.pubs {
		if HasPathPrefix(path, prefix) && o.currentLocked(path, localOnly) != nil {
			out = append(out, path)
		}
	}
	if !localOnly {
		for path := range o.advertised {
			if HasPathPrefix(path, prefix) && len(o.pubs[path]) == 0 {
				out = append(out, path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// touchLocked marks path for every watcher whose prefix covers it. Watchers
// are indexed by prefix, so a change costs one map lookup per ancestor of
// path rather than one check per watcher.
func (o *Origin) touchLocked(path string) {
	for prefix := range PathPrefixes(path) {
		for w := range o.watchers[prefix] {
			w.markLocked(path)
		}
	}
	for w := range o.unclean {
		if HasPathPrefix(path, w.opts.Prefix) {
			w.markLocked(path)
		}
	}
}

// WatchOptions select which announcements a Watcher sees.
type WatchOptions struct {
	Prefix    string
	LocalOnly bool // ignore broadcasts relayed from other nodes
}

// Watch returns a watcher that first reports every broadcast under the
// prefix as active, then every change. Unless opts.LocalOnly, a resolver
// that is a PrefixWatcher is asked to advertise what it can resolve under
// the prefix for as long as the watcher is open.
func (o *Origin) Watch(opts WatchOptions) *Watcher {
	o.mu.Lock()
	w := &Watcher{o: o, opts: opts, known: make(map[string]uint64), pending: make(map[string]struct{})}
	for _, path := range o.pathsLocked(opts.Prefix, opts.LocalOnly) {
		w.markLocked(path)
	}
	if opts.Prefix == CleanPath(opts.Prefix) {
		set := o.watchers[opts.Prefix]
		if set == nil {
			set = make(map[*Watcher]struct{})
			o.watchers[opts.Prefix] = set
		}
		set[w] = struct{}{}
	} else {
		o.unclean[w] = struct{}{}
	}
	pw, _ := o.resolver.(PrefixWatcher)
	o.mu.Unlock()
	if pw != nil && !opts.LocalOnly {
		w.stopRemote = pw.WatchPrefix(opts.Prefix)
	}
	return w
}

// Watcher yields announcements. It coalesces: a consumer that falls behind
// sees the net change per path, never a backlog, so a flapping publisher
// cannot grow its memory; a publisher replaced by another one on the same
// path is reported as inactive then active, so readers resubscribe.
type Watcher struct {
	o          *Origin
	opts       WatchOptions
	stopRemote func() // set once by Watch; the resolver's listing for this watcher

	// Guarded by o.mu.
	known   map[string]uint64 // path -> generation reported active
	pending map[string]struct{}
	order   []string
	wake    notifier
	closed  bool
}

func (w *Watcher) markLocked(path string) {
	if _, ok := w.pending[path]; ok {
		return
	}
	w.pending[path] = struct{}{}
	w.order = append(w.order, path)
	w.wake.broadcast()
}

// Next returns the next announcement, waiting for one. It returns ErrClosed
// after Close.
func (w *Watcher) Next(ctx context.Context) (Announcement, error) {
	o := w.o
	for {
		o.mu.Lock()
		if w.closed {
			o.mu.Unlock()
			return Announcement{}, ErrClosed
		}
		for len(w.order) > 0 {
			path := w.order[0]
			w.order[0] = ""
			w.order = w.order[1:]
			delete(w.pending, path)
			a, ok := w.diffLocked(path)
			if ok {
				o.mu.Unlock()
				return a, nil
			}
		}
		w.order = nil
		wake := w.wake.wait()
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Announcement{}, context.Cause(ctx)
		}
	}
}

func (w *Watcher) diffLocked(path string) (Announcement, bool) {
	known, wasActive := w.known[path]
	cur := w.o.announcedLocked(path, w.opts.LocalOnly)
	switch {
	case cur == nil && !wasActive:
		return Announcement{}, false
	case cur == nil:
		delete(w.known, path)
		return Announcement{Path: path, Active: false}, true
	case !wasActive:
		w.known[path] = cur.gen
		return Announcement{Path: path, Active: true, Remote: cur.remote, Hops: cur.hops}, true
	case known != cur.gen:
		// Replaced: report the end now and the new start on the next call.
		delete(w.known, path)
		w.order = append([]string{path}, w.order...)
		w.pending[path] = struct{}{}
		return Announcement{Path: path, Active: false}, true
	default:
		return Announcement{}, false
	}
}

// Close stops the watcher; a blocked Next returns ErrClosed.
func (w *Watcher) Close() {
	o := w.o
	o.mu.Lock()
	if w.closed {
		o.mu.Unlock()
		return
	}
	w.closed = true
	if set := o.watchers[w.opts.Prefix]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(o.watchers, w.opts.Prefix)
		}
	}
	delete(o.unclean, w)
	w.wake.broadcast()
	o.mu.Unlock()
	if w.stopRemote != nil {
		w.stopRemote()
	}
}
