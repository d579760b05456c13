package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// tracer writes -v output to stderr: every control message sent and
// received, per role, so a failing run shows the wire exchange. Without -v
// it writes nothing; stdout is TAP only.
type tracer struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	start time.Time
}

func newTrace(w io.Writer, on bool) *tracer { return &tracer{w: w, on: on, start: time.Now()} }

func (t *tracer) logf(role, format string, args ...any) {
	if t == nil || !t.on {
		return
	}
	if role == "" {
		role = "client"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%8.3fs %-10s %s\n", time.Since(t.start).Seconds(), role, fmt.Sprintf(format, args...))
}
