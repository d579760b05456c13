package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
)

// The names the test cases use (TEST-CASES.md).
var (
	testNamespace    = []string{"moq-test", "interop"}
	missingNamespace = []string{"nonexistent", "namespace"}
)

const testTrack = "test-track"

// connectTimeout bounds connecting and the SETUP exchange where a case's
// timeout starts only after it (announce-only, publish-namespace-done).
const connectTimeout = 2 * time.Second

// testCase is one interop test case.
type testCase struct {
	name string
	// timeout bounds the whole case, connecting included.
	timeout time.Duration
	// roles are the connections the case reports: "" for a one-connection
	// case (connection_id), else publisher/subscriber (<role>_connection_id).
	roles []string
	run   func(ctx context.Context, c *caseRun) error
}

// cases in the interface's order (--list prints them so).
var cases = []testCase{
	{"setup-only", 2 * time.Second, []string{""}, setupOnly},
	{"announce-only", connectTimeout + 2*time.Second, []string{""}, announceOnly},
	{"publish-namespace-done", connectTimeout + 2*time.Second, []string{""}, publishNamespaceDone},
	{"subscribe-error", 2 * time.Second, []string{""}, subscribeError},
	{"announce-subscribe", 3 * time.Second, []string{"publisher", "subscriber"}, announceSubscribe},
	{"subscribe-before-announce", 3500 * time.Millisecond, []string{"publisher", "subscriber"}, subscribeBeforeAnnounce},
}

func caseNamed(name string) (testCase, bool) {
	for _, c := range cases {
		if c.name == name {
			return c, true
		}
	}
	return testCase{}, false
}

// failure is a case's failed expectation, reported as the YAML fields
// expected, received and message.
type failure struct {
	expected, received, message string
}

func (f *failure) Error() string {
	switch {
	case f.expected != "" && f.message != "":
		return fmt.Sprintf("expected %s, received %s: %s", f.expected, f.received, f.message)
	case f.expected != "":
		return fmt.Sprintf("expected %s, received %s", f.expected, f.received)
	}
	return f.message
}

// caseRun is one case on one draft: it dials the connections, remembers
// their IDs for the diagnostics, and closes them when the case ends.
type caseRun struct {
	relay    string
	insecure bool
	version  message.Version
	trace    *tracer

	mu       sync.Mutex
	connIDs  map[string]string
	sessions []*session
}

// connect dials the relay as role and completes SETUP within ctx.
func (c *caseRun) connect(ctx context.Context, role string) (*session, error) {
	s, err := dial(ctx, dialConfig{
		relay:    c.relay,
		version:  c.version,
		insecure: c.insecure,
		role:     role,
		trace:    c.trace,
		onConnectionID: func(id string) {
			c.mu.Lock()
			c.connIDs[role] = id
			c.mu.Unlock()
		},
	})
	if err != nil {
		what := "connection"
		if role != "" {
			what = role + " connection"
		}
		return nil, &failure{expected: "SETUP", received: received(ctx, err), message: fmt.Sprintf("%s failed: %v", what, err)}
	}
	c.mu.Lock()
	c.sessions = append(c.sessions, s)
	c.mu.Unlock()
	return s, nil
}

// closeAll ends every session the case opened that it did not close itself.
func (c *caseRun) closeAll() {
	c.mu.Lock()
	sessions := c.sessions
	c.sessions = nil
	c.mu.Unlock()
	for _, s := range sessions {
		s.abort()
	}
}

// runner runs cases and reports them as TAP.
type runner struct {
	relay    string
	insecure bool
	tap      *tapWriter
	trace    *tracer
}

// runAll runs every case on every draft and reports whether all passed.
func (r *runner) runAll(ctx context.Context, selected []testCase, drafts []message.Version) bool {
	header := []string{"moq-test-client " + clientVersion(), "Relay: " + redactQuery(r.relay)}
	if len(drafts) == 1 {
		header = append(header, "Draft: "+drafts[0].String())
	} else {
		header = append(header, fmt.Sprintf("Drafts: %s", draftList(drafts)))
	}
	r.tap.header(header, len(selected)*len(drafts))
	passed := true
	for _, v := range drafts {
		for _, tc := range selected {
			name := tc.name
			if len(drafts) > 1 {
				name = fmt.Sprintf("%s (%s)", tc.name, v)
			}
			ok, d := r.runCase(ctx, tc, v)
			r.tap.point(ok, name, d)
			passed = passed && ok
		}
	}
	return passed
}

// redactQuery hides the relay URL's query values (a ?jwt= token) from the
// report, which CI logs keep.
func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q := u.Query()
	for k := range q {
		q[k] = []string{"REDACTED"}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func draftList(drafts []message.Version) string {
	s := ""
	for i, v := range drafts {
		if i > 0 {
			s += ", "
		}
		s += v.String()
	}
	return s
}

// runCase runs one case under its timeout.
func (r *runner) runCase(ctx context.Context, tc testCase, v message.Version) (bool, diagnostics) {
	c := &caseRun{relay: r.relay, insecure: r.insecure, version: v, trace: r.trace, connIDs: map[string]string{}}
	r.trace.logf("", "=== %s (%s)", tc.name, v)
	start := time.Now()
	caseCtx, cancel := context.WithTimeout(ctx, tc.timeout)
	err := tc.run(caseCtx, c)
	timedOut := caseCtx.Err() != nil && ctx.Err() == nil
	cancel()
	c.closeAll()
	d := diagnostics{durationMS: time.Since(start).Milliseconds(), roles: tc.roles}
	c.mu.Lock()
	d.connIDs = c.connIDs
	c.mu.Unlock()
	if err == nil {
		return true, d
	}
	var f *failure
	if errors.As(err, &f) {
		d.expected, d.received, d.message = f.expected, f.received, f.message
	} else {
		d.message = err.Error()
	}
	if timedOut && d.received == "" {
		d.received = "timeout"
	}
	if timedOut && d.message == "" {
		d.message = fmt.Sprintf("no response within %d ms", tc.timeout.Milliseconds())
	}
	r.trace.logf("", "FAIL %s (%s): %v", tc.name, v, err)
	return false, d
}
