package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestProcSmoke runs every process-level case at a tiny size against the
// built moq-relay and checks that the table has a measured row for each
// (no thresholds: timing is not asserted here), then compares the run with
// the baseline it saved and with a baseline binary in the same run.
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
	for _, c := range defaultCases() {
		var line string
		for l := range strings.SplitSeq(table, "\n") {
			if strings.HasPrefix(l, c.Name+" ") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no row for case %s", c.Name)
			continue
		}
		if strings.Contains(line, "failed") {
			t.Errorf("case %s failed: %s", c.Name, line)
		}
		if c.kind != "idle" && !strings.Contains(line, " %") {
			t.Errorf("case %s: no delivered figure: %s", c.Name, line)
		}
	}
	if !strings.Contains(table, "in-process relay vs raw quic-go") {
		t.Error("no in-process relay vs raw quic-go table")
	}
	if _, err := os.Stat(saved); err != nil {
		t.Fatalf("--save wrote nothing: %v", err)
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
	if !strings.Contains(out.String(), "baseline binary vs current, same run") {
		t.Error("--baseline-relay-bin printed no same-run comparison")
	}
}
