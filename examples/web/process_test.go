package web_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/transport/transporttest"
)

// relayProc is one moq-relay process on loopback, its JSON log collected.
type relayProc struct {
	name string
	port int
	cmd  *exec.Cmd
	log  *lineLog
	// exited is closed once the process is gone; waitErr is then its status.
	exited  chan struct{}
	waitErr error
}

// url is what a user passes to a client: http:// makes it fetch and pin the
// relay's self-signed certificate hash.
func (r *relayProc) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", r.port) }

// nodeURL is the node's URL in the cluster flags.
func (r *relayProc) nodeURL() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

// startRelay runs moq-relay on a free loopback port with the arguments
// args(port) returns (after --bind, --tls-generate and --log-format), waits
// until it listens, and stops it with SIGTERM when the test ends, expecting a
// clean exit.
func startRelay(t *testing.T, name string, args func(port int) []string) *relayProc {
	t.Helper()
	relayBin, _ := binaries(t)
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		all := append([]string{
			"--bind", fmt.Sprintf("127.0.0.1:%d", port),
			"--tls-generate", "127.0.0.1,localhost",
			"--log-format", "json",
		}, args(port)...)
		r := &relayProc{name: name, port: port, log: &lineLog{}, exited: make(chan struct{})}
		r.cmd = exec.Command(relayBin, all...)
		r.cmd.Stdout = r.log
		r.cmd.Stderr = r.log
		if err := r.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		go func() {
			r.waitErr = r.cmd.Wait()
			close(r.exited)
		}()
		_, err := r.log.wait(15*time.Second, r.exited, func(l logLine) bool { return l.Msg == "relay listening" })
		if err == nil {
			t.Logf("%s: moq-relay %s", name, strings.Join(all, " "))
			t.Cleanup(func() { r.stop(t) })
			return r
		}
		_ = r.cmd.Process.Kill()
		<-r.exited
		out := r.log.String()
		if attempt == attempts || !strings.Contains(out, "address already in use") {
			t.Fatalf("%s: %v; output:\n%s", name, err, out)
		}
		t.Logf("%s: port %d taken meanwhile; trying another", name, port)
	}
}

// stop sends SIGTERM and expects exit status 0 within 10 s.
func (r *relayProc) stop(t *testing.T) {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		if r.waitErr != nil {
			t.Errorf("%s exited with %v after SIGTERM (want 0); log tail:\n%s", r.name, r.waitErr, r.log.tail(40))
		}
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("%s did not exit within 10 s of SIGTERM; log tail:\n%s", r.name, r.log.tail(40))
	}
	if t.Failed() {
		t.Logf("%s log (warnings and errors):\n%s", r.name, r.log.filter(func(l logLine) bool { return l.Level == "warn" || l.Level == "error" }, 60))
	}
}

// startClock runs the clock example as a publisher on r, the way its README
// says, and stops it with SIGTERM when the test ends, expecting exit 0.
func startClock(t *testing.T, r *relayProc, interval time.Duration) {
	t.Helper()
	_, clockBin := binaries(t)
	out := &lineLog{}
	cmd := exec.Command(clockBin, "--mode", "pub", "--interval", interval.String(), "--url", r.url())
	cmd.Stdout = io.Discard
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clock: %v", err)
	}
	t.Logf("clock %s", strings.Join(cmd.Args[1:], " "))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("clock exited with %v after SIGTERM (want 0); output:\n%s", err, out.tail(40))
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("clock did not exit within 10 s of SIGTERM; output:\n%s", out.tail(40))
		}
	})
}

// testCluster is a root and two leaves, each its own moq-relay process.
type testCluster struct {
	root, a, b *relayProc
}

// startCluster starts the nodes as the README's Cluster section does, with
// a shared token file (and on the root the loopback host as the members'
// URLs' allow-list), and waits for both leaves to register with the root.
// The root has --cluster-node too, so the leaves can pull what is published
// on it.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	token := filepath.Join(t.TempDir(), "cluster.token")
	var secret [16]byte
	if _, err := rand.Read(secret[:]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte(hex.EncodeToString(secret[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{}
	c.root = startRelay(t, "root", func(port int) []string {
		return []string{"--cluster-id", "root", "--cluster-node", fmt.Sprintf("http://127.0.0.1:%d", port), "--cluster-token", token,
			"--cluster-node-host", "127.0.0.1"}
	})
	leaf := func(name string) *relayProc {
		return startRelay(t, name, func(port int) []string {
			return []string{"--cluster-id", name, "--cluster-root", c.root.nodeURL(),
				"--cluster-node", fmt.Sprintf("http://127.0.0.1:%d", port), "--cluster-token", token}
		})
	}
	c.a, c.b = leaf("a"), leaf("b")
	start := time.Now()
	for _, l := range []*relayProc{c.a, c.b} {
		if _, err := l.log.wait(20*time.Second, l.exited, func(l logLine) bool { return l.Msg == "registered with cluster root" }); err != nil {
			t.Fatalf("leaf %s: %v; log tail:\n%s", l.name, err, l.log.tail(40))
		}
	}
	t.Logf("leaves a and b registered with the root within %v", time.Since(start).Round(time.Millisecond))
	return c
}

var freePort = transporttest.FreePort

// logLine is the part of a zap JSON line the tests look at.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	raw   string
}

// lineLog collects a process's output by line; JSON lines are parsed.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []logLine
	changed chan struct{} // closed and replaced on every new line
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := logLine{raw: string(l.partial[:i])}
		_ = json.Unmarshal(l.partial[:i], &line)
		l.lines = append(l.lines, line)
		l.partial = l.partial[i+1:]
		added = true
	}
	if added && l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return len(p), nil
}

// wait returns the first line match accepts, waiting up to timeout; it gives
// up early when exited closes.
func (l *lineLog) wait(timeout time.Duration, exited <-chan struct{}, match func(logLine) bool) (logLine, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if match(line) {
				l.mu.Unlock()
				return line, nil
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-exited:
			return logLine{}, fmt.Errorf("exited before the expected log line")
		case <-deadline.C:
			return logLine{}, fmt.Errorf("no expected log line within %v", timeout)
		}
	}
}

func (l *lineLog) String() string { return l.filter(func(logLine) bool { return true }, 0) }

func (l *lineLog) tail(n int) string { return l.filter(func(logLine) bool { return true }, n) }

// filter returns the lines match accepts, the last n of them (all for 0).
func (l *lineLog) filter(match func(logLine) bool, n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if match(line) {
			out = append(out, line.raw)
		}
	}
	if n > 0 && len(out) > n {
		out = append([]string{fmt.Sprintf("... (%d earlier lines)", len(out)-n)}, out[len(out)-n:]...)
	}
	return strings.Join(out, "\n")
}
