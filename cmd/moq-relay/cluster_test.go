package main

// Process-level cluster tests: real moq-relay processes on loopback, killed
// with SIGKILL, observed through GET /cluster, their JSON logs and Go MoQ
// clients. They reuse relayBinary, startRelay and process from main_test.go.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport/transporttest"
)

// Fast liveness for the test clusters; clusterTOML says the same.
const (
	hbInterval     = 100 * time.Millisecond
	suspectMissed  = 3
	offlineMissed  = 6
	groupInterval  = 100 * time.Millisecond
	clusterTimeout = 10 * time.Second // bound on any wait for the cluster to settle
)

const clusterTOML = `[cluster.sync]
heartbeat_interval = "100ms"
suspect_threshold = 3
offline_threshold = 6

[cluster.relay]
release_delay = "300ms"
establish_timeout = "1s"
retry_delay = "100ms"
max_retry_attempts = 2
`

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clusterNode is one moq-relay process in a test cluster.
type clusterNode struct {
	*process
	name string
	port int
	args []string // to restart it as it was
	// listening is when the process logged "relay listening" (its own clock).
	listening time.Time
}

// url is the node URL (http: the certificate hash is fetched and pinned).
func (n *clusterNode) url() string { return fmt.Sprintf("http://127.0.0.1:%d", n.port) }

var freePort = transporttest.FreePort

// startNode starts a node named name on a free port with the configuration
// file cfg; with roots it is a leaf of them (in that order). It starts with
// clusterCredentials unless extra gives its own. It retries on another port
// when the chosen one was taken meanwhile.
func startNode(t *testing.T, cfg, name string, roots []*clusterNode, extra ...string) *clusterNode {
	t.Helper()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		args := []string{"serve", "--config", cfg,
			"--bind", fmt.Sprintf("127.0.0.1:%d", port),
			"--tls-generate", "localhost,127.0.0.1",
			"--log-format", "json",
			"--cluster-id", name}
		for _, r := range roots {
			args = append(args, "--cluster-root", r.url())
		}
		if len(roots) > 0 {
			args = append(args, "--cluster-node", fmt.Sprintf("http://127.0.0.1:%d", port))
		}
		args = append(args, clusterCredentials(t, len(roots) == 0, extra)...)
		args = append(args, extra...)
		n := &clusterNode{name: name, port: port, args: args}
		err := n.start(t)
		if err == nil {
			return n
		}
		if attempt == attempts || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("%s: port %d taken meanwhile; trying another", name, port)
	}
}

// testClusterSecret is the test clusters' shared cluster token.
const testClusterSecret = "test-cluster-secret"

// clusterCredentials are the flags a test node starts with unless extra
// gives its own: the shared token, as users run a cluster, and on a root
// the allow-list of the hosts its members' URLs may name (loopback).
func clusterCredentials(t *testing.T, isRoot bool, extra []string) []string {
	t.Helper()
	var args []string
	if !hasFlag(extra, "--cluster-token") && !hasFlag(extra, "--cluster-insecure") && !hasFlag(extra, "--tls-root") {
		args = append(args, "--cluster-token", writeFile(t, "cluster.token", testClusterSecret+"\n"))
	}
	if isRoot && !hasFlag(extra, "--cluster-node-host") && !hasFlag(extra, "--cluster-insecure") {
		args = append(args, "--cluster-node-host", "127.0.0.1")
	}
	return args
}

// hasFlag reports whether args hold flag, alone or as flag=value.
func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// restart starts a fresh process with the same arguments (same port); the
// old one must have exited.
func (n *clusterNode) restart(t *testing.T) *clusterNode {
	t.Helper()
	m := &clusterNode{name: n.name, port: n.port, args: n.args}
	if err := m.start(t); err != nil {
		t.Fatal(err)
	}
	return m
}

// start runs the process and waits for "relay listening" (or its exit).
func (n *clusterNode) start(t *testing.T) error {
	t.Helper()
	n.process = startRelay(t, nil, n.args...)
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		if l := n.findLog(func(l map[string]any) bool { return l["msg"] == "relay listening" }); l != nil {
			ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["ts"]))
			if err != nil {
				return fmt.Errorf("%s: listening line without a time: %v", n.name, l)
			}
			n.listening = ts
			return nil
		}
		select {
		case <-n.added:
		case err := <-n.exit:
			n.exit <- err // for startRelay's cleanup
			return fmt.Errorf("%s exited (%v) before listening:\n%s", n.name, err, n.output())
		case <-deadline.C:
			return fmt.Errorf("%s: no \"relay listening\" within 15 s:\n%s", n.name, n.output())
		}
	}
}

// kill sends SIGKILL and waits for the process to exit; it returns when the
// signal was sent.
func (n *clusterNode) kill(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", n.name, err)
	}
	select {
	case err := <-n.exit:
		n.exit <- err // for startRelay's cleanup
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10 s of SIGKILL", n.name)
	}
	return at
}

// alive fails the test if the process has exited.
func (n *clusterNode) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-n.exit:
		n.exit <- err
		t.Errorf("%s exited unexpectedly: %v", n.name, err)
	default:
	}
}

// findLog returns the first log line that match accepts, or nil.
func (n *clusterNode) findLog(match func(map[string]any) bool) map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.lines {
		if match(l) {
			return l
		}
	}
	return nil
}

// statusClient keeps no idle connections, so no goroutine outlives a call.
var statusClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches path from the node's HTTP port.
func (n *clusterNode) get(path string) ([]byte, error) {
	resp, err := statusClient.Get(n.url() + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s%s: %s: %s", n.url(), path, resp.Status, body)
	}
	return body, nil
}

// nodeStatus is the part of cluster.Status (GET /cluster) the tests read.
type nodeStatus struct {
	ID          string `json:"id"`
	Role        string `json:"role"`
	Incarnation uint64 `json:"incarnation"`
	Roots       []struct {
		URL     string `json:"url"`
		State   string `json:"state"`
		Healthy bool   `json:"healthy"`
		Error   string `json:"error"`
	} `json:"roots"`
	Members []struct {
		ID          string    `json:"id"`
		Incarnation uint64    `json:"incarnation"`
		State       string    `json:"state"`
		LastHeard   time.Time `json:"last_heard"`
		Broadcasts  int       `json:"broadcasts"`
		Load        struct {
			Subscribers uint64 `json:"subscribers"`
			Overloaded  bool   `json:"overloaded"`
			Draining    bool   `json:"draining"`
		} `json:"load"`
	} `json:"members"`
	DirectorySize    int      `json:"directory_size"`
	LocalBroadcasts  []string `json:"local_broadcasts"`
	RemoteBroadcasts []string `json:"remote_broadcasts"`
	PeerLinks        []struct {
		Node        string `json:"node"`
		URL         string `json:"url"`
		Incarnation uint64 `json:"incarnation"`
		State       string `json:"state"`
		Users       int    `json:"users"`
	} `json:"peer_links"`
}

// memberIncarnation is id's incarnation in a root's membership (0 if not
// listed).
func (s nodeStatus) memberIncarnation(id string) uint64 {
	for _, m := range s.Members {
		if m.ID == id {
			return m.Incarnation
		}
	}
	return 0
}

// memberState is id's state in a root's membership ("" if not listed).
func (s nodeStatus) memberState(id string) string {
	for _, m := range s.Members {
		if m.ID == id {
			return m.State
		}
	}
	return ""
}

func (s nodeStatus) hasPeerLink(id string) bool {
	for _, l := range s.PeerLinks {
		if l.Node == id {
			return true
		}
	}
	return false
}

// allRootsHealthy reports whether a leaf has healthy links to all its roots.
func (s nodeStatus) allRootsHealthy() bool {
	for _, r := range s.Roots {
		if !r.Healthy {
			return false
		}
	}
	return len(s.Roots) > 0
}

func (n *clusterNode) status(t *testing.T) nodeStatus {
	t.Helper()
	body, err := n.get("/cluster")
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	var s nodeStatus
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("%s: /cluster: %v\n%s", n.name, err, body)
	}
	return s
}

// waitUntil polls cond every 10 ms until it holds, failing after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// registered waits until every root lists every leaf as healthy and every
// leaf has healthy links to all its roots.
func registered(t *testing.T, roots []*clusterNode, leaves ...*clusterNode) {
	t.Helper()
	waitUntil(t, clusterTimeout, "leaves registered", func() bool {
		for _, r := range roots {
			s := r.status(t)
			for _, l := range leaves {
				if s.memberState(l.name) != "healthy" {
					return false
				}
			}
		}
		for _, l := range leaves {
			if !l.status(t).allRootsHealthy() {
				return false
			}
		}
		return true
	})
}

// connect opens a raw-QUIC MoQ client session to the node, pinning the
// certificate hash it serves; origin (may be nil) is what the client
// publishes. The session is closed, and its goroutines waited for, when the
// test ends.
func connect(t *testing.T, n *clusterNode, origin *moqt.Origin) moqt.Session {
	t.Helper()
	return connectAt(t, n.name, fmt.Sprintf("127.0.0.1:%d", n.port), origin)
}

// connectAt opens a raw-QUIC client session to node name at addr (its own
// port, or a proxy in front of it), pinning the certificate hash served over
// HTTP at addr. The session is closed when the test ends.
func connectAt(t *testing.T, name, addr string, origin *moqt.Origin) moqt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/certificate.sha256", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		t.Fatalf("certificate hash of %s at %s: %v", name, addr, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var fp [32]byte
	if k, herr := hex.Decode(fp[:], []byte(strings.TrimSpace(string(body)))); err != nil || herr != nil || k != 32 {
		t.Fatalf("%s: certificate hash %q at %s: %v %v", name, body, addr, err, herr)
	}
	sess, err := moqt.Connect(ctx, "moqt://"+addr+"/", moqt.ConnectOptions{
		SessionConfig: moqt.SessionConfig{Origin: origin},
		Fingerprints:  [][32]byte{fp},
	})
	if err != nil {
		t.Fatalf("connect to %s at %s: %v", name, addr, err)
	}
	t.Cleanup(func() {
		sess.CloseWithError(0, "test over")
		select {
		case <-sess.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("client session to %s did not stop within 10 s", name)
		}
	})
	return sess
}

// publishCounter publishes broadcast path with one track on the node from a
// fresh client session: a group every groupInterval whose one frame is its
// number as text, from 0, until the test ends.
func publishCounter(t *testing.T, n *clusterNode, path, track string) {
	t.Helper()
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	origin.Publish(path, b, moqt.PublishOptions{})
	connect(t, n, origin)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(groupInterval)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := w.WriteGroup([]byte(strconv.Itoa(seq))); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		b.Close()
	})
}

// readSeq reads the next group's frame as a group number. A NextGroup error
// (the track ended) is returned as is; a bad group is reported as a
// groupError.
func readSeq(ctx context.Context, r *moqt.TrackReader) (int, error) {
	_, seq, err := readGroup(ctx, r)
	return seq, err
}

// readGroup is readSeq that also returns the group's sequence number as
// delivered, which may differ from the number its frame carries.
func readGroup(ctx context.Context, r *moqt.TrackReader) (group uint64, seq int, err error) {
	g, err := r.NextGroup(ctx)
	if err != nil {
		return 0, 0, err
	}
	f, err := g.ReadFrame(ctx)
	if err != nil {
		return g.Sequence(), 0, groupError{err}
	}
	seq, err = strconv.Atoi(string(f))
	if err != nil {
		return g.Sequence(), 0, groupError{fmt.Errorf("frame %q: %w", f, err)}
	}
	return g.Sequence(), seq, nil
}

type groupError struct{ error }

func (e groupError) Unwrap() error { return e.error }

// subscribeFlowing subscribes to path/track on sess, retrying while the
// cluster does not know the broadcast yet, until a first group arrives. It
// returns the reader and that group's number. The reader is a forwarding
// one: groups that arrive in a burst before its goroutine runs stay cached
// for it (a plain reader keeps moqt.DefaultCacheGroups, and under CPU load
// lost the first groups after a stall), so what it misses, the relay lost.
func subscribeFlowing(t *testing.T, sess moqt.Session, path, track string) (*moqt.TrackReader, int) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	var last error
	for time.Now().Before(deadline) {
		r, err := sess.Consume(path).Subscribe(track, moqt.ReaderOptions{Forwarding: true})
		if err != nil {
			last = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		seq, err := readSeq(ctx, r)
		cancel()
		if err == nil {
			t.Cleanup(r.Close)
			return r, seq
		}
		last = err
		r.Close()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("subscribe %s/%s: no group within %v: %v", path, track, clusterTimeout, last)
	return nil, 0
}

// arrival is one group received by a subscriber.
type arrival struct {
	at    time.Time
	seq   int    // the number the frame carries
	group uint64 // the group's sequence number
}

// reader drains a track in a goroutine, recording every group, until the
// track ends or stop is called.
type reader struct {
	mu       sync.Mutex
	arrivals []arrival
	bad      []error // groups that could not be read
	end      error   // why the track ended
	endAt    time.Time
	ended    chan struct{}
	cancel   context.CancelFunc
	finished chan struct{}
}

func readAll(t *testing.T, r *moqt.TrackReader) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	rd := &reader{ended: make(chan struct{}), cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(rd.finished)
		for {
			group, seq, err := readGroup(ctx, r)
			now := time.Now()
			var ge groupError
			switch {
			case err == nil:
				rd.mu.Lock()
				rd.arrivals = append(rd.arrivals, arrival{now, seq, group})
				rd.mu.Unlock()
			case errors.As(err, &ge):
				rd.mu.Lock()
				rd.bad = append(rd.bad, err)
				rd.mu.Unlock()
			case ctx.Err() != nil:
				return
			default:
				rd.mu.Lock()
				rd.end, rd.endAt = err, now
				rd.mu.Unlock()
				close(rd.ended)
				return
			}
		}
	}()
	t.Cleanup(rd.stop)
	return rd
}

// stop ends the goroutine and waits for it.
func (rd *reader) stop() {
	rd.cancel()
	<-rd.finished
}

// endErr is why the track ended (nil while it runs).
func (rd *reader) endErr() error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.end
}

func (rd *reader) snapshot() ([]arrival, []error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return slices.Clone(rd.arrivals), slices.Clone(rd.bad)
}

// received waits until the reader has count more groups than it had.
func (rd *reader) received(t *testing.T, count int) {
	t.Helper()
	a, _ := rd.snapshot()
	base := len(a)
	waitUntil(t, clusterTimeout, fmt.Sprintf("%d more groups", count), func() bool {
		a, _ := rd.snapshot()
		return len(a) >= base+count
	})
}

// A leaf that dies without a word (SIGKILL) is found by missed heartbeats:
// the root marks it suspect after suspect_threshold intervals and offline
// after offline_threshold; the subscribing leaf then drops its peer link and
// its subscriber's track ends.
func TestClusterLeafKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil)
	a := startNode(t, cfg, "a", []*clusterNode{root})
	b := startNode(t, cfg, "b", []*clusterNode{root})
	registered(t, []*clusterNode{root}, a, b)

	publishCounter(t, a, "clock", "seconds")
	waitUntil(t, clusterTimeout, "clock in the root's directory", func() bool { return root.status(t).DirectorySize == 1 })
	sub := connect(t, b, nil)
	r, _ := subscribeFlowing(t, sub, "clock", "seconds")
	rd := readAll(t, r)
	rd.received(t, 3)
	if s := b.status(t); !s.hasPeerLink("a") {
		t.Fatalf("b pulls clock but has no peer link to a: %+v", s.PeerLinks)
	}
	if st := root.status(t).memberState("a"); st != "healthy" {
		t.Fatalf("a is %q at the root before the kill", st)
	}

	killed := a.kill(t)
	since := func(at time.Time) time.Duration {
		if at.IsZero() {
			return -1
		}
		return at.Sub(killed)
	}
	// Poll the root and b until a is offline and b's link to it is gone:
	// the link should go release_delay (300 ms) after a turns suspect, so
	// 3 s is generous.
	var suspectSeen, offlineSeen, linkGoneAt time.Time
	states := []string{"healthy"} // a's states as the root reported them, in order
	for deadline := killed.Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st := root.status(t).memberState("a")
		now := time.Now()
		if len(states) == 0 || states[len(states)-1] != st {
			states = append(states, st)
		}
		if st == "suspect" && suspectSeen.IsZero() {
			suspectSeen = now
		}
		if st == "offline" && offlineSeen.IsZero() {
			offlineSeen = now
		}
		if linkGoneAt.IsZero() && !b.status(t).hasPeerLink("a") {
			linkGoneAt = time.Now()
		}
		if !offlineSeen.IsZero() && !linkGoneAt.IsZero() {
			break
		}
	}
	var subEnd time.Duration = -1
	select {
	case <-rd.ended:
		subEnd = rd.endAt.Sub(killed)
	case <-time.After(time.Until(killed.Add(5 * time.Second))):
	}

	// The root logs each transition when it happens (it evaluates deadlines
	// four times per interval), with the last heartbeat it had heard.
	suspectAt, suspectHeard := transition(t, root, "a", "suspect")
	offlineAt, offlineHeard := transition(t, root, "a", "offline")
	t.Logf("a's states at the root: %v", states)
	t.Logf("kill→suspect %v (logged; seen in /cluster %v; %v after a's last heartbeat), kill→offline %v (seen %v; %v after the last heartbeat), kill→b's link to a gone %v, kill→subscriber end %v (%v)",
		since(suspectAt), since(suspectSeen), suspectAt.Sub(suspectHeard),
		since(offlineAt), since(offlineSeen), offlineAt.Sub(offlineHeard), since(linkGoneAt), subEnd, rd.endErr())

	// The thresholds count from the last heartbeat, which came up to one
	// interval before the kill: hence one interval of slack below.
	if !slices.Equal(states, []string{"healthy", "suspect", "offline"}) && !slices.Equal(states, []string{"healthy", "offline"}) {
		t.Errorf("a's states at the root went %v, want healthy, suspect, offline", states)
	}
	switch {
	case suspectAt.IsZero():
		t.Error("the root never logged a suspect")
	case since(suspectAt) < (suspectMissed-1)*hbInterval || suspectAt.Sub(suspectHeard) < suspectMissed*hbInterval:
		t.Errorf("a suspect %v after the kill, %v after its last heartbeat: before %d missed heartbeats",
			since(suspectAt), suspectAt.Sub(suspectHeard), suspectMissed)
	case suspectSeen.IsZero() && offlineSeen.IsZero():
		t.Error("/cluster never showed a as suspect")
	case !suspectSeen.IsZero() && since(suspectSeen) >= 1500*time.Millisecond:
		t.Errorf("a shown suspect only %v after the kill, want < 1.5 s", since(suspectSeen))
	}
	switch {
	case offlineAt.IsZero():
		t.Error("the root never logged a offline")
	case since(offlineAt) < (offlineMissed-1)*hbInterval || offlineAt.Sub(offlineHeard) < offlineMissed*hbInterval:
		t.Errorf("a offline %v after the kill, %v after its last heartbeat: before %d missed heartbeats",
			since(offlineAt), offlineAt.Sub(offlineHeard), offlineMissed)
	case offlineSeen.IsZero():
		t.Error("/cluster never showed a as offline")
	case since(offlineSeen) >= 2500*time.Millisecond:
		t.Errorf("a shown offline only %v after the kill, want < 2.5 s", since(offlineSeen))
	}
	if s := root.status(t); s.DirectorySize != 0 {
		t.Errorf("root's directory still holds %d broadcasts after a went offline", s.DirectorySize)
	}
	root.alive(t)
	b.alive(t)

	// b drops its link release_delay after its remote broadcast lost its
	// source, which the root reports (an UPDATE without candidates) when a
	// turns suspect; the subscriber's track ends a grace period later.
	linkGone := !linkGoneAt.IsZero()
	ended := subEnd >= 0
	if !linkGone {
		t.Errorf("b still had a peer link to a 3 s after the kill: %+v", b.status(t).PeerLinks)
	}
	if !ended {
		t.Error("b's subscriber still reads clock 5 s after a was killed")
	}
}

// transition returns when the root logged that member went to state, and the
// last heartbeat it had heard from it then (zero times if it did not).
func transition(t *testing.T, root *clusterNode, member, state string) (at, lastHeard time.Time) {
	t.Helper()
	l := root.findLog(func(l map[string]any) bool {
		return l["msg"] == "cluster member "+state && l["member"] == member
	})
	if l == nil {
		return time.Time{}, time.Time{}
	}
	at, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(l["ts"]))
	lastHeard, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(l["last_heard"]))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("log line %v: %v", l, err)
	}
	return at, lastHeard
}

// With two roots, killing the first one does not interrupt media between
// leaves (it flows leaf to leaf), lookups fall back to the second root, and
// the first is repopulated by the leaves when it comes back.
func TestClusterRootKilledWithTwoRoots(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	const maxRootKilledGap = 5 * groupInterval
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root1 := startNode(t, cfg, "root1", nil)
	root2 := startNode(t, cfg, "root2", nil)
	roots := []*clusterNode{root1, root2}
	a := startNode(t, cfg, "a", roots)
	b := startNode(t, cfg, "b", roots)
	registered(t, roots, a, b)

	publishCounter(t, a, "clock", "seconds")
	for _, r := range roots {
		waitUntil(t, clusterTimeout, "clock in "+r.name+"'s directory", func() bool { return r.status(t).DirectorySize == 1 })
	}
	sub := connect(t, b, nil)
	r, _ := subscribeFlowing(t, sub, "clock", "seconds")
	rd := readAll(t, r)
	rd.received(t, 3)

	killed := root1.kill(t)
	// The leaves see root1 stop acknowledging heartbeats.
	waitUntil(t, clusterTimeout, "leaves see root1 unhealthy", func() bool {
		for _, l := range []*clusterNode{a, b} {
			if s := l.status(t); len(s.Roots) != 2 || s.Roots[0].Healthy {
				return false
			}
		}
		return true
	})
	unhealthy := time.Since(killed)

	// A broadcast that starts while root1 is down is found through root2.
	publishCounter(t, a, "other", "t")
	published := time.Now()
	sub2 := connect(t, b, nil)
	r2, _ := subscribeFlowing(t, sub2, "other", "t")
	failover := time.Since(published)
	readAll(t, r2).received(t, 2)
	if s := root2.status(t); s.DirectorySize != 2 {
		t.Errorf("root2's directory holds %d broadcasts, want 2", s.DirectorySize)
	}
	// Media keeps flowing a while longer with root1 down.
	rd.received(t, 10)

	root1 = root1.restart(t)
	// The leaves reconnect (backoff from retry_delay, doubling) and
	// re-announce after the Welcome.
	var repopulated time.Duration = -1
	var last nodeStatus
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		last = root1.status(t)
		if last.DirectorySize == 2 && last.memberState("a") == "healthy" && last.memberState("b") == "healthy" {
			repopulated = time.Since(root1.listening)
			break
		}
	}
	rd.received(t, 3)

	arrivals, bad := rd.snapshot()
	var maxGap time.Duration
	var skipped []string
	for i := 1; i < len(arrivals); i++ {
		maxGap = max(maxGap, arrivals[i].at.Sub(arrivals[i-1].at))
		if want := arrivals[i-1].seq + 1; arrivals[i].seq != want {
			skipped = append(skipped, fmt.Sprintf("%d→%d", arrivals[i-1].seq, arrivals[i].seq))
		}
	}
	t.Logf("FIGURE root_killed: gap=%s new_lookup_after_publish=%s root1_unhealthy_after_kill=%s root1_down=%s root1_repopulated_after_listen=%s groups=%d skipped=%v",
		ms(maxGap), ms(failover), ms(unhealthy), ms(root1.listening.Sub(killed)), ms(repopulated), len(arrivals), skipped)
	// Media flows leaf to leaf, so the root's death should not show beyond
	// the group cadence plus scheduling noise.
	if maxGap > maxRootKilledGap {
		t.Errorf("the running subscriber saw a gap of %v between groups, want ≤ %v", maxGap, maxRootKilledGap)
	}
	if len(skipped) > 0 || len(bad) > 0 {
		t.Errorf("groups skipped %v, unreadable %v", skipped, bad)
	}
	if err := rd.endErr(); err != nil {
		t.Errorf("subscriber's track ended: %v", err)
	}
	for _, n := range []*clusterNode{root1, root2, a, b} {
		n.alive(t)
	}
	if repopulated < 0 {
		var views []string
		for _, l := range []*clusterNode{a, b} {
			r := l.status(t).Roots[0]
			views = append(views, fmt.Sprintf("%s: %s healthy=%v", l.name, r.State, r.Healthy))
		}
		t.Fatalf("restarted root1 not repopulated 3 s after it listened: %+v; leaves: %v", last, views)
	}
	if repopulated >= 2*time.Second {
		t.Errorf("restarted root1 repopulated %v after it listened, want < 2 s", repopulated)
	}
}

// A leaf with the wrong cluster token is refused, and both ends say why; a
// leaf with the right one registers.
func TestClusterWrongToken(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil, "--cluster-token", writeFile(t, "root.token", "s3cret\n"))
	bad := startNode(t, cfg, "bad", []*clusterNode{root}, "--cluster-token", writeFile(t, "bad.token", "guess\n"))

	var rootErr string
	waitUntil(t, clusterTimeout, "bad leaf's root link refused", func() bool {
		s := bad.status(t)
		if len(s.Roots) != 1 || s.Roots[0].Healthy || s.Roots[0].Error == "" {
			return false
		}
		rootErr = s.Roots[0].Error
		return true
	})
	if !strings.Contains(rootErr, "unauthorized") && !strings.Contains(rootErr, "wrong cluster token") {
		t.Errorf("bad leaf's root link error %q names neither unauthorized nor the wrong token", rootErr)
	}
	waitUntil(t, clusterTimeout, "bad leaf logs the refusal", func() bool {
		return bad.findLog(func(l map[string]any) bool {
			return l["level"] == "error" && strings.Contains(fmt.Sprint(l["msg"]), "refused")
		}) != nil
	})
	waitUntil(t, clusterTimeout, "root logs the refusal", func() bool {
		return root.findLog(func(l map[string]any) bool {
			return l["level"] == "warn" && l["msg"] == "cluster connection refused" &&
				strings.Contains(fmt.Sprint(l["error"]), "token")
		}) != nil
	})

	good := startNode(t, cfg, "good", []*clusterNode{root}, "--cluster-token", writeFile(t, "good.token", "s3cret"))
	registered(t, []*clusterNode{root}, good)
	if st := root.status(t).memberState("bad"); st != "" {
		t.Errorf("refused leaf is a member (%s)", st)
	}
	for _, n := range []*clusterNode{root, bad, good} {
		n.alive(t)
	}
}
