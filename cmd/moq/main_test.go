package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
	"github.com/moq-cluster/moq-relay/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPubSubLines: lines written to pub's input come out of sub's output,
// through a real relay, over raw QUIC and WebTransport.
func TestPubSubLines(t *testing.T) {
	for _, url := range []func(*relaytest.Relay, string) string{(*relaytest.Relay).QUICURL, (*relaytest.Relay).WebTransportURL} {
		r := relaytest.Start(t, relaytest.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		origin := moqt.NewOrigin()
		b := moqt.NewBroadcast(moqt.TrackOptions{})
		track, _ := b.CreateTrack("chat")
		origin.Publish("room", b, moqt.PublishOptions{})
		r.Connect(t, url(r, ""), moqt.SessionConfig{Origin: origin})
		subSess := r.Connect(t, url(r, ""), moqt.SessionConfig{})
		if err := waitForBroadcast(ctx, subSess, "room"); err != nil {
			t.Fatal(err)
		}
		reader, err := subSess.Consume("room").Subscribe("chat", moqt.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()

		in, feed := io.Pipe()
		pubDone := make(chan error, 1)
		go func() { pubDone <- publishLines(ctx, in, track, 2, 1<<10) }()

		var out bytes.Buffer
		p := &printer{out: bufio.NewWriter(&out), count: 6}
		subDone := make(chan error, 1)
		go func() { subDone <- p.track(ctx, reader, nil) }()
		// The subscription starts at the latest group: wait for the relay to
		// request the track before the first line goes in.
		for track.Track().Readers() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		for i := range 6 {
			fmt.Fprintf(feed, "line %d\n", i)
		}
		if err := <-subDone; err != errCountReached {
			t.Fatalf("printer ended with %v, want the count reached", err)
		}
		_ = feed.Close()
		if err := <-pubDone; err != nil {
			t.Fatal(err)
		}
		want := "line 0\nline 1\nline 2\nline 3\nline 4\nline 5\n"
		if out.String() != want {
			t.Fatalf("sub printed %q, want %q", out.String(), want)
		}
		b.Close()
	}
}

// TestBackoff: waits double from the first to the cap, each drawn from
// [d/2, d]; reset starts again.
func TestBackoff(t *testing.T) {
	b := backoff{first: 500 * time.Millisecond, max: 4 * time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	t.Logf("backoff: %v", got)
	for i, d := range got {
		hi := min(500*time.Millisecond<<i, 4*time.Second)
		if d < hi/2 || d > hi {
			t.Errorf("wait %d is %s, want within [%s, %s]", i, d, hi/2, hi)
		}
	}
	b.reset()
	if d := b.next(); d > 500*time.Millisecond {
		t.Errorf("after reset the wait is %s", d)
	}
}

func TestRedirectURL(t *testing.T) {
	for _, c := range []struct{ cur, uri, want string }{
		{"https://a:4443/room?jwt=T", "https://b:4443/room", "https://b:4443/room?jwt=T"},
		{"https://a:4443/room?jwt=T", "moqt://b:4443/x?jwt=U", "moqt://b:4443/x?jwt=U"},
		{"https://a:4443/", "", ""},
		{"https://a:4443/", "javascript:alert(1)", ""},
		{"https://a:4443/", "https://b/no-port", ""},
	} {
		if got := redirectURL(c.cur, c.uri); got != c.want {
			t.Errorf("redirectURL(%q, %q) = %q, want %q", c.cur, c.uri, got, c.want)
		}
	}
}

// --- process tests: the built binaries, run as a user runs them ---

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds moq, moq-relay and moq-bench once and returns the path of name.
func binary(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "moq-cli-bin")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), ".", "../moq-relay", "../moq-bench").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

var freePort = transporttest.FreePort

// relayProc is a running moq-relay.
type relayProc struct {
	cmd  *exec.Cmd
	port int
	log  *bytes.Buffer
	exit chan struct{}
}

// startRelay runs moq-relay on port (0: a free one) with args and waits
// until it answers /health.
func startRelay(t *testing.T, port int, args ...string) *relayProc {
	t.Helper()
	if port == 0 {
		port = freePort(t)
	}
	args = append([]string{"--bind", "127.0.0.1:" + strconv.Itoa(port), "--tls-generate", "localhost,127.0.0.1"}, args...)
	cmd := exec.Command(binary(t, "moq-relay"), args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &relayProc{cmd: cmd, port: port, log: &log, exit: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.exit) }()
	t.Cleanup(r.kill)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rsp, err := http.Get(r.httpURL() + "health")
		if err == nil {
			_ = rsp.Body.Close()
			return r
		}
		select {
		case <-r.exit:
			t.Fatalf("moq-relay exited: %s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moq-relay not up after 15s: %s", log.String())
		}
	}
}

func (r *relayProc) httpURL() string { return "http://127.0.0.1:" + strconv.Itoa(r.port) + "/" }

// kill ends the relay with SIGKILL, as a crash would.
func (r *relayProc) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exit
}

// result is how a moq command ended.
type result struct {
	code           int
	stdout, stderr string
}

// runMoq runs moq with args (and stdin) to completion, at most 30 s.
func runMoq(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "moq"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("moq %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("moq %v did not exit in 30s; stderr: %s", args, errb.String())
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// expect checks the exit status and that stderr names each of want.
func (r result) expect(t *testing.T, what string, code int, want ...string) {
	t.Helper()
	t.Logf("%s: exit %d, stderr: %s", what, r.code, strings.TrimSpace(r.stderr))
	if r.code != code {
		t.Errorf("%s: exit status %d, want %d", what, r.code, code)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%s: stderr does not say %q", what, w)
		}
	}
}

// tokens makes a key pair and signs tokens with moq-relay token, as a user does.
type tokens struct {
	t   *testing.T
	dir string
	pub string // public key file for the relay
}

func newTokens(t *testing.T) *tokens {
	dir := t.TempDir()
	tk := &tokens{t: t, dir: dir, pub: filepath.Join(dir, "key.pub.jwk")}
	tk.relay("token", "generate", "--alg", "ES256", "--out", filepath.Join(dir, "key.jwk"), "--public", tk.pub)
	return tk
}

func (tk *tokens) relay(args ...string) string {
	out, err := exec.Command(binary(tk.t, "moq-relay"), args...).Output()
	if err != nil {
		tk.t.Fatalf("moq-relay %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func (tk *tokens) sign(args ...string) string {
	return tk.relay(append([]string{"token", "sign", "--key", filepath.Join(tk.dir, "key.jwk")}, args...)...)
}

// TestRefusalsExitWithReason: every way the relay refuses a client ends
// moq with a distinct non-zero status and the reason on stderr.
func TestRefusalsExitWithReason(t *testing.T) {
	tk := newTokens(t)
	otherKey := newTokens(t)
	conf := filepath.Join(t.TempDir(), "relay.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("[auth]\nkey = %q\n", tk.pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, 0, "--config", conf)
	u := r.httpURL()

	runMoq(t, "", "sub", "--no-wait", u, "demo", "text").expect(t, "sub --no-wait, no token", exitRefused, "code 6", "a token is required", `broadcast "demo"`, "?jwt=")
	runMoq(t, "", "sub", u, "demo", "text").expect(t, "sub, no token", exitRefused, "code 6", "a token is required")
	runMoq(t, "x\n", "pub", u, "demo", "text").expect(t, "pub, no token", exitRefused, "code 6", "a token is required", `broadcast "demo"`)
	runMoq(t, "", "announced", u).expect(t, "announced, no token", exitRefused, "code 6", "a token is required")
	for _, proto := range []string{"moqt-18", "moqt-16"} {
		runMoq(t, "", "--protocol", proto, "sub", "--no-wait", u, "demo", "text").expect(t, proto+" sub, no token", exitRefused, "code 6", "a token is required")
	}

	bad := otherKey.sign("--root", "", "--get", "")
	runMoq(t, "", "sub", "--no-wait", u+"?jwt="+bad, "demo", "text").expect(t, "sub, token of another key", exitRefused, "code 6", "unauthorized")
	if strings.Contains(runMoq(t, "", "sub", "--no-wait", u+"?jwt="+bad, "demo", "text").stderr, bad) {
		t.Error("the token is printed on stderr")
	}

	alice := tk.sign("--root", "room/alice", "--get", "")
	runMoq(t, "", "sub", "--no-wait", u+"room/bob?jwt="+alice, "demo", "text").expect(t, "sub, path outside the token's root", exitRefused, "code 6", "outside the token's root")

	runMoq(t, "", "sub", "--no-wait", u+"room/alice?jwt="+alice, "nothere", "text").expect(t, "sub --no-wait, missing broadcast", exitNotFound, "not found", `"nothere"`, `"text"`)
	runMoq(t, "", "sub", "--wait-timeout", "500ms", u+"room/alice?jwt="+alice, "nothere", "text").expect(t, "sub --wait-timeout, never announced", exitNotFound, "not found", `"nothere"`, "500ms")
}

func TestSessionLimitRefused(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "relay.toml")
	if err := os.WriteFile(conf, []byte("[limits]\nmax_sessions = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, 0, "--config", conf)
	// One session holds the only slot: a publisher waiting on stdin.
	holder := exec.Command(binary(t, "moq"), "pub", r.httpURL(), "held", "t")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var holderErr syncBuffer
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = holder.Wait() }()
	waitFor(t, 10*time.Second, "the first publisher to connect", func() bool { return strings.Contains(holderErr.String(), "publishing") })

	runMoq(t, "", "sub", "--no-wait", r.httpURL(), "held", "t").expect(t, "sub beyond max_sessions", exitRefused, "code 32", "limit exceeded", "max_sessions")
}

func TestUntrustedCertificateHint(t *testing.T) {
	r := startRelay(t, 0)
	https := "https://127.0.0.1:" + strconv.Itoa(r.port) + "/"
	runMoq(t, "", "sub", "--no-wait", https, "demo", "text").expect(t, "sub over https to a self-signed relay", exitConnection, "certificate", "http://", "--fingerprint")
	runMoq(t, "", "sub", "--no-wait", "moqt://127.0.0.1:"+strconv.Itoa(r.port)+"/", "demo", "text").expect(t, "sub over moqt to a self-signed relay", exitConnection, "http://", "--fingerprint")
}

// TestCleanEndOfTrack: when the publisher's input ends, the subscriber
// exits 0, saying the publisher ended the track, having printed the lines
// from where it joined to the last.
func TestCleanEndOfTrack(t *testing.T) {
	r := startRelay(t, 0)
	sub := startMoq(t, "sub", r.httpURL(), "demo", "text")
	pub := startMoq(t, "pub", r.httpURL(), "demo", "text")
	waitFor(t, 10*time.Second, "pub to connect", func() bool { return strings.Contains(pub.stderr.String(), "publishing") })
	// A subscription starts at the latest group: feed lines until sub has
	// joined, then ten more, then end the input.
	n := 0
	for ; n < 200 && sub.lines() == 0; n++ {
		fmt.Fprintf(pub.stdin, "line %d\n", n)
		time.Sleep(50 * time.Millisecond)
	}
	for end := n + 10; n < end; n++ {
		fmt.Fprintf(pub.stdin, "line %d\n", n)
		time.Sleep(20 * time.Millisecond)
	}
	// The end of a moq-lite track travels on the subscribe stream, which can
	// overtake the last group streams at the relay: leave them a moment.
	time.Sleep(300 * time.Millisecond)
	_ = pub.stdin.Close()
	res := sub.wait(t, 15*time.Second)
	res.expect(t, "sub after the publisher's input ended", exitOK, "ended: its publisher ended it")
	got := strings.Split(strings.TrimSpace(res.stdout), "\n")
	first := 0
	fmt.Sscanf(got[0], "line %d", &first)
	var want []string
	for i := first; i < n; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	t.Logf("sub joined at line %d of %d and printed %d lines", first, n, len(got))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sub printed %q, want %q", got, want)
	}
	pub.wait(t, 15*time.Second).expect(t, "pub after its input ended", exitOK, "publishing")
}

// TestReconnectAfterRelayCrash: the relay is killed (SIGKILL) under a
// running pub and sub and restarted on the same port; both reconnect, sub
// resumes printing, prints no line twice, and has not exited.
func TestReconnectAfterRelayCrash(t *testing.T) {
	port := freePort(t)
	r := startRelay(t, port)
	sub := startMoq(t, "sub", "--idle-timeout", "2s", r.httpURL(), "demo", "text")
	pub := startMoq(t, "pub", "--idle-timeout", "2s", "--group-frames", "2", r.httpURL(), "demo", "text")
	waitFor(t, 10*time.Second, "pub to connect", func() bool { return strings.Contains(pub.stderr.String(), "publishing") })

	// Feed a line every 50 ms until the test ends.
	stop := make(chan struct{})
	fed := make(chan int, 1)
	go func() {
		n := 0
		defer func() { fed <- n }()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := fmt.Fprintf(pub.stdin, "%d\n", n); err != nil {
				return
			}
			n++
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-fed
		}
	}()
	waitFor(t, 10*time.Second, "sub to print 10 lines", func() bool { return sub.lines() >= 10 })

	before := sub.lines()
	r.kill()
	killed := time.Now()
	startRelay(t, port) // same port: the clients' URLs stay valid
	restarted := time.Since(killed)
	waitFor(t, 30*time.Second, "sub to print again", func() bool { return sub.lines() > before+5 })
	resumed := time.Since(killed)
	if sub.exited() {
		t.Fatalf("sub exited: %s", sub.stderr.String())
	}
	close(stop)
	n := <-fed
	_ = pub.stdin.Close()
	res := sub.wait(t, 20*time.Second)
	pub.wait(t, 20*time.Second)

	// Lines are numbers in order; none may repeat.
	seen := map[string]bool{}
	prev, gaps := -1, 0
	for _, l := range strings.Fields(res.stdout) {
		if seen[l] {
			t.Errorf("line %s printed twice", l)
		}
		seen[l] = true
		v, _ := strconv.Atoi(l)
		if v != prev+1 {
			gaps += v - prev - 1
		}
		prev = v
	}
	t.Logf("relay restarted %s after the kill; sub resumed printing %s after the kill; %d lines fed, %d printed, %d missed while the relay was down",
		restarted.Round(time.Millisecond), resumed.Round(time.Millisecond), n, len(seen), gaps)
	t.Logf("sub stderr:\n%s", res.stderr)
	t.Logf("pub stderr:\n%s", pub.stderr.String())
	res.expect(t, "sub after the relay restart and the end of input", exitOK, "reconnecting", "resumed")
	if !strings.Contains(pub.stderr.String(), "reconnected") {
		t.Errorf("pub did not report its reconnection")
	}
}

// TestCLIBasics: version and help of the binaries.
func TestCLIBasics(t *testing.T) {
	v := runMoq(t, "", "version")
	if v.code != 0 || !strings.HasPrefix(v.stdout, "moq ") || !strings.Contains(v.stdout, "moq-lite-04") {
		t.Errorf("moq version: exit %d, %q", v.code, v.stdout)
	}
	if v := runMoq(t, "", "--version"); v.code != 0 || !strings.HasPrefix(v.stdout, "moq ") {
		t.Errorf("moq --version: exit %d, %q", v.code, v.stdout)
	}
	if h := runMoq(t, "", "--help"); h.code != 0 || !strings.Contains(h.stdout, "Exit status") {
		t.Errorf("moq --help: exit %d, does not document the exit status: %q", h.code, h.stdout)
	}
	out, err := exec.Command(binary(t, "moq-bench"), "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--frame-size") {
		t.Errorf("moq-bench --help: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--help"}, true},
		{[]string{"serve", "--help"}, true},
		{[]string{"version", "--help"}, false},
		{[]string{"token", "sign", "--help"}, false},
		{[]string{"token", "--help"}, false},
	} {
		out, err := exec.Command(binary(t, "moq-relay"), c.args...).CombinedOutput()
		if err != nil {
			t.Errorf("moq-relay %v: %v", c.args, err)
		}
		if got := strings.Contains(string(out), "--config"); got != c.want {
			t.Errorf("moq-relay %v shows --config: %v, want %v", c.args, got, c.want)
		}
	}
}

// --- helpers for long-running moq processes ---

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type moqProc struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *syncBuffer
	done           chan struct{}
}

func startMoq(t *testing.T, args ...string) *moqProc {
	t.Helper()
	cmd := exec.Command(binary(t, "moq"), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &moqProc{cmd: cmd, stdin: stdin, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *moqProc) lines() int { return strings.Count(p.stdout.String(), "\n") }

func (p *moqProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *moqProc) wait(t *testing.T, d time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("moq %v still running after %s; stderr: %s", p.cmd.Args[1:], d, p.stderr.String())
	}
	return result{code: p.cmd.ProcessState.ExitCode(), stdout: p.stdout.String(), stderr: p.stderr.String()}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSubFollowsGoaway: a hand-driven server sends GOAWAY naming another
// relay; sub reconnects there and prints that relay's frames.
func TestSubFollowsGoaway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Relay B has the broadcast, a frame every 20 ms.
	b := relaytest.Start(t, relaytest.Options{})
	origin := moqt.NewOrigin()
	bc := moqt.NewBroadcast(moqt.TrackOptions{})
	defer bc.Close()
	w, _ := bc.CreateTrack("text")
	origin.Publish("demo", bc, moqt.PublishOptions{})
	b.Connect(t, b.QUICURL(""), moqt.SessionConfig{Origin: origin})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ctx.Err() == nil && i < 1000; i++ {
			_ = w.WriteGroup([]byte(fmt.Sprintf("from-b %d", i)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-pubDone }()

	// Server A accepts one session, serves an empty track, and sends GOAWAY.
	cert, err := transport.GenerateCertificate([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(transport.ListenOptions{Addr: "127.0.0.1:0", Certs: transport.NewCertStore(cert), Protocols: moqt.Protocols()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	aOrigin := moqt.NewOrigin()
	empty := moqt.NewBroadcast(moqt.TrackOptions{})
	defer empty.Close()
	_, _ = empty.CreateTrack("text")
	aOrigin.Publish("demo", empty, moqt.PublishOptions{})
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			served <- err
			return
		}
		sess, err := moqt.Accept(ctx, conn, moqt.SessionConfig{Origin: aOrigin})
		if err != nil {
			served <- err
			return
		}
		defer sess.CloseWithError(wire.CodeGoingAway, "moved")
		time.Sleep(300 * time.Millisecond) // let the subscription start
		str, err := conn.OpenStream(ctx)
		if err != nil {
			served <- err
			return
		}
		msg := wire.AppendVarint(nil, uint64(lite.StreamGoaway))
		msg = (&lite.Goaway{URI: b.HTTPURL("")}).AppendTo(msg, lite.Lite04)
		_, err = str.Write(msg)
		served <- err
		select { // the client leaves; the server closes after a grace
		case <-sess.Done():
		case <-time.After(5 * time.Second):
		}
	}()

	var stderr syncBuffer
	var out bytes.Buffer
	fp := cert.FingerprintHex()
	s := &subscriber{
		f:   &clientFlags{fingerprints: []string{fp}, idleTimeout: 5 * time.Second},
		url: fmt.Sprintf("moqt://127.0.0.1:%d/", ln.UDPAddr().Port), broadcast: "demo", track: "text",
		noWait: true, reconnect: true, reconnectMax: time.Second,
		log: zap.NewNop(), stderr: &stderr,
		p: &printer{out: bufio.NewWriter(&out), count: 3},
	}
	start := time.Now()
	if err := s.run(ctx); err != nil {
		t.Fatalf("sub: %v; stderr: %s", err, stderr.String())
	}
	if err := <-served; err != nil {
		t.Fatalf("server A: %v", err)
	}
	t.Logf("sub printed 3 frames from relay B %s after connecting to A; stderr: %s", time.Since(start).Round(time.Millisecond), stderr.String())
	if !strings.Contains(stderr.String(), "GOAWAY") || !strings.Contains(stderr.String(), b.HTTPURL("")) {
		t.Errorf("stderr does not report the redirect: %s", stderr.String())
	}
	if got := out.String(); strings.Count(got, "from-b ") != 3 {
		t.Errorf("sub printed %q, want 3 frames from relay B", got)
	}
}
