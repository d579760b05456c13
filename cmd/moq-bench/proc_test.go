package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain also serves as moq-bench when proc starts this binary as its
// forwarder process (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == forwarderCmd {
		cmd := newRootCmd(os.Stdout)
		cmd.SetArgs(os.Args[1:])
		if err := cmd.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "moq-bench:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestProcSmoke runs every process-level case at a tiny size against the
// built moq-relay and checks that the table has a measured row for each
// (no thresholds: timing is not asserted here), and a floor row (the raw
// quic-go forwarder process) for each fan-out and idle case, then compares
// the run with the baseline it saved and with a baseline binary in the same
// run.
func TestProcSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds moq-relay and runs it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "moq-relay")
	if out, err := exec.Command("go", "build", "-o", bin, "../moq-relay").CombinedOutput(); err != nil {
		t.Fatalf("go build moq-relay: %v\n%s", err, out)
	}
	saved := filepath.Join(dir, "baseline.json")
	args := []string{"proc", "--relay-bin", bin, "--subs", "2", "--duration", "300ms",
		"--idle-limit", "10s", "--quic-n", "1", "--quic-duration", "200ms"}
	var out bytes.Buffer
	cmd := newRootCmd(&out)
	cmd.SetArgs(append(args, "--save", saved))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("moq-bench %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	t.Logf("\n%s", out.String())
	table := out.String()
	// A case's row is the first line naming it (the ratio table follows).
	rowOf := func(name string) string {
		for l := range strings.SplitSeq(table, "\n") {
			if strings.HasPrefix(l, name+" ") {
				return l
			}
		}
		return ""
	}
	for _, c := range defaultCases() {
		names := []string{c.Name}
		if c.kind != "two-hop" {
			names = append(names, c.Name+floorSuffix)
		}
		for _, name := range names {
			line := rowOf(name)
			if line == "" {
				t.Errorf("no row for case %s", name)
				continue
			}
			if strings.Contains(line, "failed") {
				t.Errorf("case %s failed: %s", name, line)
			}
			if c.kind == "idle" && !strings.Contains(line, "KiB/session over 2 sessions") {
				t.Errorf("case %s: not 2 idle sessions: %s", name, line)
			}
			if c.kind != "idle" && !strings.Contains(line, "100.0 %") {
				t.Errorf("case %s: not every frame delivered: %s", name, line)
			}
		}
	}
	if rowOf("two-hop"+floorSuffix) != "" {
		t.Error("two-hop has a floor row")
	}
	for _, s := range []string{"raw quic-go forwarder process, same rounds", "relay vs raw quic-go forwarder process"} {
		if !strings.Contains(table, s) {
			t.Errorf("no %q table", s)
		}
	}
	if !strings.Contains(table, "in-process relay vs raw quic-go") {
		t.Error("no in-process relay vs raw quic-go table")
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatalf("--save wrote nothing: %v", err)
	}
	var run benchRun
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatalf("--save: %v", err)
	}
	for _, name := range []string{"fanout-200" + floorSuffix, "idle" + floorSuffix} {
		i := slices.IndexFunc(run.Cases, func(c *caseResult) bool { return c.Case == name })
		if i < 0 {
			t.Errorf("--save has no case %s", name)
		} else if _, ok := run.Cases[i].Medians["cpu_s_per_gb"]; !ok && name != "idle"+floorSuffix {
			t.Errorf("--save: %s has no cpu_s_per_gb", name)
		}
	}

	out.Reset()
	cmd = newRootCmd(&out)
	cmd.SetArgs([]string{"proc", "--relay-bin", bin, "--case", "idle", "--subs", "2", "--quic-n", "", "--compare", saved,
		"--baseline-relay-bin", bin})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("moq-bench proc --compare: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	if !strings.Contains(out.String(), "rss_kib_per_session") {
		t.Error("the comparison has no idle rss_kib_per_session line")
	}
	compared := false
	for l := range strings.SplitSeq(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "idle"+floorSuffix && f[1] == "rss_kib_per_session" {
			compared = true
		}
	}
	if !compared {
		t.Error("--compare did not compare the idle floor row")
	}
	if !strings.Contains(out.String(), "baseline binary vs current, same run") {
		t.Error("--baseline-relay-bin printed no same-run comparison")
	}
}
