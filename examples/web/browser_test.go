package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// browser is one `node run.mjs --serve`: a headless Chromium whose pages
// (tabs) the tests open by request; each page runs one client.
type browser struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lineLog
	exited chan struct{}
	err    error // Wait's error, set before exited closes

	mu    sync.Mutex
	next  int
	pages map[string]*page

	// slots bounds the cases running pages at once, whatever -parallel
	// says: every page is a renderer process.
	slots chan struct{}
}

// maxCases is how many cases of one test run their pages at once.
const maxCases = 4

// slot waits for a free slot; the test's end frees it.
func (b *browser) slot(t *testing.T) {
	b.slots <- struct{}{}
	t.Cleanup(func() { <-b.slots })
}

// startBrowser starts the driver, waits until Chromium is up and closes it
// when the test ends (after its subtests), expecting a clean exit.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{stderr: &lineLog{}, exited: make(chan struct{}), pages: map[string]*page{}, slots: make(chan struct{}, maxCases)}
	b.cmd = exec.Command("node", "run.mjs", "--serve")
	b.cmd.Stdout = &lineWriter{line: b.dispatch}
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = 10 * time.Second
	var err error
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	ready := b.watch("") // the driver's own lines have no id
	start := time.Now()
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start node run.mjs --serve: %v", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		b.mu.Lock()
		for _, p := range b.pages {
			p.add(pageLine{Event: "result", Final: true, Error: fmt.Sprintf("driver exited (%v) before the page's result", b.err)})
		}
		b.mu.Unlock()
		close(b.exited)
	}()
	t.Cleanup(func() { b.close(t) })
	select {
	case <-ready.done:
		if l := ready.final(); !l.OK {
			t.Fatalf("browser did not start: %s%s", l.Error, b.logs(""))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("browser not ready within 60 s%s", b.logs(""))
	}
	t.Logf("headless Chromium ready in %v", time.Since(start).Round(time.Millisecond))
	return b
}

// close ends the driver by closing its stdin; it must exit 0 (browser
// closed cleanly) within 20 s.
func (b *browser) close(t *testing.T) {
	_ = b.stdin.Close()
	select {
	case <-b.exited:
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		<-b.exited
		t.Errorf("run.mjs --serve did not exit within 20 s of its stdin closing%s", b.logs(""))
		return
	}
	if b.err != nil {
		t.Errorf("run.mjs --serve: %v%s", b.err, b.logs(""))
	}
}

// watch registers a page (or, for id "", the driver's ready line).
func (b *browser) watch(id string) *page {
	p := &page{id: id, done: make(chan struct{}), start: time.Now(), browser: b}
	b.mu.Lock()
	b.pages[id] = p
	b.mu.Unlock()
	return p
}

// dispatch hands one stdout line to its page.
func (b *browser) dispatch(raw []byte) {
	var l pageLine
	if err := json.Unmarshal(raw, &l); err != nil {
		l = pageLine{Event: "result", Final: true, Error: fmt.Sprintf("run.mjs printed a non-JSON line %q", raw)}
	}
	if l.Event == "ready" {
		l.Final = true
	}
	b.mu.Lock()
	p := b.pages[l.ID]
	if l.Final {
		delete(b.pages, l.ID)
	}
	b.mu.Unlock()
	if p != nil {
		p.add(l)
	}
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// open asks for a page running req; when the test ends the page is stopped
// and its result awaited.
func (b *browser) open(t *testing.T, req pageRequest) *page {
	t.Helper()
	b.mu.Lock()
	b.next++
	id := fmt.Sprintf("%s#%d", unsafeID.ReplaceAllString(t.Name(), "_"), b.next)
	b.mu.Unlock()
	req.ID = id
	p := b.watch(id)
	p.req = req
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("request page %s: %v", id, err)
	}
	t.Cleanup(func() {
		p.stop()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("page %s gave no result within 30 s of being stopped", id)
		}
	})
	return p
}

// logs returns the driver's stderr lines for page id ("" for all), the last
// 200 of them, as a suffix for a failure message.
func (b *browser) logs(id string) string {
	prefix := "[" + id + "] "
	return "\nrun.mjs stderr:\n" + b.stderr.filter(func(l logLine) bool {
		return id == "" || strings.HasPrefix(l.raw, prefix)
	}, 200)
}

// pageRequest is one request to run.mjs --serve; see README.md for the fields.
type pageRequest struct {
	ID        string `json:"id"`
	Pkg       string `json:"pkg"`
	Mode      string `json:"mode"`
	Relay     string `json:"relay"`
	Broadcast string `json:"broadcast"`
	Track     string `json:"track"`
	Count     int    `json:"count,omitempty"`
	Frames    int    `json:"frames,omitempty"`
	Interval  int    `json:"interval,omitempty"`
	Hold      int    `json:"hold,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	ALPN      string `json:"alpn,omitempty"`
	Timeout   int    `json:"timeout,omitempty"`
}

// pageLine is one JSON line run.mjs prints.
type pageLine struct {
	ID        string   `json:"id"`
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
	Times     []int64  `json:"times"` // ms since the epoch when each frame arrived (sub)
	Sent      []int64  `json:"sent"`  // ms since the epoch when each frame was written (pub)
	Published int      `json:"published"`
}

// page is one page of the browser, running one client.
type page struct {
	id      string
	req     pageRequest
	browser *browser
	start   time.Time

	mu      sync.Mutex
	lines   []pageLine
	changed chan struct{} // closed and replaced on every line
	done    chan struct{} // closed on the final line
}

func (p *page) add(l pageLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) > 0 && p.lines[len(p.lines)-1].Final {
		return
	}
	p.lines = append(p.lines, l)
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
	if l.Final {
		close(p.done)
	}
}

// stop asks the page to end: in pub mode, once writing, that is a normal end.
func (p *page) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	line, _ := json.Marshal(map[string]string{"stop": p.id})
	_, _ = p.browser.stdin.Write(append(line, '\n'))
}

// final returns the final line; call it after done closed.
func (p *page) final() pageLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[len(p.lines)-1]
}

// event waits for the page's first line with event name (or its end).
func (p *page) event(ctx context.Context, name string) (pageLine, error) {
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if l.Event == name {
				p.mu.Unlock()
				return l, nil
			}
		}
		if n := len(p.lines); n > 0 && p.lines[n-1].Final {
			final := p.lines[n-1]
			p.mu.Unlock()
			return pageLine{}, fmt.Errorf("page ended (ok=%v, phase %q: %s) before %q", final.OK, final.Phase, final.Error, name)
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return pageLine{}, fmt.Errorf("waiting for page event %q: %w", name, context.Cause(ctx))
		}
	}
}

// wait waits for the page's result, logs how long the page ran, and fails
// the test unless the page succeeded.
func (p *page) wait(t *testing.T) pageLine {
	t.Helper()
	final, err := p.result()
	if err != nil {
		t.Fatalf("%v%s", err, p.logs())
	}
	if !final.OK {
		t.Fatalf("page %s %s failed in phase %q: %s%s", p.req.Pkg, p.req.Mode, final.Phase, final.Error, p.logs())
	}
	return final
}

// result waits for the final line (bounded by the driver's own deadline
// for the page plus a margin).
func (p *page) result() (pageLine, error) {
	limit := time.Duration(p.req.Timeout+p.req.Hold)*time.Millisecond + 30*time.Second
	select {
	case <-p.done:
		return p.final(), nil
	case <-time.After(limit):
		return pageLine{}, fmt.Errorf("page %s gave no result within %v", p.id, limit)
	}
}

func (p *page) logs() string { return p.browser.logs(p.id) }

// checkProtocol asserts the page connected once, with want.
func (p *page) checkProtocol(t *testing.T, want string) {
	t.Helper()
	p.mu.Lock()
	var connected []string
	for _, l := range p.lines {
		if l.Event == "connected" {
			connected = append(connected, l.Protocol)
		}
	}
	p.mu.Unlock()
	if len(connected) != 1 || connected[0] != want {
		t.Errorf("page %s %s: connected with %q, want exactly once with %q", p.req.Pkg, p.req.Mode, connected, want)
	}
	if final := p.final(); final.Protocol != want {
		t.Errorf("page %s %s: final result protocol %q, want %q", p.req.Pkg, p.req.Mode, final.Protocol, want)
	}
}

// lineWriter is an io.Writer that calls line with every complete line.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	line    func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := slices.Index(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
}

// percentile returns the q-quantile (0..1) of ds, nearest rank.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// latencies formats p50 and max of ds.
func latencies(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %v, max %v (%d frames)", percentile(ds, 0.5).Round(time.Millisecond), percentile(ds, 1).Round(time.Millisecond), len(ds))
}

// msTime converts a page's Date.now() into a time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

// frameIndex parses "<prefix>-<i>", what a publishing page writes.
func frameIndex(frame, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(frame, prefix+"-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil
}
