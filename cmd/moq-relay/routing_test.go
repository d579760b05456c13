package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster"
)

// allocate GETs /cluster/allocate on n.
func allocate(t *testing.T, n *clusterNode, query string) (int, cluster.AllocateResponse, string) {
	t.Helper()
	resp, err := statusClient.Get(n.url() + "/cluster/allocate?" + query)
	if err != nil {
		t.Fatalf("allocate on %s: %v", n.name, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var a cluster.AllocateResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(buf.Bytes(), &a); err != nil {
			t.Fatalf("allocate on %s: %v in %s", n.name, err, buf.String())
		}
	}
	return resp.StatusCode, a, buf.String()
}

// A burst of allocations asked of the leaves spreads over them: each ticket
// is pending load on its first candidate until redeemed or expired.
func TestAllocateBurstSpreads(t *testing.T) {
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil)
	var leaves []*clusterNode
	for _, name := range []string{"a", "b", "c"} {
		leaves = append(leaves, startNode(t, cfg, name, []*clusterNode{root}))
	}
	registered(t, []*clusterNode{root}, leaves...)

	const n = 900
	first := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			code, a, body := allocate(t, leaves[i%3], fmt.Sprintf("broadcast=show/%d", i%5))
			if code != http.StatusOK || len(a.Candidates) == 0 || a.Ticket == "" {
				t.Errorf("allocate: %d %s", code, body)
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
	t.Logf("FIGURE %d allocations over three idle leaves in %v: first candidates %v, most %.1f %%", n, took.Round(time.Millisecond),
		first, 100*float64(most)/n)
	if float64(most) > 0.4*n {
		t.Errorf("%d of %d allocations went to one node (> 40 %%)", most, n)
	}
}

// A leaf that reaches no root answers allocate with 503 and a reason, and is
// not ready; bad input is a 400.
func TestAllocateWithoutRoot(t *testing.T) {
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	gone := &clusterNode{name: "gone", port: freePort(t)}
	leaf := startNode(t, cfg, "lonely", []*clusterNode{gone})
	code, _, body := allocate(t, leaf, "broadcast=x")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "root") {
		t.Errorf("allocate without a root: %d %q, want 503 with the reason", code, body)
	}
	if code, body := httpGet(t, leaf.url()+"/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready without a root: %d %q, want 503", code, body)
	}
	if code, _, body := allocate(t, leaf, "broadcast=a&bogus=1"); code != http.StatusBadRequest {
		t.Errorf("allocate with a bad query: %d %q, want 400", code, body)
	}
}

// overloadedCluster starts a root and leaves a and b, where a takes at most
// one subscriber: its config sets subscriber_threshold = 1.
func overloadedCluster(t *testing.T) (root, a, b *clusterNode) {
	t.Helper()
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	tight := writeFile(t, "tight.toml", clusterTOML+"\n[cluster.routing]\nsubscriber_threshold = 1\n")
	root = startNode(t, cfg, "root", nil)
	a = startNode(t, tight, "a", []*clusterNode{root})
	b = startNode(t, cfg, "b", []*clusterNode{root})
	registered(t, []*clusterNode{root}, a, b)
	return root, a, b
}

// pushOver subscribes a client on n to broadcast/track until n reports
// itself overloaded to the root.
func pushOver(t *testing.T, root, n *clusterNode, broadcast, track string) {
	t.Helper()
	sess := connect(t, n, nil)
	subscribeFlowing(t, sess, broadcast, track)
	waitUntil(t, clusterTimeout, n.name+" reported overloaded", func() bool {
		for _, m := range root.status(t).Members {
			if m.ID == n.name {
				return m.Load.Overloaded
			}
		}
		return false
	})
}

// runMoq runs bin/moq with args for at most 20 s and returns its output.
func runMoq(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, moqCLI(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// A leaf over subscriber_threshold sends a new `moq sub` to another leaf
// with GOAWAY; the viewer receives there. The sessions it already has are
// not cut.
func TestRedirectOverSubscriberThreshold(t *testing.T) {
	root, a, b := overloadedCluster(t)
	publishCounter(t, a, "show", "video")
	pushOver(t, root, a, "show", "video")
	held := connect(t, a, nil)

	start := time.Now()
	out, stderr, err := runMoq(t, "sub", a.url()+"/", "show", "video", "--count", "3")
	took := time.Since(start)
	t.Logf("moq sub on overloaded a: %v\nstdout:\n%sstderr:\n%s", err, out, stderr)
	if err != nil || strings.Count(out, "\n") < 3 {
		t.Fatalf("moq sub did not get 3 frames: %v", err)
	}
	if !strings.Contains(stderr, "GOAWAY") || !strings.Contains(stderr, fmt.Sprint(b.port)) {
		t.Errorf("moq sub was not redirected to b (port %d)", b.port)
	}
	t.Logf("FIGURE redirected viewer: 3 frames from b within %v of starting on a", took.Round(time.Millisecond))
	if held.Err() != nil {
		t.Errorf("a session open before the overload was cut: %v", held.Err())
	}
	if !strings.Contains(string(mustGet(t, root, "/cluster")), `"overloaded": true`) {
		t.Error("the root's /cluster does not show a overloaded")
	}
}

// A ticket from /cluster/allocate that names the overloaded node lets a
// session in there; without it the same session is redirected.
func TestTicketAdmitsOverThreshold(t *testing.T) {
	root, a, _ := overloadedCluster(t)
	publishCounter(t, a, "show", "video")
	pushOver(t, root, a, "show", "video")

	code, alloc, body := allocate(t, root, "broadcast=show")
	if code != http.StatusOK || alloc.Ticket == "" {
		t.Fatalf("allocate: %d %s", code, body)
	}
	names := make([]string, 0, len(alloc.Candidates))
	for _, c := range alloc.Candidates {
		names = append(names, c.ID)
	}
	t.Logf("allocation: %v (a is over its threshold, so last)", names)
	if names[0] == "a" {
		t.Errorf("the overloaded node came first: %v", names)
	}
	if names[len(names)-1] != "a" {
		t.Fatalf("a missing from the candidates %v", names)
	}
	out, stderr, err := runMoq(t, "sub", a.url()+"/?ticket="+url.QueryEscape(alloc.Ticket), "show", "video", "--count", "2")
	if err != nil || strings.Count(out, "\n") < 2 || strings.Contains(stderr, "GOAWAY") {
		t.Errorf("with a ticket for a: %v, stdout %q, stderr %q; want 2 frames from a without GOAWAY", err, out, stderr)
	}
}

// mustGet GETs path on n's HTTP side.
func mustGet(t *testing.T, n *clusterNode, path string) []byte {
	t.Helper()
	b, err := n.get(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
