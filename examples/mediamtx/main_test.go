// Package mediamtx_test is a third-party interop test of moq-relay's IETF
// moq-transport support with MediaMTX (github.com/bluenviron/mediamtx
// v1.20.1, which speaks moqt-16 … moqt-19). It is opt-in: it runs only when
// MOQ_MEDIAMTX_BIN names a MediaMTX binary (`make interop-mediamtx` builds
// one and sets it); README.md says what it checks.
package mediamtx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cleanupM{m})
}

// cleanupM removes the relay binary built for the tests once they all ran,
// before goleak looks.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer func() {
		if relayBuild.dir != "" {
			_ = os.RemoveAll(relayBuild.dir)
		}
	}()
	return c.m.Run()
}

// drafts are the moq-transport drafts MediaMTX v1.20.1 and the relay share.
var drafts = []int{16, 17, 18, 19}

// tools are the external programs a test needs.
type tools struct {
	mediamtx, ffmpeg, ffprobe string
}

// requireTools skips the test unless MOQ_MEDIAMTX_BIN names a MediaMTX
// binary and ffmpeg and ffprobe are in PATH.
func requireTools(t *testing.T) tools {
	t.Helper()
	bin := os.Getenv("MOQ_MEDIAMTX_BIN")
	if bin == "" {
		t.Skip("NOTICE: MediaMTX interop test skipped: set MOQ_MEDIAMTX_BIN to a mediamtx binary (make interop-mediamtx builds v1.20.1 and runs it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("MOQ_MEDIAMTX_BIN: %v", err)
	}
	var tl tools
	tl.mediamtx = bin
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s not in PATH (apt-get install ffmpeg): %v", name, err)
		}
		if name == "ffmpeg" {
			tl.ffmpeg = p
		} else {
			tl.ffprobe = p
		}
	}
	return tl
}

// strictGaps turns known interop gaps into failures (MOQ_MEDIAMTX_STRICT=1),
// to check whether a fix on either side closed them.
func strictGaps() bool { return os.Getenv("MOQ_MEDIAMTX_STRICT") == "1" }

// relayBuild is moq-relay built once for every test (or MOQ_RELAY_BIN, to
// try a patched relay).
var relayBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func relayBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MOQ_RELAY_BIN"); p != "" {
		return p
	}
	relayBuild.once.Do(func() {
		d, err := os.MkdirTemp("", "moq-mediamtx-bin")
		if err != nil {
			relayBuild.err = err
			return
		}
		relayBuild.dir = d
		relayBuild.path = filepath.Join(d, "moq-relay")
		if out, err := exec.Command("go", "build", "-o", relayBuild.path, "../../cmd/moq-relay").CombinedOutput(); err != nil {
			relayBuild.err = fmt.Errorf("go build moq-relay: %v\n%s", err, out)
		}
	})
	if relayBuild.err != nil {
		t.Fatal(relayBuild.err)
	}
	return relayBuild.path
}

// freePort returns a loopback port free on both UDP and TCP (the relay and
// MediaMTX's MoQ server use one number for both).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = u.Close()
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no port free on both UDP and TCP after 20 tries")
	return 0
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a program the test started; stop ends it (test cleanup does too).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	once sync.Once
}

func startProc(t *testing.T, name, dir, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// childEnv is the test's environment without its own variables (moq-relay
// warns about MOQ_ variables it does not know).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOQ_MEDIAMTX_") && !strings.HasPrefix(kv, "MOQ_RELAY_BIN=") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends SIGTERM and waits up to 10 s, then kills.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *proc) log() string { return p.out.String() }

// waitLog waits up to d for a line of the output to match re and returns it.
func (p *proc) waitLog(re *regexp.Regexp, d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		if m := re.FindString(p.log()); m != "" {
			return m, true
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// relay is a running moq-relay.
type relay struct {
	*proc
	port        int
	fingerprint string // hex SHA-256 of its self-signed certificate
}

// startRelay runs moq-relay on 127.0.0.1 with a self-signed certificate,
// serving only protocols (MediaMTX offers moqt-19 … moqt-16 and gets the
// first of those the relay serves, so restricting the relay picks the
// draft).
func startRelay(t *testing.T, protocols ...string) *relay {
	t.Helper()
	port := freePort(t)
	p := startProc(t, "moq-relay", "", relayBinary(t),
		"--bind", fmt.Sprintf("127.0.0.1:%d", port), "--tls-generate", "127.0.0.1",
		"--protocol", strings.Join(protocols, ","), "--log-level", "debug")
	url := fmt.Sprintf("http://127.0.0.1:%d/certificate.sha256", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if fp, err := httpGet(url); err == nil {
			return &relay{proc: p, port: port, fingerprint: strings.TrimSpace(string(fp))}
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay did not serve %s within 15 s:\n%s", url, tail(p.log(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func httpGet(url string) ([]byte, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// mediamtx is a running MediaMTX with only what a test needs listening, all
// on 127.0.0.1.
type mediamtx struct {
	*proc
	api, rtsp, moq int // moq is 0 when its MoQ server is off
}

// startMediaMTX writes a configuration (paths is the YAML under "paths:",
// already indented) and runs MediaMTX in a temporary directory (its
// generated MoQ certificate lands there).
func startMediaMTX(t *testing.T, bin string, moqServer bool, paths string) *mediamtx {
	t.Helper()
	m := &mediamtx{api: freePort(t), rtsp: freePort(t)}
	moqConf := "moq: false\n"
	if moqServer {
		m.moq = freePort(t)
		http2 := freePort(t)
		moqConf = fmt.Sprintf("moq: true\nmoqQUICAddress: 127.0.0.1:%d\nmoqHTTP2Address: 127.0.0.1:%d\nmoqHTTP3Address: 127.0.0.1:%d\n", m.moq, http2, http2)
	}
	conf := fmt.Sprintf(`logLevel: info
api: true
apiAddress: 127.0.0.1:%d
rtsp: true
rtspTransports: [tcp]
rtspAddress: 127.0.0.1:%d
rtmp: false
hls: false
webrtc: false
srt: false
%spaths:
%s`, m.api, m.rtsp, moqConf, paths)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mediamtx.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.proc = startProc(t, "mediamtx", dir, bin, "mediamtx.yml")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/v3/paths/list", m.api)); err == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("MediaMTX API not up within 15 s:\n%s", tail(m.log(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pathState is what MediaMTX's API says of a path.
type pathState struct {
	Ready         bool            `json:"ready"`
	BytesReceived uint64          `json:"bytesReceived"`
	Source        json.RawMessage `json:"source"`
	Tracks        []string        `json:"tracks"`
}

func (m *mediamtx) path(name string) (pathState, error) {
	var st pathState
	body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/v3/paths/get/%s", m.api, name))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("decode path %s: %w", name, err)
	}
	return st, nil
}

// waitReady polls the path until it is ready with bytes received, up to d.
func (m *mediamtx) waitReady(name string, d time.Duration) (pathState, time.Duration, bool) {
	start := time.Now()
	for {
		st, err := m.path(name)
		if err == nil && st.Ready && st.BytesReceived > 0 {
			return st, time.Since(start), true
		}
		if time.Since(start) > d {
			return st, time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// decodeRTSP reads up to frames video frames of rtsp://127.0.0.1:port/name
// with ffmpeg, decoding each (framemd5 writes one line per decoded frame),
// and returns how many it decoded and the stream ffprobe saw.
func decodeRTSP(ctx context.Context, tl tools, port int, name string, frames int) (int, string, error) {
	url := fmt.Sprintf("rtsp://127.0.0.1:%d/%s", port, name)
	probe, err := exec.CommandContext(ctx, tl.ffprobe, "-v", "error", "-rtsp_transport", "tcp",
		"-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url).CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("ffprobe %s: %v: %s", url, err, probe)
	}
	out, err := exec.CommandContext(ctx, tl.ffmpeg, "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
		"-i", url, "-frames:v", fmt.Sprint(frames), "-f", "framemd5", "-").Output()
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	if err != nil && n == 0 {
		return 0, strings.TrimSpace(string(probe)), fmt.Errorf("ffmpeg %s: %w", url, err)
	}
	return n, strings.TrimSpace(string(probe)), nil
}

// namedLog is a program's output, or the part of it a subtest caused.
type namedLog struct{ name, text string }

func (p *proc) named() namedLog { return namedLog{p.name, p.log()} }

// knownGap is an interop failure whose cause is understood: the evidence a
// log line must show, and which side deviates from which draft section.
type knownGap struct {
	drafts   []int
	evidence *regexp.Regexp
	side     string
	cause    string
}

// explainFailure looks for a known gap's evidence in the logs. A known gap
// skips the test with its explanation (fails it with MOQ_MEDIAMTX_STRICT=1);
// anything else fails it with the logs.
func explainFailure(t *testing.T, draft int, gaps []knownGap, what string, logs ...namedLog) {
	t.Helper()
	for _, g := range gaps {
		if !containsInt(g.drafts, draft) {
			continue
		}
		if g.evidence.MatchString(what) {
			msg := fmt.Sprintf("KNOWN INTEROP GAP (moqt-%d; deviates: %s): %s\n  %s", draft, g.side, what, g.cause)
			if strictGaps() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		for _, p := range logs {
			if line := lineMatching(p.text, g.evidence); line != "" {
				msg := fmt.Sprintf("KNOWN INTEROP GAP (moqt-%d; deviates: %s): %s\n  %s\n  evidence (%s log): %s", draft, g.side, what, g.cause, p.name, line)
				if strictGaps() {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
		}
	}
	var b strings.Builder
	for _, p := range logs {
		fmt.Fprintf(&b, "\n--- %s log (tail) ---\n%s", p.name, tail(p.text, 30))
	}
	t.Fatalf("moqt-%d: %s, for no known reason%s", draft, what, b.String())
}

func lineMatching(s string, re *regexp.Regexp) string {
	for _, line := range strings.Split(s, "\n") {
		if re.MatchString(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
