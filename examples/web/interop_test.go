// Interop tests: real third-party MoQ clients (@moq/lite, @moq/net) in
// headless Chromium, driven by run.mjs, against an in-process relay.
//
//   - TestBrowserSubscribes: the examples/clock binary publishes clock/seconds
//     over raw QUIC; the page subscribes over WebTransport.
//   - TestBrowserPublishes: the page publishes over WebTransport; a Go
//     client subscribes over raw QUIC.
//
// Each runs for both packages, with the WebTransport protocol negotiated by
// default (moq-lite-04) and forced to moq-lite-03. They need node, Chromium
// and the built bundles (make web); without them they skip, unless CI=true.
package web_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// clockFormat is the layout of the clock example's frames.
const clockFormat = "2006-01-02 15:04:05.000"

// pageTimeout bounds one run.mjs invocation (browser start, page, cleanup).
// run.mjs gives up by itself well before: --timeout (pageBudget) + hold + 10 s.
const pageTimeout = 90 * time.Second

// pageBudget is run.mjs's --timeout in ms: what the page allows for
// connecting and subscribing or publishing (generous: CI machines are slow).
const pageBudget = "30000"

var (
	pkgs = []string{"lite", "net"}
	// protocols: the --alpn passed to run.mjs ("" = package default) and the
	// protocol the relay must negotiate.
	protocols = []struct{ name, alpn, want string }{
		{"default", "", "moq-lite-04"},
		{"moq-lite-03", "moq-lite-03", "moq-lite-03"},
	}
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cleanupM{m})
}

// cleanupM removes the clock binary once every test ran, before goleak looks.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer func() {
		if clockDir != "" {
			_ = os.RemoveAll(clockDir)
		}
	}()
	return c.m.Run()
}

// requireHarness skips (fails under CI=true) when the browser harness cannot
// run here.
func requireHarness(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser interop tests skipped in -short mode")
	}
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (not in PATH)")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if st, err := os.Stat(chromium); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		missing = append(missing, fmt.Sprintf("Chromium (%s; set CHROMIUM)", chromium))
	}
	for _, f := range []string{"dist/lite.js", "dist/net.js", "node_modules/playwright-core/package.json"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, fmt.Sprintf("examples/web/%s (run make web)", f))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "browser interop harness unavailable: missing " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: these tests must run)")
	}
	t.Skip(msg)
}

var (
	clockOnce sync.Once
	clockDir  string
	clockBin  string
	clockErr  error
)

// buildClock builds examples/clock once per test binary (with -race when
// this binary has it, so the clock's own races fail the tests too).
func buildClock(t *testing.T) string {
	t.Helper()
	clockOnce.Do(func() {
		clockDir, clockErr = os.MkdirTemp("", "moq-clock-")
		if clockErr != nil {
			return
		}
		clockBin = filepath.Join(clockDir, "clock")
		args := []string{"build", "-o", clockBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/moq-cluster/moq-relay/examples/clock")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			clockErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if clockErr != nil {
		t.Fatal(clockErr)
	}
	return clockBin
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
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

// startClock runs the clock binary as a publisher against the relay and
// stops it with SIGTERM when the test ends, checking that it exits 0.
func startClock(t *testing.T, r *relaytest.Relay) {
	t.Helper()
	bin := buildClock(t)
	stderr := &syncBuffer{}
	cmd := exec.Command(bin, "--mode", "pub", "--interval", "200ms",
		"--url", r.QUICURL(""), "--fingerprint", r.Cert.FingerprintHex())
	cmd.Stdout = io.Discard
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clock: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
			t.Errorf("clock did not exit within 10 s of SIGTERM; stderr:\n%s", stderr)
			return
		}
		if err != nil {
			t.Errorf("clock exited with %v after SIGTERM (want 0); stderr:\n%s", err, stderr)
		}
	})
}

// waitAnnounced blocks until sess sees path announced.
func waitAnnounced(t *testing.T, ctx context.Context, sess moqt.Session, path string) {
	t.Helper()
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		t.Fatalf("announced: %v", err)
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %q to be announced: %v", path, err)
		}
		if a.Path == path && a.Active {
			return
		}
	}
}

// pageLine is one JSON line run.mjs prints.
type pageLine struct {
	Event     string   `json:"event"`
	Final     bool     `json:"final"`
	OK        bool     `json:"ok"`
	Error     string   `json:"error"`
	Phase     string   `json:"phase"`
	Pkg       string   `json:"pkg"`
	Version   string   `json:"version"`
	Protocol  string   `json:"protocol"`
	Mode      string   `json:"mode"`
	Frames    []string `json:"frames"`
	Published int      `json:"published"`
}

// pageRun is one run.mjs process.
type pageRun struct {
	args   []string
	stdout bytes.Buffer // read only after done
	stderr syncBuffer
	done   chan struct{}
	err    error // Wait's error, set before done closes
	start  time.Time
}

// startPage runs `node run.mjs args...`. The test's end interrupts it
// (SIGTERM, which run.mjs handles by closing Chromium) and waits for it.
func startPage(t *testing.T, args ...string) *pageRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pageTimeout)
	p := &pageRun{args: args, done: make(chan struct{}), start: time.Now()}
	cmd := exec.CommandContext(ctx, "node", append([]string{"run.mjs"}, args...)...)
	cmd.Stdout = &p.stdout
	cmd.Stderr = &p.stderr
	// On timeout, let run.mjs clean up its browser; SIGKILL 15 s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start node run.mjs: %v", err)
	}
	go func() {
		p.err = cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for run.mjs to exit and returns its lines; the last one is the
// final result. It fails the test unless the run produced a well-formed
// final line (ok or not: callers check).
func (p *pageRun) wait(t *testing.T) []pageLine {
	t.Helper()
	<-p.done
	t.Logf("run.mjs %s: %v, %s", strings.Join(p.args, " "), time.Since(p.start).Round(time.Millisecond), exitText(p.err))
	var lines []pageLine
	sc := bufio.NewScanner(bytes.NewReader(p.stdout.Bytes()))
	for sc.Scan() {
		var l pageLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("run.mjs printed a non-JSON line %q: %v%s", sc.Text(), err, p.logs())
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 || !lines[len(lines)-1].Final || lines[len(lines)-1].Event != "result" {
		t.Fatalf("run.mjs gave no final result (exit: %s); stdout:\n%s%s", exitText(p.err), p.stdout.String(), p.logs())
	}
	final := lines[len(lines)-1]
	if final.OK != (p.err == nil) {
		t.Errorf("run.mjs exit %s disagrees with final ok=%v", exitText(p.err), final.OK)
	}
	return lines
}

func (p *pageRun) logs() string {
	s := p.stderr.String()
	const limit = 16 << 10
	if len(s) > limit {
		s = "...\n" + s[len(s)-limit:]
	}
	return "\nrun.mjs stderr:\n" + s
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// checkProtocol asserts the page reported connecting with want.
func checkProtocol(t *testing.T, p *pageRun, lines []pageLine, want string) {
	t.Helper()
	var connected []string
	for _, l := range lines {
		if l.Event == "connected" {
			connected = append(connected, l.Protocol)
		}
	}
	final := lines[len(lines)-1]
	t.Logf("page %s %s negotiated %q", final.Pkg, final.Version, connected)
	if len(connected) != 1 || connected[0] != want {
		t.Errorf("connected events with protocols %q, want exactly one with %q%s", connected, want, p.logs())
	}
	if final.Protocol != want {
		t.Errorf("final result protocol %q, want %q", final.Protocol, want)
	}
}

// TestBrowserSubscribes: the clock example publishes clock/seconds every
// 200 ms over raw QUIC; the page subscribes over WebTransport and must get
// 3 frames, each a clock time, strictly increasing.
func TestBrowserSubscribes(t *testing.T) {
	requireHarness(t)
	buildClock(t)
	for _, pkg := range pkgs {
		for _, proto := range protocols {
			t.Run(pkg+"/"+proto.name, func(t *testing.T) {
				r := relaytest.Start(t, relaytest.Options{})
				startClock(t, r)
				watcher := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				waitAnnounced(t, ctx, watcher, "clock")

				args := []string{"--pkg", pkg, "--mode", "sub", "--relay", r.HTTPURL(""),
					"--broadcast", "clock", "--track", "seconds", "--count", "3", "--timeout", pageBudget}
				if proto.alpn != "" {
					args = append(args, "--alpn", proto.alpn)
				}
				begin := time.Now()
				p := startPage(t, args...)
				lines := p.wait(t)
				final := lines[len(lines)-1]
				if !final.OK {
					t.Fatalf("page failed in phase %q: %s (frames %q)%s", final.Phase, final.Error, final.Frames, p.logs())
				}
				checkProtocol(t, p, lines, proto.want)
				t.Logf("frames %q", final.Frames)
				if len(final.Frames) != 3 {
					t.Fatalf("got %d frames %q, want 3", len(final.Frames), final.Frames)
				}
				var prev time.Time
				for i, f := range final.Frames {
					ts, err := time.Parse(clockFormat, f)
					if err != nil {
						t.Fatalf("frame %d %q is not a clock time: %v", i, f, err)
					}
					// The relay may hand the page the latest group, written
					// before the page subscribed; nothing older than the clock.
					if ts.Before(begin.Add(-time.Minute)) || ts.After(time.Now().Add(time.Minute)) {
						t.Errorf("frame %d %q is not a current time", i, f)
					}
					if i > 0 && !ts.After(prev) {
						t.Errorf("frame %d %q does not follow %q", i, f, final.Frames[i-1])
					}
					prev = ts
				}
			})
		}
	}
}

// TestBrowserPublishes: the page publishes interop-<pkg>/t over WebTransport
// and writes 5 groups once the track is requested; a Go client subscribed
// over raw QUIC must get all of them, in order.
//
// All 5 are expected, not just a suffix: the page writes nothing until the
// relay forwards a subscription, and that subscription only exists because
// the Go reader is already attached (Broadcast.Subscribe attaches the reader
// before the upstream subscription is opened, on the client and on the
// relay). Every reader along the way therefore starts on an empty track and
// sees group 0 onwards.
func TestBrowserPublishes(t *testing.T) {
	requireHarness(t)
	for _, pkg := range pkgs {
		for _, proto := range protocols {
			t.Run(pkg+"/"+proto.name, func(t *testing.T) {
				r := relaytest.Start(t, relaytest.Options{})
				sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
				broadcast := "interop-" + pkg
				prefix := uniquePrefix(t)
				const frames = 5

				args := []string{"--pkg", pkg, "--mode", "pub", "--relay", r.HTTPURL(""),
					"--broadcast", broadcast, "--track", "t", "--frames", strconv.Itoa(frames),
					"--interval", "100", "--prefix", prefix, "--hold", "2000", "--timeout", pageBudget}
				if proto.alpn != "" {
					args = append(args, "--alpn", proto.alpn)
				}
				p := startPage(t, args...)

				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				// The page's own failure (say, it cannot connect) ends the wait early.
				go func() {
					select {
					case <-p.done:
						cancel()
					case <-ctx.Done():
					}
				}()
				// The reader stays attached until the page is gone: the
				// publisher leaves first, and the track must then end.
				reader, got, err := receive(ctx, sub, broadcast, "t", frames)
				if reader != nil {
					defer reader.Close()
				}
				if err != nil {
					select {
					case <-p.done:
						lines := p.wait(t)
						t.Fatalf("Go subscriber: %v (got %q); page ended first: %+v%s", err, got, lines[len(lines)-1], p.logs())
					default:
					}
					t.Fatalf("Go subscriber: %v (got %q)%s", err, got, p.logs())
				}
				want := make([]string, frames)
				for i := range want {
					want[i] = fmt.Sprintf("%s-%d", prefix, i)
				}
				t.Logf("Go subscriber got %q", got)
				if !slices.Equal(got, want) {
					t.Errorf("Go subscriber got %q, want %q", got, want)
				}

				lines := p.wait(t)
				final := lines[len(lines)-1]
				if !final.OK {
					t.Fatalf("page failed in phase %q: %s%s", final.Phase, final.Error, p.logs())
				}
				if final.Published != frames {
					t.Errorf("page published %d, want %d", final.Published, frames)
				}
				checkProtocol(t, p, lines, proto.want)

				endCtx, endCancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer endCancel()
				left := time.Now()
				if g, err := reader.NextGroup(endCtx); err == nil {
					t.Errorf("after the page left: unexpected group %d", g.Sequence())
				} else if endCtx.Err() != nil {
					t.Errorf("track did not end within 10 s of the page leaving")
				} else {
					t.Logf("track ended %v after run.mjs exited: %v", time.Since(left).Round(time.Millisecond), err)
				}
			})
		}
	}
}

// receive waits for broadcast to be announced on sess, subscribes to track
// and returns the reader (when subscribed; the caller closes it) and the
// first n frames.
func receive(ctx context.Context, sess moqt.Session, broadcast, track string, n int) (*moqt.TrackReader, []string, error) {
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("announced: %w", err)
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("waiting for %q to be announced: %w", broadcast, err)
		}
		if a.Path == broadcast && a.Active {
			break
		}
	}
	r, err := sess.Consume(broadcast).Subscribe(track, moqt.ReaderOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe: %w", err)
	}
	var got []string
	for len(got) < n {
		g, err := r.NextGroup(ctx)
		if err != nil {
			return r, got, fmt.Errorf("next group after %d frames: %w", len(got), err)
		}
		for len(got) < n {
			f, err := g.ReadFrame(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return r, got, fmt.Errorf("group %d after %d frames: %w", g.Sequence(), len(got), err)
			}
			got = append(got, string(f))
		}
	}
	return r, got, nil
}

func uniquePrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "p" + hex.EncodeToString(b[:])
}
