package main

// Drain (issue 10): SIGTERM or POST /drain takes a node out of service (not
// ready, no new sessions, GOAWAY to another node) and it exits 0 when its
// sessions are gone or after server.drain_timeout; a second SIGTERM exits at
// once.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// lockedBuffer collects a child process's output for reading while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// linePublisher is `moq pub` fed one line (its number) every interval.
type linePublisher struct {
	stderr *lockedBuffer
	sent   func() int // lines written so far
}

// startLinePublisher runs bin/moq pub URL broadcast track, writing "0",
// "1", … to its stdin every interval until the test ends (at most 10
// minutes' worth).
func startLinePublisher(t *testing.T, url, broadcast, track string, interval time.Duration) *linePublisher {
	t.Helper()
	cmd := exec.Command(moqCLI(t), "pub", url, broadcast, track)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &linePublisher{stderr: &lockedBuffer{}}
	cmd.Stdout = io.Discard
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	p.sent = func() int { mu.Lock(); defer mu.Unlock(); return n }
	stop, fed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fed)
		defer stdin.Close()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; i < int(10*time.Minute/interval); i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := fmt.Fprintf(stdin, "%d\n", i); err != nil {
				return
			}
			mu.Lock()
			n = i + 1
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-fed
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("moq pub stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// readyState GETs /ready on addr: the status code and body (0 when the
// node does not answer).
func readyState(addr string) (int, string) {
	resp, err := statusClient.Get("http://" + addr + "/ready")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitExit waits up to within for the process to exit and returns when it
// was seen to exit and its error.
func waitExit(t *testing.T, p *process, name string, within time.Duration) (time.Time, error) {
	t.Helper()
	select {
	case err := <-p.exit:
		p.exit <- err // for startRelay's cleanup
		return time.Now(), err
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v", name, within)
		return time.Time{}, nil
	}
}

// A publisher (bin/moq pub, which follows GOAWAY) on leaf a, two viewers
// on leaf b and one on the root; a gets SIGTERM. a turns not ready, the
// publisher is sent to another node (b: the root has no URL of its own
// here) and re-publishes there, every viewer keeps receiving on the
// subscription it has; a exits 0 once its last session has gone, within
// drain_timeout.
func TestDrainMovesPublisherAndViewersFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	const drainTimeout = 20 * time.Second // above the waits below, so a stays up for the held client
	cfg := writeFile(t, "cluster.toml", clusterTOML+fmt.Sprintf("\n[server]\ndrain_timeout = %q\n", drainTimeout.String()))
	root := startNode(t, cfg, "root", nil)
	a := startNode(t, cfg, "a", []*clusterNode{root})
	b := startNode(t, cfg, "b", []*clusterNode{root})
	registered(t, []*clusterNode{root}, a, b)

	const interval = 50 * time.Millisecond
	pub := startLinePublisher(t, a.url()+"/", "show", "video", interval)
	waitUntil(t, clusterTimeout, "moq pub publishing on a", func() bool { return strings.Contains(pub.stderr.String(), "publishing") })
	var viewers []*reader
	var viewerNode []string
	for _, n := range []*clusterNode{b, b, root} {
		r, _ := subscribeFlowing(t, connect(t, n, nil), "show", "video")
		viewers = append(viewers, readAll(t, r))
		viewerNode = append(viewerNode, n.name)
	}
	for _, v := range viewers {
		v.received(t, 5)
	}
	// A client of a that ignores GOAWAY keeps a draining until it leaves.
	held := connect(t, a, nil)
	waitUntil(t, clusterTimeout, "a serving the publisher and the held session", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		opened := 0
		for _, l := range a.lines {
			if l["msg"] == "session opened" {
				opened++
			}
		}
		return opened == 2
	})

	aAddr := fmt.Sprintf("127.0.0.1:%d", a.port)
	if code, body := readyState(aAddr); code != http.StatusOK {
		t.Fatalf("a not ready before the drain: %d %s", code, body)
	}
	termAt := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var readyBody string
	waitUntil(t, clusterTimeout, "a's /ready answering 503", func() bool {
		code, body := readyState(aAddr)
		readyBody = body
		return code == http.StatusServiceUnavailable
	})
	notReady := time.Since(termAt)
	if !strings.Contains(readyBody, "draining") {
		t.Errorf("a's /ready while draining: %s, want the reason draining", readyBody)
	}

	// The publisher hears GOAWAY and reconnects to b or the root.
	var movedTo string
	waitUntil(t, clusterTimeout, "moq pub reconnected elsewhere", func() bool {
		s := pub.stderr.String()
		for _, n := range []*clusterNode{b, root} {
			if strings.Contains(s, "GOAWAY") && strings.Contains(s, "reconnected after") && strings.Contains(s, fmt.Sprintf(":%d/", n.port)) {
				movedTo = n.name
				return true
			}
		}
		return false
	})
	movedAt := time.Since(termAt)
	sentAtMove := pub.sent()
	select {
	case err := <-a.exit:
		a.exit <- err
		t.Fatalf("a exited (%v) with a session still open, %v after SIGTERM (drain_timeout %v)", err, time.Since(termAt), drainTimeout)
	default:
	}
	// The viewers carry on, on the subscriptions they had.
	deadline := time.Now().Add(clusterTimeout)
	following := make([]bool, len(viewers))
	for i, v := range viewers {
		for {
			arr, _ := v.snapshot()
			following[i] = len(arr) > 0 && arr[len(arr)-1].seq >= sentAtMove+5
			if following[i] || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	now := time.Now()
	for i, v := range viewers {
		if err := v.endErr(); err != nil {
			t.Errorf("viewer %d's track ended: %v", i, err)
		}
		arr, bad := v.snapshot()
		gap, _ := longestWait(arr, termAt, now)
		dup, reorder := disorder(arr)
		t.Logf("FIGURE drain of a publishing leaf: viewer %d on %s: longest gap %s between groups (groups every %s) after SIGTERM; %d groups skipped, %d duplicated, %d out of order, %d unreadable",
			i, viewerNode[i], ms(gap), interval, skipped(arr), dup, reorder, len(bad))
		if !following[i] {
			t.Errorf("viewer %d on %s: no group from the moved publisher within %v (last %v, publisher at %d when it moved)", i, viewerNode[i], clusterTimeout, lastSeqs(arr, 3), sentAtMove)
		}
		if dup > 0 || reorder > 0 {
			t.Errorf("viewer %d got %d duplicates and %d groups out of order: %v", i, dup, reorder, seqs(arr))
		}
	}

	// a waits for the client that ignored GOAWAY; once it leaves, a exits 0.
	heldLeft := time.Now()
	held.CloseWithError(0, "leaving")
	exitAt, err := waitExit(t, a.process, "a", drainTimeout+5*time.Second)
	if err != nil {
		t.Errorf("a exited with %v after SIGTERM, want status 0", err)
	}
	if a.findLog(func(l map[string]any) bool { return l["msg"] == "drained: no sessions left" }) == nil {
		t.Errorf("a did not log that it drained")
	}
	t.Logf("FIGURE drain: a not ready %s after SIGTERM; publisher on %s %s after SIGTERM; a exited 0 %s after its last client left (held on purpose), %s after SIGTERM (drain_timeout %v)",
		ms(notReady), movedTo, ms(movedAt), ms(exitAt.Sub(heldLeft)), ms(exitAt.Sub(termAt)), drainTimeout)
}

// startPlainRelay runs a relay without a cluster and returns it with its
// UDP/TCP address.
func startPlainRelay(t *testing.T, toml string, args ...string) (*process, string) {
	t.Helper()
	all := append([]string{"serve", "--config", writeFile(t, "relay.toml", toml),
		"--bind", "127.0.0.1:0", "--tls-generate", "localhost,127.0.0.1", "--log-format", "json"}, args...)
	p := startRelay(t, nil, all...)
	l := p.waitLog(t, "relay listening", nil)
	addr, _ := l["udp"].(string)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("listening line without an address: %v", l)
	}
	return p, addr
}

// A relay without a cluster drains too. POST /drain: not ready, open
// sessions hear GOAWAY without a URI, new ones are refused with "draining",
// and a client that stays is closed at drain_timeout, after which the relay
// exits 0. A second SIGTERM ends a drain at once, with status 0.
func TestDrainPlainRelay(t *testing.T) {
	t.Run("POST /drain, then drain_timeout", func(t *testing.T) {
		const drainTimeout = 1500 * time.Millisecond
		p, addr := startPlainRelay(t, fmt.Sprintf("[server]\ndrain_timeout = %q\n", drainTimeout.String()), "--metrics-bind", "127.0.0.1:0")
		ml := p.waitLog(t, "metrics listening", nil)
		metrics, _ := ml["addr"].(string)
		goaway := make(chan string, 1)
		held := connectGoaway(t, addr, goaway)
		// moq-transport sessions, one of each family, hear GOAWAY too.
		ietfGoaway := map[string]chan string{"moqt-18": make(chan string, 1), "moqt-16": make(chan string, 1)}
		ietfHeld := map[string]moqt.Session{}
		for proto, ch := range ietfGoaway {
			ietfHeld[proto] = connectGoaway(t, addr, ch, proto)
		}
		resp, err := statusClient.Post("http://"+metrics+"/drain", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		start := time.Now()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /drain: %s", resp.Status)
		}
		if code, body := readyState(addr); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
			t.Errorf("/ready after POST /drain: %d %s, want 503 naming draining", code, body)
		}
		select {
		case uri := <-goaway:
			if uri != "" {
				t.Errorf("GOAWAY to %q from a relay without a cluster", uri)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the open session heard no GOAWAY")
		}
		for proto, ch := range ietfGoaway {
			select {
			case uri := <-ch:
				if uri != "" {
					t.Errorf("%s: GOAWAY to %q from a relay without a cluster", proto, uri)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("the open %s session heard no GOAWAY", proto)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The refusal may come during the client's handshake or just after.
		late, err := moqt.Connect(ctx, "http://"+addr+"/", moqt.ConnectOptions{})
		if err == nil {
			select {
			case <-late.Done():
				err = late.Err()
			case <-ctx.Done():
				late.CloseWithError(0, "")
				<-late.Done()
				t.Fatal("a new session while draining was not closed")
			}
		}
		if !strings.Contains(fmt.Sprint(err), "draining") {
			t.Errorf("a new session while draining ended with %v, want the reason draining", err)
		}
		exitAt, err := waitExit(t, p, "relay", drainTimeout+10*time.Second)
		if err != nil {
			t.Errorf("exit %v at the drain timeout, want status 0", err)
		}
		<-held.Done()
		if !moqt.IsCode(held.Err(), wire.CodeGoingAway) {
			t.Errorf("the session that stayed ended with %v, want code 33", held.Err())
		}
		for proto, sess := range ietfHeld {
			<-sess.Done()
			if !moqt.IsCode(sess.Err(), wire.CodeGoingAway) {
				t.Errorf("the %s session that stayed ended with %v, want going away (the draft's GOAWAY_TIMEOUT)", proto, sess.Err())
			}
		}
		t.Logf("FIGURE drain timeout: relay exited 0 %s after POST /drain (drain_timeout %v) with one session that ignored GOAWAY", ms(exitAt.Sub(start)), drainTimeout)
	})
	t.Run("second SIGTERM", func(t *testing.T) {
		p, addr := startPlainRelay(t, "[server]\ndrain_timeout = \"60s\"\n")
		connectGoaway(t, addr, make(chan string, 1))
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		p.waitLog(t, "SIGTERM: draining (a second SIGTERM exits at once)", nil)
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exitAt, err := waitExit(t, p, "relay", 15*time.Second)
		if err != nil {
			t.Errorf("exit %v after a second SIGTERM, want status 0", err)
		}
		t.Logf("FIGURE second SIGTERM: relay exited 0 %s after it, with a session open and 60 s of drain_timeout left", ms(exitAt.Sub(start)))
	})
}

// connectGoaway opens a client session to a plain relay at addr that
// reports GOAWAYs to goaway but does not leave; closed when the test ends.
func connectGoaway(t *testing.T, addr string, goaway chan string, protocols ...string) moqt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	sess, err := moqt.Connect(ctx, "http://"+addr+"/", moqt.ConnectOptions{
		SessionConfig: moqt.SessionConfig{OnGoaway: func(uri string) {
			select {
			case goaway <- uri:
			default:
			}
		}},
		Protocols: protocols,
	})
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() {
		sess.CloseWithError(0, "test over")
		<-sess.Done()
	})
	return sess
}

// lastSeqs are the numbers of the last n arrivals.
func lastSeqs(arrivals []arrival, n int) []int {
	var out []int
	for _, a := range arrivals[max(0, len(arrivals)-n):] {
		out = append(out, a.seq)
	}
	return out
}
