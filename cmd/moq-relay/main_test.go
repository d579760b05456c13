package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/moq-cluster/moq-relay/moqt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if buildDir != "" {
			_ = os.RemoveAll(buildDir)
		}
		os.Exit(code)
	}))
}

// The tests run the real binaries, each built once per test run into a
// temporary directory removed when the tests end (TestMain).
var (
	buildMu   sync.Mutex
	buildDir  string
	built     = map[string]string{} // package → binary
	buildErrs = map[string]error{}
)

// builtBinary builds the command in package dir (relative to this one) as
// name, once per test run.
func builtBinary(t *testing.T, name, dir string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if err, ok := buildErrs[dir]; ok {
		t.Fatal(err)
	}
	if p, ok := built[dir]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "moq-relay-test-bin")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	p := filepath.Join(buildDir, name)
	if out, err := exec.Command("go", "build", "-o", p, dir).CombinedOutput(); err != nil {
		buildErrs[dir] = fmt.Errorf("go build %s: %v\n%s", dir, err, out)
		t.Fatal(buildErrs[dir])
	}
	built[dir] = p
	return p
}

// relayBinary is moq-relay, built from this package.
func relayBinary(t *testing.T) string { return builtBinary(t, "moq-relay", ".") }

// moqCLI is the moq client, built beside the relay.
func moqCLI(t *testing.T) string { return builtBinary(t, "moq", "../moq") }

// process is a running moq-relay whose JSON log lines are collected.
type process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	raw   bytes.Buffer
	added chan struct{} // signalled on every new line
	exit  chan error
}

func startRelay(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(relayBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, added: make(chan struct{}, 1), exit: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 16<<20) // a regression may log a huge line: keep collecting
		for sc.Scan() {
			var line map[string]any
			_ = json.Unmarshal(sc.Bytes(), &line)
			p.mu.Lock()
			p.raw.Write(sc.Bytes())
			p.raw.WriteByte('\n')
			if line != nil {
				p.lines = append(p.lines, line)
			}
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		<-scanned
		p.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exit
		if t.Failed() {
			t.Logf("relay output:\n%s", p.output())
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// waitLog returns the first log line with message msg whose fields match.
func (p *process) waitLog(t *testing.T, msg string, fields map[string]string) map[string]any {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		p.mu.Lock()
	lines:
		for _, l := range p.lines {
			if l["msg"] != msg {
				continue
			}
			for k, v := range fields {
				if fmt.Sprint(l[k]) != v {
					continue lines
				}
			}
			p.mu.Unlock()
			return l
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-deadline:
			t.Fatalf("no log line %q with %v", msg, fields)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	c.CloseIdleConnections()
	return resp.StatusCode, string(body)
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(relayBinary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "moq-relay ") {
		t.Fatalf("version printed %q", out)
	}
}

// The binary serves raw QUIC and WebTransport on one UDP port and plain
// HTTP on the same TCP port, logs sessions, and on SIGTERM drains (not
// ready, GOAWAY to the open session) and exits 0 once the session left.
func TestServeEndToEnd(t *testing.T) {
	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json"},
		"serve", "--bind", "127.0.0.1:0", "--tls-generate", "localhost,127.0.0.1", "--log-level", "info")
	listening := p.waitLog(t, "relay listening", nil)
	udp, _ := listening["udp"].(string)
	_, port, err := net.SplitHostPort(udp)
	if err != nil {
		t.Fatalf("listening line has no udp address: %v", listening)
	}
	if tcp, _ := listening["tcp"].(string); !strings.HasSuffix(tcp, ":"+port) {
		t.Fatalf("TCP %q and UDP %q ports differ", tcp, udp)
	}

	if code, body := httpGet(t, "http://127.0.0.1:"+port+"/health"); code != http.StatusOK {
		t.Fatalf("/health: %d %q", code, body)
	}
	code, hash := httpGet(t, "http://127.0.0.1:"+port+"/certificate.sha256")
	hash = strings.TrimSpace(hash)
	if code != http.StatusOK || hash != listening["certificate_sha256"] {
		t.Fatalf("/certificate.sha256: %d %q, logged %v", code, hash, listening["certificate_sha256"])
	}
	var fp [32]byte
	if n, err := hex.Decode(fp[:], []byte(hash)); err != nil || n != 32 {
		t.Fatalf("fingerprint %q: %v", hash, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Publish over WebTransport under /room, watch over raw QUIC.
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	defer b.Close()
	w, _ := b.CreateTrack("chat")
	origin.Publish("alice", b, moqt.PublishOptions{})
	goaway := make(chan string, 1)
	pub, err := moqt.Connect(ctx, "https://127.0.0.1:"+port+"/room", moqt.ConnectOptions{
		SessionConfig: moqt.SessionConfig{Origin: origin, OnGoaway: func(uri string) { goaway <- uri }},
		Fingerprints:  [][32]byte{fp},
	})
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	defer pub.CloseWithError(0, "")
	sub, err := moqt.Connect(ctx, "moqt://127.0.0.1:"+port+"/room", moqt.ConnectOptions{Fingerprints: [][32]byte{fp}})
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	defer sub.CloseWithError(0, "")
	ar, err := sub.Announced(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	if a, err := ar.Next(ctx); err != nil || a.Path != "alice" || !a.Active {
		t.Fatalf("announcement %+v, %v", a, err)
	}
	r, err := sub.Consume("alice").Subscribe("chat", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for w.Track().Readers() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.WriteGroup([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	g, err := r.NextGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := g.ReadFrame(ctx); err != nil || string(f) != "hello" {
		t.Fatalf("frame %q, %v", f, err)
	}

	// One line per session open, with remote address, version and path.
	for _, kind := range []string{"webtransport", "quic"} {
		l := p.waitLog(t, "session opened", map[string]string{"transport": kind, "path": "/room"})
		if l["remote"] == nil || !strings.HasPrefix(fmt.Sprint(l["version"]), "moq-lite-") {
			t.Fatalf("session opened line lacks fields: %v", l)
		}
	}
	sub.CloseWithError(0, "done")
	p.waitLog(t, "session closed", map[string]string{"transport": "quic", "path": "/room"})

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-goaway:
		if uri != "" {
			t.Errorf("a relay without a cluster sent GOAWAY to %q, want no URI", uri)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the open session heard no GOAWAY after SIGTERM")
	}
	if code, body := httpGet(t, "http://127.0.0.1:"+port+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("/ready while draining: %d %q, want 503 naming draining", code, body)
	}
	pub.CloseWithError(0, "leaving as asked")
	select {
	case err := <-p.exit:
		p.exit <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("relay did not exit within 15 s of SIGTERM")
	}
	p.waitLog(t, "shutting down", nil)
}

// Bad configuration is a clear error and exit status 1, never a panic.
func TestServeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	badTOML := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badTOML, []byte("[server]\nbind = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad bind", nil, []string{"--bind", "nowhere", "--tls-generate", "localhost"}, "bind"},
		{"missing key", nil, []string{"--tls-cert", filepath.Join(dir, "none.pem")}, "key"},
		{"unreadable cert", nil, []string{"--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")}, "none.pem"},
		{"bad log level", nil, []string{"--log-level", "loud", "--tls-generate", "localhost"}, "loud"},
		{"bad file", nil, []string{"--config", badTOML}, "bind"},
		{"missing file", nil, []string{"--config", filepath.Join(dir, "absent.toml")}, "absent.toml"},
		{"bad env", []string{"MOQ_LOG_FORMAT=xml"}, []string{"--tls-generate", "localhost"}, "xml"},
		{"unknown flag", nil, []string{"--no-such-flag"}, "no-such-flag"},
		{"unknown protocol", nil, []string{"--tls-generate", "localhost", "--bind", "127.0.0.1:0", "--protocol", "moq-lite-04,moqt-99"}, `"moqt-99" is not a protocol this build speaks`},
		{"protocol twice", []string{"MOQ_PROTOCOLS=moq-lite-04,moq-lite-04"}, []string{"--tls-generate", "localhost"}, "listed twice"},
		{"missing tls root", nil, []string{"--tls-generate", "localhost", "--bind", "127.0.0.1:0", "--tls-root", filepath.Join(dir, "ca.pem")}, "ca.pem"},
		{"tls root without a certificate", nil, []string{"--tls-generate", "localhost", "--bind", "127.0.0.1:0", "--tls-root", badTOML}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(relayBinary(t), tc.args...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
			}
			if strings.Contains(string(out), "panic") || !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not name %q (or panicked):\n%s", tc.want, out)
			}
		})
	}
}
