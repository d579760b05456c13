package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// tapWriter writes TAP version 14 (testanything.org): the version line,
// header comments, the plan, and one test point per case with its YAML
// diagnostics indented two spaces.
type tapWriter struct {
	w     io.Writer
	count int
}

func newTAP(w io.Writer) *tapWriter { return &tapWriter{w: w} }

func (t *tapWriter) header(comments []string, planned int) {
	fmt.Fprintln(t.w, "TAP version 14")
	for _, c := range comments {
		t.comment(c)
	}
	fmt.Fprintf(t.w, "1..%d\n", planned)
}

// comment writes one comment line per line of s.
func (t *tapWriter) comment(s string) {
	for _, line := range strings.Split(s, "\n") {
		fmt.Fprintln(t.w, "#", line)
	}
}

// point writes the next test point and its diagnostics block.
func (t *tapWriter) point(ok bool, name string, d diagnostics) {
	t.count++
	status := "ok"
	if !ok {
		status = "not ok"
	}
	// '#' would start a directive in the description.
	fmt.Fprintf(t.w, "%s %d - %s\n", status, t.count, strings.ReplaceAll(name, "#", "\\#"))
	fmt.Fprintln(t.w, "  ---")
	for _, f := range d.fields() {
		fmt.Fprintf(t.w, "  %s: %s\n", f.key, f.value)
	}
	fmt.Fprintln(t.w, "  ...")
}

// diagnostics are a test point's YAML fields, named as the interface names
// them: duration_ms, connection_id for a one-connection case or
// <role>_connection_id per role, and expected/received/message on failure.
type diagnostics struct {
	durationMS int64
	// connIDs maps a role ("" for a one-connection case) to its QUIC
	// connection ID, filled as connections are made, so a case that fails
	// midway still reports those it had.
	connIDs  map[string]string
	roles    []string // roles in the order they are reported
	expected string
	received string
	message  string
}

type yamlField struct{ key, value string }

func (d diagnostics) fields() []yamlField {
	out := []yamlField{{"duration_ms", strconv.FormatInt(d.durationMS, 10)}}
	for _, role := range d.roles {
		id, ok := d.connIDs[role]
		if !ok {
			continue
		}
		key := "connection_id"
		if role != "" {
			key = role + "_connection_id"
		}
		out = append(out, yamlField{key, id})
	}
	for _, f := range []yamlField{{"expected", d.expected}, {"received", d.received}, {"message", d.message}} {
		if f.value != "" {
			out = append(out, yamlField{f.key, yamlString(f.value)})
		}
	}
	return out
}

// yamlString writes s plain when it is a simple word (SUBSCRIBE_OK,
// timeout), else double-quoted: a YAML double-quoted scalar reads Go's
// escapes (\", \\, \n, \xNN, \uNNNN).
func yamlString(s string) string {
	for i, r := range s {
		word := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9'
		if !word {
			return strconv.Quote(s)
		}
	}
	if s == "true" || s == "false" || s == "null" || s == "yes" || s == "no" {
		return strconv.Quote(s)
	}
	return s
}
