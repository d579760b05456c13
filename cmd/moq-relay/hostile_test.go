package main

// Hostile clients against real moq-relay processes (issue 9): a root and two
// leaves started as a user starts them (shared token file, the root with
// --cluster-node-host 127.0.0.1), attacked from the test process. Each case
// measures what a user would: the root's RSS (/proc/PID/status), the bytes
// its log grew, and the longest wait between groups of a healthy broadcast
// published on leaf a and read on leaf b and on the root itself. Each prints
// one FIGURE line.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

const (
	hostileQueueBytes  = 4 << 20  // the root's cluster.limits.max_send_queue_bytes
	hostilePerIP       = 8        // and max_connections_per_ip
	maxRootGrowth      = 64 << 20 // bytes of RSS the non-reading member may cost the root (1 GiB before the bound)
	maxHealthyGap      = 500 * time.Millisecond
	healthyObservation = time.Second // the healthy stream is watched this long after each attack
)

// hostileRootTOML gives the root bounds small enough to trip fast. The
// message bound of the send queue is raised so that its byte bound is the
// one a non-reading member meets (at the default 100,000 messages, the
// message bound trips first, at about 2 MB of UPDATEs). Its
// establish_timeout stays at the default (5 s), so the unregistered
// connections the per-address case holds are not timed out meanwhile.
var hostileRootTOML = fmt.Sprintf(`[cluster.relay]
release_delay = "300ms"
retry_delay = "100ms"
max_retry_attempts = 2

[cluster.limits]
max_send_queue_bytes = %d
max_send_queue_messages = 10000000
max_connections_per_ip = %d
`, hostileQueueBytes, hostilePerIP)

// The hostile cases of issue 9, each against the root while a healthy
// broadcast flows: a cluster member that watches one path 4,000 times,
// toggles it and never reads; cluster connections from one address beyond
// the bound; WebTransport upgrades with 900 KiB paths; a publisher toggling
// one broadcast. Each offender is closed with a code, the root's RSS or log
// stays bounded, and neither healthy subscriber waits over 500 ms.
func TestHostileClientsAgainstRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	root := startNode(t, writeFile(t, "root.toml", hostileRootTOML), "root", nil)
	leafCfg := writeFile(t, "leaf.toml", faultTOML)
	a := startNode(t, leafCfg, "a", []*clusterNode{root})
	b := startNode(t, leafCfg, "b", []*clusterNode{root})
	registered(t, []*clusterNode{root}, a, b)
	healthy := startHostileHealthy(t, root, a, b)
	fp := certFingerprint(t, root)
	addr := fmt.Sprintf("127.0.0.1:%d", root.port)

	t.Run("non-reading cluster member", func(t *testing.T) {
		const watches, maxToggles = 4000, 5000
		start, rssBefore, hwmBefore, logBefore := time.Now(), procKiB(t, root, "VmRSS"), procKiB(t, root, "VmHWM"), len(root.output())
		warnsBefore, _ := warnLines(root, "closing cluster connection")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		hog := dialCluster(ctx, t, addr, fp)
		str, err := hog.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hello := proto.Hello{Version: proto.Version, Purpose: proto.PurposeControl, NodeID: "hog",
			URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), Token: testClusterSecret, Incarnation: 1}
		if _, err := str.Write(proto.Append(nil, hello)); err != nil {
			t.Fatal(err)
		}
		if m, err := proto.Read(wire.NewReader(str)); err != nil {
			t.Fatalf("no welcome: %v (%v)", err, hog.Err())
		} else if _, ok := m.(proto.Welcome); !ok {
			t.Fatalf("got %T, want WELCOME", m)
		}
		var lookups []byte
		for i := range watches {
			lookups = proto.Append(lookups, proto.Lookup{RequestID: uint64(i + 1), Path: "hot", Watch: true})
		}
		if _, err := str.Write(lookups); err != nil {
			t.Fatal(err)
		}
		// Toggle "hot" and never read: every toggle queues an UPDATE per watch.
		toggle := proto.Append(proto.Append(nil, proto.Announce{Path: "hot"}), proto.Unannounce{Path: "hot"})
		toggles := 0
		for ; toggles < maxToggles && hog.Context().Err() == nil && ctx.Err() == nil; toggles++ {
			if _, err := str.Write(toggle); err != nil {
				break
			}
		}
		code, reason := closedByRoot(ctx, t, hog)
		closedAfter := time.Since(start)
		rssAfter, hwmAfter := procKiB(t, root, "VmRSS"), procKiB(t, root, "VmHWM")
		peakGrowth := rssAfter - rssBefore
		if hwmAfter > hwmBefore {
			peakGrowth = max(peakGrowth, hwmAfter-rssBefore)
		}
		gapB, gapRoot, frames := healthy.watch(t, start)
		warns, logged := warnLines(root, "closing cluster connection")
		t.Logf("FIGURE hostile non_reading_member: watches=%d toggles_sent=%d closed_after_dial=%s code=0x%x reason=%q root_logged=%q rss_before=%dMiB rss_after=%dMiB peak_growth=%dMiB log_bytes=%d healthy_gap_b=%s healthy_gap_root=%s healthy_groups=%d",
			watches, toggles, ms(closedAfter), code, reason, logged, rssBefore>>10, rssAfter>>10, peakGrowth>>10,
			len(root.output())-logBefore, ms(gapB), ms(gapRoot), frames)
		if code != proto.CodeLimit {
			t.Errorf("hog closed with code 0x%x %q, want 0x%x (limit)", code, reason, proto.CodeLimit)
		}
		if n := warns; n-warnsBefore != 1 {
			t.Errorf("root logged %d warn lines closing the hog, want 1", n-warnsBefore)
		}
		if peakGrowth > maxRootGrowth>>10 {
			t.Errorf("root's RSS grew %d MiB at its peak, want < %d MiB (send queue bound %d MiB)", peakGrowth>>10, maxRootGrowth>>20, hostileQueueBytes>>20)
		}
		healthy.check(t, gapB, gapRoot)
	})

	t.Run("connections from one address", func(t *testing.T) {
		start := time.Now()
		warnsBefore, _ := warnLines(root, "cluster connection refused")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// The leaves' control connections come from 127.0.0.1 too: the test
		// opens connections until the one over the bound is refused.
		var held []transport.Session
		defer func() {
			for _, c := range held {
				_ = c.CloseWithError(0, "test over")
			}
		}()
		var refused transport.Session
		for range hostilePerIP + 1 {
			c := dialCluster(ctx, t, addr, fp)
			select {
			case <-c.Context().Done():
				refused = c
			case <-time.After(200 * time.Millisecond): // the root has taken it
			}
			if refused != nil {
				break
			}
			held = append(held, c)
		}
		if refused == nil {
			t.Fatalf("%d connections from one address held, none refused (bound %d)", len(held), hostilePerIP)
		}
		code, reason := closedByRoot(ctx, t, refused)
		var heldClosed []error
		for _, c := range held {
			if c.Context().Err() != nil {
				heldClosed = append(heldClosed, c.Err())
			}
		}
		gapB, gapRoot, frames := healthy.watch(t, start)
		t.Logf("FIGURE hostile connections_per_ip: held=%d bound=%d refused_code=0x%x reason=%q held_closed=%d healthy_gap_b=%s healthy_gap_root=%s healthy_groups=%d",
			len(held), hostilePerIP, code, reason, len(heldClosed), ms(gapB), ms(gapRoot), frames)
		if code != proto.CodeLimit {
			t.Errorf("connection over the bound closed with code 0x%x %q, want 0x%x (limit)", code, reason, proto.CodeLimit)
		}
		if len(held) >= hostilePerIP {
			t.Errorf("%d connections held from one address besides the leaves', bound %d in all", len(held), hostilePerIP)
		}
		if n, _ := warnLines(root, "cluster connection refused"); n-warnsBefore != 1 {
			t.Errorf("root logged %d warn lines refusing connections, want 1", n-warnsBefore)
		}
		if len(heldClosed) > 0 {
			t.Errorf("connections within the bound were closed: %v", heldClosed)
		}
		healthy.check(t, gapB, gapRoot)
	})

	t.Run("failed upgrades with 1 MB paths", func(t *testing.T) {
		const requests, pathLen = 100, 900 << 10
		start, logBefore := time.Now(), len(root.output())
		// No datagrams offered: the root refuses each upgrade with 400.
		tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: pinned(fp)}}
		defer tr.Close()
		url := fmt.Sprintf("https://%s/%s", addr, strings.Repeat("a", pathLen))
		refused := 0
		for range requests {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodConnect, url, nil)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			req.Proto = "webtransport"
			rsp, err := tr.RoundTrip(req)
			cancel()
			if err != nil {
				t.Fatalf("CONNECT: %v", err)
			}
			_ = rsp.Body.Close()
			if rsp.StatusCode == http.StatusBadRequest {
				refused++
			}
		}
		sent := time.Since(start)
		logStillCollected(t, root)
		logged := len(root.output()) - logBefore
		gapB, gapRoot, frames := healthy.watch(t, start)
		t.Logf("FIGURE hostile failed_upgrades: requests=%d path_kib=%d refused_400=%d took=%s log_bytes=%d healthy_gap_b=%s healthy_gap_root=%s healthy_groups=%d",
			requests, pathLen>>10, refused, ms(sent), logged, ms(gapB), ms(gapRoot), frames)
		if refused != requests {
			t.Errorf("%d of %d upgrades refused with 400", refused, requests)
		}
		if logged > 100<<10 {
			t.Errorf("failed upgrades grew the root's log by %d KiB, want < 100 KiB", logged>>10)
		}
		healthy.check(t, gapB, gapRoot)
	})

	t.Run("announce toggles", func(t *testing.T) {
		const pairs, pairsPerWrite = 50_000, 500
		start, logBefore := time.Now(), len(root.output())
		warnsBefore, _ := warnLines(root, "closing session: announce rate exceeded")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// A hand-driven moq-lite-04 publisher answering the root's announce
		// interest with on/off pairs of broadcast "toggle".
		toggler, err := transport.DialQUIC(ctx, addr, "localhost", transport.DialOptions{
			Protocols: []string{lite.Lite04.ALPN()}, Fingerprints: [][32]byte{fp}})
		if err != nil {
			t.Fatal(err)
		}
		defer toggler.CloseWithError(0, "test over")
		str, err := toggler.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := wire.NewReader(str)
		if typ, err := r.Varint(); err != nil || lite.StreamType(typ) != lite.StreamAnnounce {
			t.Fatalf("root's first stream: type %d, %v; want announce", typ, err)
		}
		var interest lite.AnnounceInterest
		if err := lite.ReadMessage(r, lite.Lite04, &interest); err != nil {
			t.Fatal(err)
		}
		var chunk []byte
		for range pairsPerWrite {
			on, off := lite.Announce{Active: true, Suffix: "toggle"}, lite.Announce{Active: false, Suffix: "toggle"}
			chunk = off.AppendTo(on.AppendTo(chunk, lite.Lite04), lite.Lite04)
		}
		written, toggling := 0, time.Now()
		for written < pairs && ctx.Err() == nil {
			if _, err := str.Write(chunk); err != nil {
				break
			}
			written += pairsPerWrite
		}
		se := closedByRootSession(ctx, t, toggler)
		closedAfter := time.Since(toggling)
		logStillCollected(t, root)
		logged := len(root.output()) - logBefore
		gapB, gapRoot, frames := healthy.watch(t, start)
		t.Logf("FIGURE hostile announce_toggles: pairs_written=%d closed_after_first_write=%s code=%d (%v) log_bytes=%d healthy_gap_b=%s healthy_gap_root=%s healthy_groups=%d",
			written, ms(closedAfter), se.Code, wire.Code(se.Code), logged, ms(gapB), ms(gapRoot), frames)
		if wire.Code(se.Code) != wire.CodeLimit {
			t.Errorf("toggler closed with %v (%q), want %v", wire.Code(se.Code), se.Reason, wire.CodeLimit)
		}
		if n, _ := warnLines(root, "closing session: announce rate exceeded"); n-warnsBefore != 1 {
			t.Errorf("root logged %d warn lines about the announce rate, want 1", n-warnsBefore)
		}
		if logged > 100<<10 {
			t.Errorf("announce toggles grew the root's log by %d KiB, want < 100 KiB", logged>>10)
		}
		healthy.check(t, gapB, gapRoot)
	})

	for _, n := range []*clusterNode{root, a, b} {
		n.alive(t)
	}
}

// hostileHealthy is the broadcast the hostile cases must not disturb:
// published on leaf a, read on leaf b (through the cluster) and on the
// attacked root itself (which pulls it from a).
type hostileHealthy struct {
	viaB, onRoot *reader
}

func startHostileHealthy(t *testing.T, root, a, b *clusterNode) *hostileHealthy {
	t.Helper()
	pub := newFailoverPublisher(t, "healthy", "ms")
	pub.publishOn(t, a)
	waitUntil(t, clusterTimeout, "healthy in the root's directory", func() bool { return root.status(t).DirectorySize == 1 })
	rb, _ := subscribeFlowing(t, connect(t, b, nil), "healthy", "ms")
	rr, _ := subscribeFlowing(t, connect(t, root, nil), "healthy", "ms")
	h := &hostileHealthy{viaB: readAll(t, rb), onRoot: readAll(t, rr)}
	h.viaB.received(t, 3)
	h.onRoot.received(t, 3)
	return h
}

// watch lets the stream run healthyObservation longer and returns the
// longest wait between groups each subscriber saw since from, and the
// groups both received.
func (h *hostileHealthy) watch(t *testing.T, from time.Time) (viaB, onRoot time.Duration, groups int) {
	t.Helper()
	time.Sleep(healthyObservation)
	now := time.Now()
	ab, _ := h.viaB.snapshot()
	ar, _ := h.onRoot.snapshot()
	gb, nb := longestWait(ab, from, now)
	gr, nr := longestWait(ar, from, now)
	return gb, gr, nb + nr
}

// check fails the test if either subscriber's track ended or waited more
// than maxHealthyGap.
func (h *hostileHealthy) check(t *testing.T, viaB, onRoot time.Duration) {
	t.Helper()
	for name, rd := range map[string]*reader{"b": h.viaB, "root": h.onRoot} {
		if err := rd.endErr(); err != nil {
			t.Errorf("healthy subscriber on %s: track ended: %v", name, err)
		}
	}
	if viaB > maxHealthyGap || onRoot > maxHealthyGap {
		t.Errorf("healthy subscribers waited %v (on b) and %v (on the root) between groups, want ≤ %v", viaB, onRoot, maxHealthyGap)
	}
}

// longestWait is the longest time between consecutive arrivals in
// [from, to], counting from the last arrival before from and up to to (a
// wait still outstanding), and how many arrivals fell in it.
func longestWait(arrivals []arrival, from, to time.Time) (time.Duration, int) {
	last, longest, n := from, time.Duration(0), 0
	for _, a := range arrivals {
		if a.at.Before(from) {
			last = a.at
			continue
		}
		if a.at.After(to) {
			break
		}
		longest = max(longest, a.at.Sub(last))
		last = a.at
		n++
	}
	return max(longest, to.Sub(last)), n
}

// certFingerprint is the certificate hash the node serves over HTTP.
func certFingerprint(t *testing.T, n *clusterNode) [32]byte {
	t.Helper()
	body, err := n.get("/certificate.sha256")
	if err != nil {
		t.Fatal(err)
	}
	var fp [32]byte
	if k, err := hex.Decode(fp[:], []byte(strings.TrimSpace(string(body)))); err != nil || k != 32 {
		t.Fatalf("%s: certificate hash %q: %v", n.name, body, err)
	}
	return fp
}

// pinned accepts only the certificate whose SHA-256 is fp.
func pinned(fp [32]byte) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 || sha256.Sum256(raw[0]) != fp {
			return errors.New("server certificate does not match the pinned hash")
		}
		return nil
	}
}

// dialCluster opens a cluster-ALPN QUIC connection to addr, closed when the
// test ends.
func dialCluster(ctx context.Context, t *testing.T, addr string, fp [32]byte) transport.Session {
	t.Helper()
	c, err := transport.DialQUIC(ctx, addr, "localhost", transport.DialOptions{
		Protocols: []string{proto.ALPN}, Fingerprints: [][32]byte{fp}})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.CloseWithError(0, "test over") })
	return c
}

// closedByRoot waits for the root to close c and returns its code and
// reason.
func closedByRoot(ctx context.Context, t *testing.T, c transport.Session) (uint32, string) {
	t.Helper()
	se := closedByRootSession(ctx, t, c)
	return se.Code, se.Reason
}

func closedByRootSession(ctx context.Context, t *testing.T, c transport.Session) *transport.SessionError {
	t.Helper()
	select {
	case <-c.Context().Done():
	case <-ctx.Done():
		t.Fatal("the root did not close the connection")
	}
	var se *transport.SessionError
	if !errors.As(c.Err(), &se) || !se.Remote {
		t.Fatalf("connection ended with %v, want a close by the root", c.Err())
	}
	return se
}

// logStillCollected opens a session to n and waits for its "session opened"
// line: the log collected so far is whole (a line too long for the
// collector would have stopped it).
func logStillCollected(t *testing.T, n *clusterNode) {
	t.Helper()
	count := func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		c := 0
		for _, l := range n.lines {
			if l["msg"] == "session opened" {
				c++
			}
		}
		return c
	}
	before := count()
	connect(t, n, nil)
	waitUntil(t, clusterTimeout, n.name+" logs a new session", func() bool { return count() > before })
}

// warnLines counts the node's warn lines with message msg and returns the
// error field of the last one.
func warnLines(n *clusterNode, msg string) (count int, lastErr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.lines {
		if l["level"] == "warn" && l["msg"] == msg {
			count++
			lastErr = fmt.Sprint(l["error"])
		}
	}
	return count, lastErr
}

// procKiB reads a "kB" field (VmRSS, VmHWM) of the node's /proc/PID/status.
func procKiB(t *testing.T, n *clusterNode, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %s: %v", n.name, sc.Text(), err)
		}
		return kib
	}
	t.Fatalf("%s: no %s in /proc/%d/status", n.name, field, n.cmd.Process.Pid)
	return 0
}
