package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// announceWithin bounds how long a receiving node may take to announce a
// broadcast published on another node to its clients.
const announceWithin = 5 * time.Second

// TestBrowserCluster runs a root and two leaves, each a moq-relay process.
// On every route a page publishes on one node and a second page, same
// package and protocol, receives on another: leaf a → leaf b, b → a, and
// through the root (a → root, root → b). For each route, package and
// protocol (default, each moq-lite version forced):
//
//   - a Go client on the receiving node must see the broadcast announced
//     (every node announces what is published anywhere in the cluster; @moq/net
//     subscribes only to announced broadcasts);
//   - the receiving page must get 5 consecutive frames of the publishing page.
func TestBrowserCluster(t *testing.T) {
	requireHarness(t)
	c := startCluster(t)
	br := startBrowser(t)
	routes := []struct {
		name     string
		from, to *relayProc
	}{
		{"a-to-b", c.a, c.b},
		{"b-to-a", c.b, c.a},
		{"a-to-root", c.a, c.root},
		{"root-to-b", c.root, c.b},
	}
	for _, route := range routes {
		for _, pkg := range pkgs {
			for _, proto := range protocols {
				t.Run(route.name+"/"+pkg+"/"+proto.name, func(t *testing.T) {
					t.Parallel()
					br.slot(t)
					side := pageSide{pkg: pkg, alpn: proto.alpn, want: proto.want}
					crossNode(t, br, route.from, route.to, proto.name, side, side)
				})
			}
		}
	}
}

// pageSide is the package of one page, the protocols it offers (--alpn, ""
// for the package's default list) and the protocol it must report.
type pageSide struct{ pkg, alpn, want string }

// crossNode publishes from a page (pubSide) on from and receives with a page
// (subSide) on to; from may be to.
func crossNode(t *testing.T, br *browser, from, to *relayProc, caseName string, pubSide, subSide pageSide) {
	// The publishing page writes one frame per group every 100 ms from the
	// first request on, for up to 10 s; the receiver needs 5.
	const published, count = 100, 5
	broadcast := fmt.Sprintf("cluster/%s-%s/%s/%s", from.name, to.name, pubSide.pkg, caseName)
	prefix := uniquePrefix(t)
	watcher := connectGo(t, to)
	pub := br.open(t, pageRequest{Pkg: pubSide.pkg, Mode: "pub", Relay: from.url(), Broadcast: broadcast, Track: "t",
		Frames: published, Interval: 100, Hold: 30000, Prefix: prefix, ALPN: pubSide.alpn, Timeout: 30000})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pub.event(ctx, "announced"); err != nil {
		t.Fatalf("publishing page on %s: %v%s", from.name, err, pub.logs())
	}
	pubAnnounced := time.Now()

	annCtx, annCancel := context.WithTimeout(ctx, announceWithin)
	defer annCancel()
	if err := waitAnnounced(annCtx, watcher, broadcast); err != nil {
		t.Errorf("a Go client on %s never saw %q, published on %s, announced within %v "+
			"(every node must announce every broadcast in the cluster): %v", to.name, broadcast, from.name, announceWithin, err)
	} else {
		t.Logf("announced on %s %v after the page published on %s", to.name, time.Since(pubAnnounced).Round(time.Millisecond), from.name)
	}

	sub := br.open(t, pageRequest{Pkg: subSide.pkg, Mode: "sub", Relay: to.url(), Broadcast: broadcast, Track: "t",
		Count: count, ALPN: subSide.alpn, Timeout: 15000})
	subFinal, err := sub.result()
	if err != nil {
		t.Fatalf("receiving page on %s: %v%s", to.name, err, sub.logs())
	}
	if !subFinal.OK {
		pub.stop()
		pubFinal, _ := pub.result()
		t.Fatalf("receiving page %s on %s failed in phase %q after %d frames %q: %s%s\npublishing page on %s: ok=%v phase %q published %d %s%s",
			subSide.pkg, to.name, subFinal.Phase, len(subFinal.Frames), subFinal.Frames, subFinal.Error, sub.logs(),
			from.name, pubFinal.OK, pubFinal.Phase, pubFinal.Published, pubFinal.Error, pub.logs())
	}
	pub.stop()
	pubFinal := pub.wait(t)
	sub.checkProtocol(t, subSide.want)
	pub.checkProtocol(t, pubSide.want)

	// From the first frame on, consecutive frames of this page's track. A
	// subscription starts at the latest group, and a group the publisher
	// had in flight when it started may still follow it: such an older
	// frame is allowed (and counted), never a gap or a swap after it.
	var lat []time.Duration
	first, inSeq, older := -1, 0, 0
	for k, f := range subFinal.Frames {
		i, ok := frameIndex(f, prefix)
		if !ok || i >= len(pubFinal.Sent) {
			t.Fatalf("frame %d %q is not one the page on %s published (%s-0..%d)", k, f, from.name, prefix, len(pubFinal.Sent)-1)
		}
		switch {
		case k == 0:
			first, inSeq = i, 1
		case i < first && older == 0 && k <= 2:
			older++
			t.Logf("frame %d is %q, from before the subscription's first (%s-%d): in flight when it started", k, f, prefix, first)
		case i != first+inSeq:
			t.Errorf("frame %d is %q, want %s-%d (frames %q)", k, f, prefix, first+inSeq, subFinal.Frames)
			inSeq++
		default:
			inSeq++
		}
		if k < len(subFinal.Times) {
			lat = append(lat, msTime(subFinal.Times[k]).Sub(msTime(pubFinal.Sent[i])))
		}
	}
	if len(subFinal.Frames) != count {
		t.Errorf("receiving page got %d frames, want %d", len(subFinal.Frames), count)
	}
	t.Logf("%s %s over %s → %s %s over %s, %s → %s: %d frames from #%d; latency %s; receiving page done in %v",
		pubFinal.Pkg, pubFinal.Version, pubFinal.Protocol, subFinal.Pkg, subFinal.Version, subFinal.Protocol, from.name, to.name, len(subFinal.Frames), first,
		latencies(lat), time.Since(sub.start).Round(time.Millisecond))
}
