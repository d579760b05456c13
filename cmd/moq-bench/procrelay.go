package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// relayProc is one built moq-relay running in its own process on a loopback
// port, its TLS certificate pinned by the hash it serves.
type relayProc struct {
	name string
	addr string // 127.0.0.1:port, UDP for QUIC and TCP for HTTP
	// metrics is the --metrics-bind address when one was given (profiling).
	metrics string
	fp      [32]byte
	cmd     *exec.Cmd
	// stdin is the forwarder's: it exits when this closes (os/exec closes
	// it after Wait). Nil for a relay.
	stdin io.WriteCloser

	exited chan struct{} // closed once the process has been waited for
	err    error         // its exit status, set before exited closes

	mu   sync.Mutex
	tail []byte // the last stderrKeep bytes of its log, for error messages
}

const stderrKeep = 4 << 10

// benchRelayConfig lifts the session caps, which would otherwise refuse
// the bench's clients: they all come from 127.0.0.1, beyond the default
// limits.max_sessions_per_ip (100).
const benchRelayConfig = `[limits]
max_sessions = 0
max_sessions_per_ip = 0
`

// freePort finds a port free on loopback for both UDP and TCP. Another
// process may still take it before the relay binds; startRelayProc retries.
func freePort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, fmt.Errorf("free port %d: %w", port, err)
	}
	_ = l.Close()
	return port, nil
}

// startRelayProc starts bin on a free loopback port with the configuration
// file conf, a generated certificate and warn-level logs, plus args (cluster flags, with PORT
// replaced by the chosen port), and waits until it serves its certificate
// hash.
func startRelayProc(bin, conf, name string, args ...string) (*relayProc, error) {
	args = append([]string{"--config", conf}, args...)
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := tryStartRelay(bin, name, port, args)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStartRelay(bin, name string, port int, args []string) (*relayProc, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	full := []string{"--bind", addr, "--tls-generate", "127.0.0.1", "--log-level", "warn"}
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "PORT", strconv.Itoa(port)))
	}
	cmd := exec.Command(bin, full...)
	cmd.Env = benchEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &relayProc{name: name, addr: addr, cmd: cmd, exited: make(chan struct{})}
	if i := slices.Index(full, "--metrics-bind"); i >= 0 && i+1 < len(full) {
		p.metrics = full[i+1]
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() {
		p.keepTail(stderr)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitCertificate(10 * time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// benchEnv is the environment of the processes under measurement: this
// one's without MOQ_*, which must not change the relay's settings.
func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOQ_") {
			env = append(env, kv)
		}
	}
	return env
}

// keepTail reads the relay's log until it closes, keeping its end.
func (p *relayProc) keepTail(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.tail = append(p.tail, sc.Bytes()...)
		p.tail = append(p.tail, '\n')
		if len(p.tail) > stderrKeep {
			p.tail = append([]byte(nil), p.tail[len(p.tail)-stderrKeep:]...)
		}
		p.mu.Unlock()
	}
}

func (p *relayProc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(bytes.TrimSpace(p.tail))
}

var benchHTTP = &http.Client{Timeout: 2 * time.Second}

// waitCertificate polls /certificate.sha256 until the relay answers.
func (p *relayProc) waitCertificate(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		fp, err := p.fetchFingerprint()
		if err == nil {
			p.fp = fp
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before serving (%v): %s", p.name, p.err, p.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s at %s: no certificate hash after %s: %w", p.name, p.addr, limit, err)
		}
	}
}

func (p *relayProc) fetchFingerprint() ([32]byte, error) {
	var fp [32]byte
	resp, err := benchHTTP.Get("http://" + p.addr + "/certificate.sha256")
	if err != nil {
		return fp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_ = resp.Body.Close()
	if err != nil {
		return fp, err
	}
	if resp.StatusCode != http.StatusOK {
		return fp, fmt.Errorf("status %s", resp.Status)
	}
	if k, err := hex.Decode(fp[:], bytes.TrimSpace(body)); err != nil || k != 32 {
		return fp, fmt.Errorf("certificate hash %q is not 32 hex bytes", body)
	}
	return fp, nil
}

// waitReady polls /ready until it answers 200 (a leaf that joined its root).
func (p *relayProc) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := benchHTTP.Get("http://" + p.addr + "/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w: %s", p.name, limit, err, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the relay at once (SIGINT skips the drain), killing it if it
// lingers.
func (p *relayProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// procSample is a process's CPU time (user+system) and resident memory.
type procSample struct {
	CPU time.Duration
	RSS int64 // bytes
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go runs on.
const clockTick = 100

func (p *relayProc) sample() (procSample, error) {
	return sampleProc(p.cmd.Process.Pid)
}

// sampleProc reads utime+stime from /proc/PID/stat and VmRSS from
// /proc/PID/status.
func sampleProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("relay CPU: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from its closing parenthesis: utime and stime are fields 14
	// and 15 of the line, 12 and 13 after ") ".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("relay CPU: malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, errors.New("relay CPU: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("relay CPU: %w", err)
	}
	s.CPU = time.Duration(ut+st) * time.Second / clockTick

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("relay RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return s, fmt.Errorf("relay RSS: %w", err)
				}
				s.RSS = kb << 10
				return s, nil
			}
		}
	}
	return s, errors.New("relay RSS: no VmRSS in /proc status")
}

// machine describes the CPU the bench runs on, from /proc/cpuinfo.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return model
}
