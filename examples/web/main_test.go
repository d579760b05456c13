// Browser interop tests: real third-party MoQ clients (@moq/lite, @moq/net) in
// headless Chromium, driven by run.mjs, against the built moq-relay binary
// run as separate processes with the flags a user types: one plain relay
// (single_test.go) and a root with two leaves (cluster_test.go). The Go side
// is the built examples/clock binary or an in-process moqt client; the relay
// is what is under test.
//
// They need node, Chromium and the built bundles (make web); without them they
// skip with a notice, unless CI=true, where they fail.
package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cleanupM{m})
}

// cleanupM prints the notice for a missing harness and removes the built
// binaries once every test ran, before goleak looks.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer func() {
		if bins.dir != "" {
			_ = os.RemoveAll(bins.dir)
		}
	}()
	if missing := harnessMissing(); len(missing) > 0 && os.Getenv("CI") != "true" {
		// go test shows this only with -v or on failure; the Makefile's test
		// target prints the same notice (harness.sh) in every run.
		fmt.Fprintln(os.Stderr, skipNotice(missing))
	}
	return c.m.Run()
}

// harnessMissing lists what the browser harness lacks here.
func harnessMissing() []string {
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
	for _, f := range []string{"dist/lite.js", "dist/net.js", "dist/watch.js", "dist/publish.js", "node_modules/playwright-core/package.json"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, fmt.Sprintf("examples/web/%s (run make web)", f))
		}
	}
	return missing
}

func skipNotice(missing []string) string {
	return "NOTICE: browser interop tests (examples/web) SKIPPED: missing " + strings.Join(missing, ", ") +
		". To run them: apt-get install chromium nodejs npm && make web (CI=true makes a missing harness fail)"
}

// requireHarness skips (fails under CI=true) when the browser harness cannot
// run here.
func requireHarness(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser interop tests skipped in -short mode")
	}
	missing := harnessMissing()
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser interop harness unavailable: missing %s (CI=true: these tests must run; apt-get install chromium nodejs npm && make web)",
			strings.Join(missing, ", "))
	}
	t.Skip(skipNotice(missing))
}

// bins are moq-relay, examples/clock, moq and examples/web/serve, built once
// per test binary (with -race when this binary has it, so their races fail
// the tests too).
// MOQ_RELAY_BIN names a moq-relay binary to test instead (a release, an
// older build).
var bins struct {
	once         sync.Once
	dir          string
	relay, clock string
	moq, serve   string
	err          error
}

func binaries(t *testing.T) (relay, clock string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "moq-web-bin-")
		if bins.err != nil {
			return
		}
		args := []string{"build", "-o", bins.dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/moq-cluster/moq-relay/cmd/moq-relay", "github.com/moq-cluster/moq-relay/examples/clock",
			"github.com/moq-cluster/moq-relay/cmd/moq", "github.com/moq-cluster/moq-relay/examples/web/serve")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			bins.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("built moq-relay, clock, moq and serve (race=%v) in %v", raceEnabled, time.Since(start).Round(time.Millisecond))
		bins.relay = filepath.Join(bins.dir, "moq-relay")
		bins.clock = filepath.Join(bins.dir, "clock")
		bins.moq = filepath.Join(bins.dir, "moq")
		bins.serve = filepath.Join(bins.dir, "serve")
		if own := os.Getenv("MOQ_RELAY_BIN"); own != "" {
			bins.relay = own
			t.Logf("testing moq-relay %s (MOQ_RELAY_BIN)", own)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.relay, bins.clock
}
