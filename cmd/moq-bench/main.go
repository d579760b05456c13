// Command moq-bench measures 1→N fan-out through the relay on loopback and
// compares it with a minimal raw quic-go forwarder of the same shape,
// measured in the same run.
//
// For each N, one publisher sends groups of --frames frames of --frame-size
// bytes for --duration; N subscribers receive them. Everything (publisher,
// relay or forwarder, subscribers) runs in this one process, so the CPU
// figure (process user+sys time per GB delivered) covers the whole path in
// both cases. The machine may be shared and noisy: read the relay/quic
// ratios, which are taken moments apart, rather than the absolute figures
// (--rounds interleaves several measurements).
//
// Pacing: the publisher never has more than --window groups outstanding at
// the slowest subscriber (see runCase), so the numbers are throughput rather
// than loss; the delivered columns say what fraction of groups × subscribers
// arrived complete.
//
// What the comparison includes: by default the relay's subscribers are moqt
// client sessions, whose per-frame buffers and 8-group track caches cost
// CPU and memory at large N that the baseline's readers do not pay.
// --relay-subs thin uses minimal moq-lite readers instead (relay vs
// forwarder only); --quic-retain 8 makes the baseline's readers keep what
// they read as moqt clients do. A CPU profile (--cpuprofile) carries the
// label role=fwd|pub|sub on every goroutine: go tool pprof -tags splits it.
//
// moq-bench proc (proc.go) measures the built moq-relay in its own process
// instead: the cases of docs/performance.md, one table, relay CPU and RSS
// from /proc, latency from timestamps in the frames, and --save/--compare
// against a baseline; --floor (on by default) measures the raw quic-go
// forwarder the same way in a process of its own (the hidden quic-forwarder
// subcommand, procquic.go) in the same rounds.
//
// Usage:
//
//	go run ./cmd/moq-bench proc [--case fanout-200,...] [--rounds 3] [--relay-bin bin/moq-relay] [--floor=false] [--save|--compare file]
//	go run ./cmd/moq-bench [--n 1,10,100] [--duration 3s] [--frames 16]
//	    [--frame-size 16384] [--window 3] [--rounds 1] [--mode both|relay|quic]
//	    [--relay-subs moqt|thin] [--quic-retain 0] [--json] [--cpuprofile file]
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/cmd/internal/buildinfo"
	"github.com/moq-cluster/moq-relay/transport"
)

func main() {
	if err := newRootCmd(os.Stdout).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "moq-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	ns         []int
	sh         shape
	mode       string
	rounds     int
	retain     int
	relaySubs  string
	json       bool
	cpuprofile string
}

// newRootCmd is the moq-bench command; with no flags it runs the default
// cases (what `make bench` does).
func newRootCmd(out io.Writer) *cobra.Command {
	var o options
	var nList string
	cmd := &cobra.Command{
		Use:   "moq-bench",
		Short: "Measure 1→N fan-out through the relay beside a raw quic-go forwarder",
		Long: `moq-bench measures 1→N fan-out through the relay on loopback and compares
it with a minimal raw quic-go forwarder of the same shape, measured in the
same run. Read the relay/quic ratios rather than the absolute figures.`,
		Version:       buildinfo.String(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(nList); err != nil {
				return err
			}
			return run(o, out)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&nList, "n", "1,10,100", "comma-separated subscriber counts")
	fs.DurationVar(&o.sh.Duration, "duration", 3*time.Second, "publishing time per case")
	fs.IntVar(&o.sh.Frames, "frames", 16, "frames per group")
	fs.IntVar(&o.sh.FrameSize, "frame-size", 16<<10, "bytes per frame")
	fs.IntVar(&o.sh.Window, "window", 3, "groups the publisher may be ahead of the slowest subscriber")
	fs.DurationVar(&o.sh.Stall, "stall", 10*time.Second, "give up on a case when subscribers make no progress for this long")
	fs.IntVar(&o.rounds, "rounds", 1, "measure each case this many times, interleaving relay and quic, and sum the rounds")
	fs.IntVar(&o.retain, "quic-retain", 0, "baseline subscribers copy each frame into a fresh buffer and keep their last this many groups, as moqt clients do (their track cache holds 8); 0 = minimal reader")
	fs.StringVar(&o.relaySubs, "relay-subs", "moqt", "relay subscribers: moqt (moqt client sessions) or thin (minimal moq-lite readers, like the baseline's)")
	fs.StringVar(&o.mode, "mode", "both", "what to measure: both, relay or quic")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.AddCommand(newProcCmd(out), newForwarderCmd(out))
	return cmd
}

// check parses --n and validates the ranges.
func (o *options) check(nList string) error {
	o.ns = nil
	for _, f := range strings.Split(nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("--n: %q is not a subscriber count in 1..1000", f)
		}
		o.ns = append(o.ns, n)
	}
	switch {
	case o.sh.Frames < 1, o.sh.FrameSize < 1, o.sh.FrameSize > 1<<24:
		return fmt.Errorf("--frames must be ≥ 1 and --frame-size in 1..16 MiB")
	case o.relaySubs != "moqt" && o.relaySubs != "thin":
		return fmt.Errorf("--relay-subs must be moqt or thin")
	case o.retain < 0 || o.retain > 64:
		return fmt.Errorf("--quic-retain must be in 0..64")
	case o.rounds < 1 || o.rounds > 100:
		return fmt.Errorf("--rounds must be in 1..100")
	case o.sh.Window < 1:
		return fmt.Errorf("--window must be ≥ 1")
	case o.sh.Duration <= 0 || o.sh.Duration > 5*time.Minute:
		return fmt.Errorf("--duration must be in (0, 5m]")
	case o.sh.Stall <= 0 || o.sh.Stall > time.Minute:
		return fmt.Errorf("--stall must be in (0, 1m]")
	case o.mode != "both" && o.mode != "relay" && o.mode != "quic":
		return fmt.Errorf("--mode must be both, relay or quic")
	}
	return nil
}

// row is one N: the relay and the baseline measured back to back.
type row struct {
	N     int     `json:"n"`
	Relay *result `json:"relay,omitempty"`
	QUIC  *result `json:"quic,omitempty"`
}

func run(o options, out io.Writer) error {
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	header := fmt.Sprintf("moq-bench: 1→N fan-out on loopback, %s %s/%s, GOMAXPROCS=%d (NumCPU=%d)\n"+
		"group = %d frames × %d B = %s; window %d groups; %s per case × %d round(s); relay subscribers: %s; quic subscribers retain %d groups\n"+
		"MB = 1e6 B, GB = 1e9 B; CPU = process user+sys (publisher, forwarder and subscribers all in this process)\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(),
		o.sh.Frames, o.sh.FrameSize, sizeString(o.sh.groupBytes()), o.sh.Window, o.sh.Duration, o.rounds, o.relaySubs, o.retain)
	if !o.json {
		fmt.Fprint(out, header)
	}

	rows, failed := measureRows(o)

	var err error
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			GOMAXPROCS int    `json:"gomaxprocs"`
			Frames     int    `json:"frames_per_group"`
			FrameSize  int    `json:"frame_size"`
			Window     int    `json:"window"`
			Duration   string `json:"duration"`
			Rounds     int    `json:"rounds"`
			RelaySubs  string `json:"relay_subs"`
			QUICRetain int    `json:"quic_retain"`
			Rows       []row  `json:"rows"`
		}{runtime.GOMAXPROCS(0), o.sh.Frames, o.sh.FrameSize, o.sh.Window, o.sh.Duration.String(), o.rounds, o.relaySubs, o.retain, rows})
	} else {
		err = printTable(out, rows)
	}
	if err != nil {
		return err
	}
	if failed {
		return fmt.Errorf("some cases failed or stalled (see above)")
	}
	return nil
}

// measureRows measures every N of o, both systems interleaved per round; it
// reports whether any case failed or stalled.
func measureRows(o options) ([]row, bool) {
	cert, err := transport.GenerateCertificate([]string{"localhost", "127.0.0.1"}, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moq-bench: certificate:", err)
		return nil, true
	}
	var rows []row
	failed := false
	for _, n := range o.ns {
		r := row{N: n}
		for round := range o.rounds {
			// Alternate which system goes first so drift on a shared
			// machine falls on both alike.
			order := []string{"relay", "quic"}
			if round%2 == 1 {
				order[0], order[1] = order[1], order[0]
			}
			for _, name := range order {
				if o.mode != "both" && o.mode != name {
					continue
				}
				var res result
				if name == "relay" {
					res = runCase(name, newRelaySystem(cert, o.relaySubs == "thin"), n, o.sh)
					r.Relay = merge(r.Relay, res)
				} else {
					res = runCase(name, newQUICSystem(cert, o.retain), n, o.sh)
					r.QUIC = merge(r.QUIC, res)
				}
				failed = report(res) || failed
			}
		}
		rows = append(rows, r)
	}
	return rows, failed
}

// merge adds round r to the running total acc (nil before the first).
func merge(acc *result, r result) *result {
	if acc == nil {
		r.Rounds = 1
		r.derive()
		return &r
	}
	acc.Rounds++
	acc.Published += r.Published
	acc.Delivered += r.Delivered
	acc.Short += r.Short
	acc.Bytes += r.Bytes
	acc.Seconds += r.Seconds
	acc.CPU += r.CPU
	acc.MinorFaults += r.MinorFaults
	acc.GCs += r.GCs
	acc.HeapMB = max(acc.HeapMB, r.HeapMB)
	acc.Stalled = acc.Stalled || r.Stalled
	acc.Settled += r.Settled
	acc.Leaked = max(acc.Leaked, r.Leaked)
	if acc.Error == "" {
		acc.Error = r.Error
	}
	acc.derive()
	return acc
}

// report writes a case's problems to stderr and says whether it had any.
func report(r result) bool {
	bad := false
	if r.Error != "" {
		fmt.Fprintf(os.Stderr, "moq-bench: %s N=%d: %s\n", r.System, r.N, r.Error)
		bad = true
	}
	if r.Stalled {
		fmt.Fprintf(os.Stderr, "moq-bench: %s N=%d: subscribers stalled\n", r.System, r.N)
		bad = true
	}
	if r.Leaked > 0 {
		fmt.Fprintf(os.Stderr, "moq-bench: %s N=%d: %d goroutines still running after the case (MOQ_BENCH_DEBUG=1 dumps them)\n", r.System, r.N, r.Leaked)
	}
	return bad
}

func printTable(out io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\trelay MB/s\tquic MB/s\tratio\trelay CPU s/GB\tquic CPU s/GB\tratio\trelay delivered\tquic delivered\t")
	for _, r := range rows {
		var rm, qm, rc, qc, rd, qd float64 = nan, nan, nan, nan, nan, nan
		if r.Relay != nil {
			rm, rc, rd = r.Relay.MBps, r.Relay.CPUPerGB, r.Relay.Fraction
		}
		if r.QUIC != nil {
			qm, qc, qd = r.QUIC.MBps, r.QUIC.CPUPerGB, r.QUIC.Fraction
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.N,
			num(rm, 1), num(qm, 1), ratio(rm, qm),
			num(rc, 2), num(qc, 2), ratio(rc, qc),
			pct(rd), pct(qd))
	}
	return tw.Flush()
}

var nan = math.NaN()

func isNum(v float64) bool { return !math.IsNaN(v) && v > 0 }

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func ratio(a, b float64) string {
	if !isNum(a) || !isNum(b) {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
}

func sizeString(b int) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
