package cluster

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
)

// listingHarness drives listings.apply directly: two roots' listings of one
// prefix, and what the Origin then announces.
type listingHarness struct {
	t      *testing.T
	ls     *listings
	origin *moqt.Origin
	r1, r2 *sourceListing
}

func newListingHarness(t *testing.T) *listingHarness {
	n := &Node{log: zap.NewNop(), opts: Options{Origin: moqt.NewOrigin(), HeartbeatInterval: time.Hour, OfflineThreshold: 6}}
	ls := newListings(n)
	pl := &prefixListing{prefix: "room", refs: 1}
	h := &listingHarness{t: t, ls: ls, origin: n.opts.Origin}
	h.r1 = &sourceListing{pl: pl, paths: map[string]struct{}{}}
	h.r2 = &sourceListing{pl: pl, paths: map[string]struct{}{}}
	return h
}

func (h *listingHarness) apply(ev listingEvent) { h.ls.apply(ev) }

func (h *listingHarness) listing(sl *sourceListing, complete bool, paths ...string) {
	var es []proto.PathEntry
	for _, p := range paths {
		es = append(es, proto.PathEntry{Path: p, Active: true})
	}
	h.apply(listingEvent{sl: sl, entries: es, complete: complete})
}

func (h *listingHarness) change(sl *sourceListing, path string, active bool) {
	h.apply(listingEvent{sl: sl, entries: []proto.PathEntry{{Path: path, Active: active}}, complete: true})
}

func (h *listingHarness) want(paths ...string) {
	h.t.Helper()
	if got := h.origin.Paths("", false); !slices.Equal(got, paths) {
		h.t.Fatalf("announced %v, want %v", got, paths)
	}
}

func TestListingsUnionAndResync(t *testing.T) {
	h := newListingHarness(t)
	h.apply(listingEvent{sl: h.r1, restart: true})
	h.listing(h.r1, false, "room/a", "room/b") // a first part: nothing yet
	h.want()
	h.listing(h.r1, true, "room/c")
	h.want("room/a", "room/b", "room/c")
	h.apply(listingEvent{sl: h.r2, restart: true})
	h.listing(h.r2, true, "room/a", "room/d")
	h.want("room/a", "room/b", "room/c", "room/d")

	// Changes: a path stays while any root lists it.
	h.change(h.r1, "room/a", false)
	h.want("room/a", "room/b", "room/c", "room/d")
	h.change(h.r2, "room/a", false)
	h.want("room/b", "room/c", "room/d")
	h.change(h.r1, "room/e", true)
	h.change(h.r1, "room/e", true) // repeated: counted once
	h.change(h.r1, "room/e", false)
	h.want("room/b", "room/c", "room/d")

	// r1 is lost: its paths stay (a reconnect is expected) ...
	h.apply(listingEvent{sl: h.r1, lost: true})
	h.want("room/b", "room/c", "room/d")
	// ... and it comes back with a listing that replaces the old one:
	// room/b ended while it was away, room/f started.
	h.apply(listingEvent{sl: h.r1, restart: true})
	h.listing(h.r1, true, "room/c", "room/f")
	h.want("room/c", "room/d", "room/f")
	// The stale generation of the earlier loss no longer withdraws anything.
	h.apply(listingEvent{sl: h.r1, expire: 1})
	h.want("room/c", "room/d", "room/f")

	// r2 is lost and stays away past the grace: its paths are withdrawn.
	h.apply(listingEvent{sl: h.r2, lost: true})
	h.apply(listingEvent{sl: h.r2, expire: h.r2.stale})
	h.want("room/c", "room/f")
	h.r2.expire.Stop()
	h.r1.expire.Stop()
}

func TestListingsBounded(t *testing.T) {
	h := newListingHarness(t)
	h.apply(listingEvent{sl: h.r1, restart: true})
	h.listing(h.r1, true)
	for i := range maxListedPaths {
		h.r1.paths[strconv.Itoa(i)] = struct{}{} // full, without announcing each
	}
	h.change(h.r1, "room/over", true)
	if _, ok := h.r1.paths["room/over"]; ok || !h.ls.warned {
		t.Fatalf("a listing at %d paths took one more (warned %v)", maxListedPaths, h.ls.warned)
	}
}
