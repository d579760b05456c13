package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
)

// DirectoryOptions configure liveness. HeartbeatInterval > 0; 0 < SuspectThreshold < OfflineThreshold.
type DirectoryOptions struct {
	HeartbeatInterval time.Duration
	SuspectThreshold  int              // missed heartbeats before a member is suspect
	OfflineThreshold  int              // missed heartbeats before it is offline
	Now               func() time.Time // nil: time.Now (tests inject a fake clock)

	// Bounds (0: none). A new node id beyond MaxMembers first makes room by
	// forgetting the member offline the longest; offline members are
	// forgotten ForgetOfflineAfter after they went offline.
	MaxMembers                int
	ForgetOfflineAfter        time.Duration
	MaxAnnouncementsPerMember int
}

// Errors of Join and Announce.
var (
	// ErrStale: the registration was replaced or went offline.
	ErrStale = errors.New("registration not current")
	// ErrLimit: a directory bound would be exceeded.
	ErrLimit = errors.New("limit exceeded")
)

// Member is a snapshot of one registration as the root sees it.
type Member struct {
	ID         string
	URL        string
	State      proto.State
	Load       proto.Load
	LastHeard  time.Time // last heartbeat, or the join if none since
	Broadcasts int       // paths it announces
	Epoch      uint64    // the registration, as returned by Join
	// Incarnation is the node process's own id for this registration (see
	// proto.Hello): a node that restarts joins with a new one.
	Incarnation uint64
}

// Departed names a registration that went offline, so that the caller can
// close its connection.
type Departed struct {
	ID    string
	Epoch uint64
}

// Directory is the root's membership list and its broadcast directory
// (path → members that publish it), with liveness driven by heartbeats and
// Tick. It is safe for concurrent use and owns no goroutines.
type Directory struct {
	suspectAfter time.Duration
	offlineAfter time.Duration
	now          func() time.Time
	limits       DirectoryOptions // the bounds only

	mu        sync.RWMutex
	members   map[string]*member
	paths     map[string]*pathEntry // announced or watched paths
	listings  map[string][]*listing // WatchPrefix registrations by prefix
	announced int                   // paths with at least one publisher
	lastEpoch uint64
	lastSeq   uint64         // announcement counter: recency without relying on the clock
	pending   []notification // queued by the mutation holding mu

	// Notifications are queued under mu, so in change order, and delivered
	// outside it by one draining goroutine at a time, so a slow watcher
	// never holds up lookups.
	outMu    sync.Mutex
	outbox   []notification
	draining bool
}

type member struct {
	id, url     string
	epoch       uint64
	incarnation uint64
	state       proto.State
	load        proto.Load
	lastHeard   time.Time
	wentOffline time.Time // when state became offline
	paths       map[string]*pathEntry
}

type pathEntry struct {
	publishers []publication // usually one; two while a broadcast moves
	watches    []*watch
}

type publication struct {
	member *member
	seq    uint64
}

type watch struct {
	fn        func([]proto.Candidate)
	cancelled atomic.Bool
}

// listing is a WatchPrefix registration.
type listing struct {
	prefix    string
	exclude   string // node id whose own publications are not listed
	fn        func(entries []proto.PathEntry)
	cancelled atomic.Bool
}

// notification is one queued callback: a watch's new candidates, or a
// listing's entries.
type notification struct {
	watch      *watch
	candidates []proto.Candidate
	listing    *listing
	entries    []proto.PathEntry
}

// NewDirectory returns an empty directory. It panics on options that break
// the documented constraints: they are validated with the configuration.
func NewDirectory(opts DirectoryOptions) *Directory {
	if opts.HeartbeatInterval <= 0 || opts.SuspectThreshold <= 0 || opts.OfflineThreshold <= opts.SuspectThreshold {
		panic("cluster: invalid DirectoryOptions")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Directory{
		suspectAfter: time.Duration(opts.SuspectThreshold) * opts.HeartbeatInterval,
		offlineAfter: time.Duration(opts.OfflineThreshold) * opts.HeartbeatInterval,
		now:          now,
		limits:       DirectoryOptions{MaxMembers: opts.MaxMembers, ForgetOfflineAfter: opts.ForgetOfflineAfter, MaxAnnouncementsPerMember: opts.MaxAnnouncementsPerMember},
		members:      make(map[string]*member),
		paths:        make(map[string]*pathEntry),
		listings:     make(map[string][]*listing),
	}
}

// Join registers incarnation of node id at url (healthy, last heard now) and
// returns the epoch of this registration. A node that joins again replaces its
// previous registration: the old registration's entries are dropped (watchers
// told) and operations carrying the old epoch are ignored from then on. A new
// id when MaxMembers are known and none is offline fails with ErrLimit.
func (d *Directory) Join(id, url string, incarnation uint64) (epoch uint64, err error) {
	d.mu.Lock()
	defer d.unlockAndNotify()
	if old := d.members[id]; old != nil {
		d.goOffline(old)
	} else if max := d.limits.MaxMembers; max > 0 && len(d.members) >= max {
		if !d.forgetLongestOffline() {
			return 0, fmt.Errorf("%w: %d members, none offline", ErrLimit, len(d.members))
		}
	}
	d.lastEpoch++
	d.members[id] = &member{
		id:          id,
		url:         url,
		epoch:       d.lastEpoch,
		incarnation: incarnation,
		state:       proto.StateHealthy,
		lastHeard:   d.now(),
		paths:       make(map[string]*pathEntry),
	}
	return d.lastEpoch, nil
}

// forgetLongestOffline drops the member offline the longest; false when
// none is offline.
func (d *Directory) forgetLongestOffline() bool {
	var oldest *member
	for _, m := range d.members {
		if m.state == proto.StateOffline && (oldest == nil || m.wentOffline.Before(oldest.wentOffline)) {
			oldest = m
		}
	}
	if oldest == nil {
		return false
	}
	delete(d.members, oldest.id)
	return true
}

// Leave marks the registration offline at once (connection lost): its
// entries are dropped and watchers told. Stale epoch: no-op. An offline
// member stays listed (state offline, for visibility) until it joins again,
// ForgetOfflineAfter passes, a new member needs its place, or Forget.
func (d *Directory) Leave(id string, epoch uint64) {
	d.mu.Lock()
	defer d.unlockAndNotify()
	if m := d.current(id, epoch); m != nil {
		d.goOffline(m)
	}
}

// Heartbeat records load and liveness; a suspect member becomes healthy
// again. Stale epoch or offline: ignored, returns false.
func (d *Directory) Heartbeat(id string, epoch uint64, load proto.Load) bool {
	d.mu.Lock()
	defer d.unlockAndNotify()
	m := d.current(id, epoch)
	if m == nil {
		return false
	}
	m.load = load
	m.lastHeard = d.now()
	d.setState(m, proto.StateHealthy)
	return true
}

// Announce records that the registration publishes path. It fails with
// ErrStale for a stale epoch or an offline member (ignored) and ErrLimit
// beyond MaxAnnouncementsPerMember. Announcing twice is idempotent.
func (d *Directory) Announce(id string, epoch uint64, path string) error {
	d.mu.Lock()
	defer d.unlockAndNotify()
	m := d.current(id, epoch)
	if m == nil {
		return ErrStale
	}
	if _, ok := m.paths[path]; ok {
		return nil
	}
	if max := d.limits.MaxAnnouncementsPerMember; max > 0 && len(m.paths) >= max {
		return fmt.Errorf("%w: member %s announces %d broadcasts", ErrLimit, id, len(m.paths))
	}
	e := d.paths[path]
	if e == nil {
		e = &pathEntry{}
		d.paths[path] = e
	}
	if len(e.publishers) == 0 {
		d.announced++
	}
	d.lastSeq++
	before := len(e.publishers)
	e.publishers = append(e.publishers, publication{member: m, seq: d.lastSeq})
	m.paths[path] = e
	d.changed(e) // current returned a live (healthy or suspect) member
	d.relist(path, e.publishers[:before], e.publishers)
	return nil
}

// Unannounce withdraws an Announce (stale epoch or offline: ignored, returns
// false). Withdrawing a path that is not announced is accepted and changes
// nothing.
func (d *Directory) Unannounce(id string, epoch uint64, path string) bool {
	d.mu.Lock()
	defer d.unlockAndNotify()
	m := d.current(id, epoch)
	if m == nil {
		return false
	}
	if e, ok := m.paths[path]; ok {
		delete(m.paths, path)
		d.unpublish(path, e, m)
	}
	return true
}

// Lookup returns the healthy members that publish path, most recent
// announcement first: the newest publication is the live one (a publisher
// that moved or reconnected publishes anew). Suspect and offline members are
// never returned. None: nil.
func (d *Directory) Lookup(path string) []proto.Candidate {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if e := d.paths[path]; e != nil {
		return e.candidates(false)
	}
	return nil
}

// Watched is the answer a watch sees: Lookup's healthy candidates, then the
// suspect publishers (State suspect). A watcher already pulling from a node
// that turns suspect keeps it until it goes offline; it only never picks a
// suspect node anew.
func (d *Directory) Watched(path string) []proto.Candidate {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if e := d.paths[path]; e != nil {
		return e.candidates(true)
	}
	return nil
}

// Watch calls fn with the new candidate list (as Watched: healthy, then
// suspect; empty when the broadcast ended everywhere) whenever the answer
// for path changes: a live node announces or unannounces it, or a publisher
// becomes suspect, healthy again, or offline. Load reported by heartbeats
// alone does not notify; it is fresh in each list. fn is not called for the
// initial state: call Watch, then Watched, and every change after that
// answer is notified.
//
// Calls for one watch are serialized and arrive in the order of the changes.
// fn runs outside the Directory's lock on the goroutine of some mutating
// call, so it must not block and must not call back into the Directory
// synchronously (hand the list to another goroutine); only cancel is safe
// to call from fn. fn owns the slice it is given.
//
// cancel stops further calls (a call in progress may finish); calling it
// again does nothing.
func (d *Directory) Watch(path string, fn func([]proto.Candidate)) (cancel func()) {
	w := &watch{fn: fn}
	d.mu.Lock()
	e := d.paths[path]
	if e == nil {
		e = &pathEntry{}
		d.paths[path] = e
	}
	e.watches = append(e.watches, w)
	d.mu.Unlock()

	return func() {
		if w.cancelled.Swap(true) {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		// e stays in d.paths while it holds w, so it is still the entry for path.
		if i := slices.Index(e.watches, w); i >= 0 {
			e.watches = slices.Delete(e.watches, i, i+1)
		}
		d.dropIfUnused(path, e)
	}
}

// WatchPrefix lists the paths under prefix that some node other than
// exclude publishes (live: healthy or suspect), then every change to that
// list: fn is called first with the whole listing (every entry Active; an
// empty slice when there is none), then with one entry per path that enters
// or leaves it, in change order. The same rules as Watch apply to fn: it
// runs outside the Directory's lock, must not block and must not call back
// into the Directory; it owns the slice. cancel stops further calls.
func (d *Directory) WatchPrefix(prefix, exclude string, fn func([]proto.PathEntry)) (cancel func()) {
	l := &listing{prefix: prefix, exclude: exclude, fn: fn}
	d.mu.Lock()
	entries := []proto.PathEntry{}
	for path, e := range d.paths {
		if moqt.HasPathPrefix(path, prefix) && listedFor(e.publishers, exclude) {
			entries = append(entries, proto.PathEntry{Path: path, Active: true})
		}
	}
	slices.SortFunc(entries, func(a, b proto.PathEntry) int { return strings.Compare(a.Path, b.Path) })
	d.listings[prefix] = append(d.listings[prefix], l)
	d.pending = append(d.pending, notification{listing: l, entries: entries})
	d.unlockAndNotify()

	return func() {
		if l.cancelled.Swap(true) {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		list := d.listings[prefix]
		if i := slices.Index(list, l); i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(d.listings, prefix)
		} else {
			d.listings[prefix] = list
		}
	}
}

// listedFor reports whether a path published by pubs is listed to a
// WatchPrefix that excludes node exclude.
func listedFor(pubs []publication, exclude string) bool {
	for _, p := range pubs {
		if p.member.id != exclude {
			return true
		}
	}
	return false
}

// relist queues an entry for each listing covering path whose answer
// differs between the publishers before and after a change. Listings are
// indexed by prefix, so this costs one map lookup per ancestor of path.
// Caller holds mu for writing.
func (d *Directory) relist(path string, before, after []publication) {
	if len(d.listings) == 0 {
		return
	}
	for prefix := range moqt.PathPrefixes(path) {
		for _, l := range d.listings[prefix] {
			was, is := listedFor(before, l.exclude), listedFor(after, l.exclude)
			if was != is {
				d.pending = append(d.pending, notification{listing: l, entries: []proto.PathEntry{{Path: path, Active: is}}})
			}
		}
	}
}

// Tick evaluates heartbeat deadlines at the current time: a member whose
// last heartbeat (or join) is at least SuspectThreshold intervals old becomes
// suspect, at least OfflineThreshold intervals old becomes offline (entries
// dropped, watchers told), and members offline for ForgetOfflineAfter are
// forgotten. It returns the members that went offline in this
// tick, sorted by ID, so that the caller can close their connections. The
// root calls it every HeartbeatInterval (or more often).
func (d *Directory) Tick() []Departed {
	d.mu.Lock()
	defer d.unlockAndNotify()
	now := d.now()
	var departed []Departed
	for _, m := range d.members {
		if m.state == proto.StateOffline {
			if ttl := d.limits.ForgetOfflineAfter; ttl > 0 && now.Sub(m.wentOffline) >= ttl {
				delete(d.members, m.id) // deleting during range is allowed
			}
			continue
		}
		silent := now.Sub(m.lastHeard)
		switch {
		case silent >= d.offlineAfter:
			d.goOffline(m)
			departed = append(departed, Departed{ID: m.id, Epoch: m.epoch})
		case silent >= d.suspectAfter:
			d.setState(m, proto.StateSuspect)
		}
	}
	slices.SortFunc(departed, func(a, b Departed) int { return strings.Compare(a.ID, b.ID) })
	return departed
}

// Members returns a snapshot of every member, sorted by ID.
func (d *Directory) Members() []Member {
	d.mu.RLock()
	defer d.mu.RUnlock()
	list := make([]Member, 0, len(d.members))
	for _, m := range d.members {
		list = append(list, Member{
			ID:          m.id,
			URL:         m.url,
			State:       m.state,
			Load:        m.load,
			LastHeard:   m.lastHeard,
			Broadcasts:  len(m.paths),
			Epoch:       m.epoch,
			Incarnation: m.incarnation,
		})
	}
	slices.SortFunc(list, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return list
}

// Size returns the number of distinct announced paths.
func (d *Directory) Size() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.announced
}

// Forget removes an offline member from the listing; a member that is not
// offline stays.
func (d *Directory) Forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.members[id]; m != nil && m.state == proto.StateOffline {
		delete(d.members, id)
	}
}

// current returns the live registration id holds at epoch, or nil.
func (d *Directory) current(id string, epoch uint64) *member {
	m := d.members[id]
	if m == nil || m.epoch != epoch || m.state == proto.StateOffline {
		return nil
	}
	return m
}

// setState moves a live member between healthy and suspect; only the paths
// it publishes can see a different answer.
func (d *Directory) setState(m *member, s proto.State) {
	if m.state == s {
		return
	}
	m.state = s
	for _, e := range m.paths {
		d.changed(e)
	}
}

func (d *Directory) goOffline(m *member) {
	for path, e := range m.paths {
		d.unpublish(path, e, m)
	}
	clear(m.paths)
	m.state = proto.StateOffline
	m.wentOffline = d.now()
}

// unpublish removes m from e; the caller removes e from m.paths.
func (d *Directory) unpublish(path string, e *pathEntry, m *member) {
	i := slices.IndexFunc(e.publishers, func(p publication) bool { return p.member == m })
	if i < 0 {
		return
	}
	var before []publication // for relist, which needs it only with listings
	if len(d.listings) > 0 {
		before = slices.Clone(e.publishers)
	}
	e.publishers = slices.Delete(e.publishers, i, i+1)
	if len(e.publishers) == 0 {
		d.announced--
	}
	d.relist(path, before, e.publishers)
	if m.state != proto.StateOffline {
		d.changed(e)
	}
	d.dropIfUnused(path, e)
}

func (d *Directory) dropIfUnused(path string, e *pathEntry) {
	if len(e.publishers) == 0 && len(e.watches) == 0 {
		delete(d.paths, path)
	}
}

// changed queues e's new answer for each of its watches. Caller holds mu
// for writing.
func (d *Directory) changed(e *pathEntry) {
	if len(e.watches) == 0 {
		return
	}
	list := e.candidates(true)
	for i, w := range e.watches {
		if i > 0 {
			list = slices.Clone(list) // each watcher owns its slice
		}
		d.pending = append(d.pending, notification{watch: w, candidates: list})
	}
}

// unlockAndNotify ends a mutation: its notifications join the outbox while
// mu is still held, which fixes their place in change order, and are then
// delivered with mu released.
func (d *Directory) unlockAndNotify() {
	pending := d.pending
	d.pending = nil
	if len(pending) > 0 {
		d.outMu.Lock()
		d.outbox = append(d.outbox, pending...)
		d.outMu.Unlock()
	}
	d.mu.Unlock()
	if len(pending) > 0 {
		d.drain()
	}
}

// drain delivers the outbox unless another goroutine already is, in which
// case that one will also deliver what was just queued.
func (d *Directory) drain() {
	d.outMu.Lock()
	if d.draining {
		d.outMu.Unlock()
		return
	}
	d.draining = true
	for {
		batch := d.outbox
		d.outbox = nil
		if len(batch) == 0 {
			d.draining = false
			d.outMu.Unlock()
			return
		}
		d.outMu.Unlock()
		for _, n := range batch {
			switch {
			case n.listing != nil:
				if !n.listing.cancelled.Load() {
					n.listing.fn(n.entries)
				}
			case !n.watch.cancelled.Load():
				n.watch.fn(n.candidates)
			}
		}
		d.outMu.Lock()
	}
}

// candidates is e's healthy publishers, best first, then (withSuspect) its
// suspect ones. Caller holds mu.
func (e *pathEntry) candidates(withSuspect bool) []proto.Candidate {
	var buf [4]publication
	live := buf[:0]
	for _, p := range e.publishers {
		if p.member.state == proto.StateHealthy || (withSuspect && p.member.state == proto.StateSuspect) {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return nil
	}
	slices.SortFunc(live, func(a, b publication) int {
		if a.member.state != b.member.state {
			return cmp.Compare(a.member.state, b.member.state) // healthy (1) before suspect (2)
		}
		return comparePublications(a, b)
	})
	list := make([]proto.Candidate, len(live))
	for i, p := range live {
		list[i] = proto.Candidate{NodeID: p.member.id, URL: p.member.url, State: p.member.state, Load: p.member.load,
			Incarnation: p.member.incarnation}
	}
	return list
}

// comparePublications orders best first: the most recent announcement.
func comparePublications(a, b publication) int {
	return cmp.Compare(b.seq, a.seq)
}
