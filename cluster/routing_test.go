package cluster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/cluster/proto"
)

// fakeLoad is a node's load, set by the test.
type fakeLoad struct{ subscribers atomic.Uint64 }

func (f *fakeLoad) get() proto.Load { return proto.Load{Subscribers: f.subscribers.Load()} }

// routedNode starts a node whose load the test sets, with a subscriber
// threshold of 100 and 10 % hysteresis.
func routedNode(t *testing.T, id string, roots []*node) (*node, *fakeLoad) {
	t.Helper()
	f := &fakeLoad{}
	n := startNode(t, nodeOptions{ID: id, Roots: roots, Load: f.get,
		Routing: cluster.Routing{Subscribers: 100, Hysteresis: 0.1}})
	return n, f
}

// loadReported waits until the root sees member id's load flags.
func loadReported(t *testing.T, root *node, id string, overloaded, draining bool) {
	t.Helper()
	waitFor(t, 3*time.Second, fmt.Sprintf("%s reported overloaded=%v draining=%v", id, overloaded, draining), func() bool {
		for _, m := range root.Cluster.Status().Members {
			if m.ID == id {
				return m.Load.Overloaded == overloaded && m.Load.Draining == draining
			}
		}
		return false
	})
}

func getAllocate(t *testing.T, on *node, query string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/cluster/allocate?%s", on.Listener.TCPAddr().Port, query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// A burst of allocations spreads: each ticket counts as pending load on its
// first candidate until redeemed or expired.
func TestAllocateSpreadsBurst(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", NoURL: true})
	var leaves []*node
	for _, id := range []string{"a", "b", "c"} {
		leaves = append(leaves, startNode(t, nodeOptions{ID: id, Roots: []*node{root}}))
	}
	registered(t, root, leaves...)
	const n = 900
	first := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	sem := make(chan struct{}, 32) // as many clients at once as a busy minute might bring
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			code, body := getAllocate(t, leaves[i%3], "broadcast=room/"+fmt.Sprint(i%7))
			if code != http.StatusOK {
				t.Errorf("allocate: %d %s", code, body)
				return
			}
			var a cluster.AllocateResponse
			if err := json.Unmarshal(body, &a); err != nil || len(a.Candidates) == 0 || a.Ticket == "" {
				t.Errorf("allocate answer %s: %v", body, err)
				return
			}
			mu.Lock()
			first[a.Candidates[0].ID]++
			mu.Unlock()
		})
	}
	wg.Wait()
	took := time.Since(start)
	most := 0
	for _, c := range first {
		most = max(most, c)
	}
	t.Logf("FIGURE %d allocations over 3 idle leaves in %v: first candidates %v (most %.0f %%)", n, took.Round(time.Millisecond), first,
		100*float64(most)/n)
	if float64(most) > 0.4*n {
		t.Errorf("%d of %d allocations went to one node", most, n)
	}
	var pending uint64
	for _, m := range root.Cluster.Status().Members {
		pending += m.Load.PendingTickets
	}
	if pending != n {
		t.Errorf("root counts %d pending tickets, want %d", pending, n)
	}
}

func TestAllocateHTTPInput(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	for _, tc := range []struct {
		query string
		code  int
		want  string
	}{
		{"", http.StatusOK, `"candidates"`},
		{"broadcast=room/alice", http.StatusOK, `"ticket"`},
		{"broadcast=%2Froom%2F", http.StatusOK, `"expires"`},
		{"broadcast=a&broadcast=b", http.StatusBadRequest, "more than once"},
		{"broadcst=a", http.StatusBadRequest, "unknown parameter"},
		{"broadcast=" + strings.Repeat("x", 4097), http.StatusBadRequest, "longer than"},
		{"broadcast=%ff", http.StatusBadRequest, "UTF-8"},
		{"broadcast=a%00b", http.StatusBadRequest, "UTF-8"},
		{"broadcast=%zz", http.StatusBadRequest, "bad query"},
	} {
		code, body := getAllocate(t, root, tc.query)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("?%.40s: %d %q, want %d containing %q", tc.query, code, body, tc.code, tc.want)
		}
	}
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/cluster/allocate", root.Listener.TCPAddr().Port), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}

	// A leaf that reaches no root cannot allocate.
	lonely := startNode(t, nodeOptions{ID: "lonely", RootURLs: []string{"http://127.0.0.1:1"}})
	code, body := getAllocate(t, lonely, "broadcast=x")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "no cluster root") {
		t.Errorf("leaf without root: %d %q, want 503 naming the root", code, body)
	}
}

// An overloaded node redirects new sessions to a node under its thresholds,
// with a ticket that node honours; it goes back to serving only once its
// load is below the hysteresis mark; if every node is over, it serves.
func TestAdmitRedirectsOverloadedNode(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", NoURL: true})
	a, loadA := routedNode(t, "a", []*node{root})
	b, loadB := routedNode(t, "b", []*node{root})
	registered(t, root, a, b)

	if ad := a.Cluster.Admit("/room", "jwt=x"); ad.Redirect != "" {
		t.Fatalf("idle node redirected: %+v", ad)
	}
	loadA.subscribers.Store(150)
	loadReported(t, root, "a", true, false)
	ad := a.Cluster.Admit("/room", "jwt=x")
	t.Logf("overloaded a: %+v", ad)
	u, err := url.Parse(ad.Redirect)
	if err != nil || u.Host != strings.TrimPrefix(b.NodeURL(), "http://") || u.Path != "/room" || u.Query().Get("jwt") != "x" ||
		u.Query().Get("ticket") == "" {
		t.Fatalf("redirect %q: want b's URL with /room, jwt=x and a ticket", ad.Redirect)
	}

	// b honours the ticket even when it is over its thresholds too.
	loadB.subscribers.Store(150)
	loadReported(t, root, "b", true, false)
	if ad := b.Cluster.Admit(u.Path, u.RawQuery); ad.Redirect != "" {
		t.Errorf("b refused a session with its ticket: %+v", ad)
	}
	if got := b.Cluster.Metrics().TicketsRedeemed; got != 1 {
		t.Errorf("b redeemed %d tickets, want 1", got)
	}
	// The same ticket names b, not a.
	if ad := a.Cluster.Admit(u.Path, u.RawQuery); a.Cluster.Metrics().TicketsRejected != 1 {
		t.Errorf("a honoured b's ticket: %+v", ad)
	}
	// Every node over: serve here rather than bounce. (Redirect targets
	// are cached for a heartbeat interval.)
	time.Sleep(2 * heartbeat)
	if ad := a.Cluster.Admit("/room", ""); ad.Redirect != "" {
		t.Errorf("all nodes over, yet a redirected: %+v", ad)
	}
	if a.Cluster.Metrics().OverloadServed == 0 {
		t.Error("serving while all nodes are over was not counted")
	}

	// Hysteresis: 95 is under the threshold but over 90 % of it.
	loadB.subscribers.Store(0)
	loadA.subscribers.Store(95)
	loadReported(t, root, "b", false, false)
	time.Sleep(3 * heartbeat)
	if ad := a.Cluster.Admit("/room", ""); ad.Redirect == "" {
		t.Error("a at 95 % took a session while recovering from overload (no hysteresis)")
	}
	loadA.subscribers.Store(80)
	loadReported(t, root, "a", false, false)
	if ad := a.Cluster.Admit("/room", ""); ad.Redirect != "" {
		t.Errorf("a under 90 %% still redirects: %+v", ad)
	}
	m := a.Cluster.Metrics()
	t.Logf("a's counters: redirects %d, served while all over %d, tickets rejected %d", m.Redirects, m.OverloadServed, m.TicketsRejected)
}

// Redirects prefer a node that carries the broadcast the session path names.
func TestRedirectPrefersNodeCarryingBroadcast(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", NoURL: true})
	a, loadA := routedNode(t, "a", []*node{root})
	b, _ := routedNode(t, "b", []*node{root})
	c, _ := routedNode(t, "c", []*node{root})
	registered(t, root, a, b, c)
	publish(t, c, "show", "video")
	inDirectory(t, root, 1)
	loadA.subscribers.Store(500)
	loadReported(t, root, "a", true, false)
	ad := a.Cluster.Admit("/show", "")
	if !strings.Contains(ad.Redirect, strings.TrimPrefix(c.NodeURL(), "http://")) {
		t.Errorf("redirect for /show went to %q, want c (%s), which publishes it", ad.Redirect, c.NodeURL())
	}
	_ = b
}

// Drain withdraws the node's broadcasts, marks it draining, and sends new
// sessions elsewhere; allocation never picks it.
func TestDrainWithdrawsAndRedirects(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", NoURL: true})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	registered(t, root, a, b)
	publish(t, a, "show", "video")
	inDirectory(t, root, 1)

	a.Cluster.Drain()
	inDirectory(t, root, 0)
	loadReported(t, root, "a", false, true)
	for range 20 {
		code, body := getAllocate(t, b, "broadcast=show")
		var resp cluster.AllocateResponse
		if code != http.StatusOK || json.Unmarshal(body, &resp) != nil {
			t.Fatalf("allocate: %d %s", code, body)
		}
		for _, c := range resp.Candidates {
			if c.ID == "a" {
				t.Fatalf("allocation picked the draining node: %s", body)
			}
		}
	}
	ad := a.Cluster.Admit("/show", "")
	if !strings.Contains(ad.Redirect, strings.TrimPrefix(b.NodeURL(), "http://")) || ad.Reason != "node draining" {
		t.Errorf("draining a admitted %+v, want a redirect to b", ad)
	}
	if u := a.Cluster.RedirectURL("show", ""); !strings.Contains(u, strings.TrimPrefix(b.NodeURL(), "http://")) {
		t.Errorf("RedirectURL = %q, want b", u)
	}
	// A broadcast published on a draining node is not announced.
	publish(t, a, "late", "video")
	time.Sleep(3 * heartbeat)
	if size := root.Cluster.Status().DirectorySize; size != 0 {
		t.Errorf("directory size %d after a publish on a draining node", size)
	}
}
