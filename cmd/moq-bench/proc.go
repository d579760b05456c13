package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// The process-level cases: the built moq-relay in its own process (three of
// them for the two-hop case), the clients in this one. Relay CPU
// (utime+stime from /proc/PID/stat) and RSS (VmRSS from /proc/PID/status)
// are sampled before and after each measurement, so client cost never
// counts as relay cost.

// procCase is one row of the table.
type procCase struct {
	Name        string
	Subs        int // subscribers; for idle, sessions
	FrameSize   int
	FPS         int
	GroupFrames int
	kind        string // fanout, idle or two-hop
}

func (c procCase) shape() string {
	switch c.kind {
	case "idle":
		return fmt.Sprintf("%d sessions", c.Subs)
	}
	mbit := float64(c.FrameSize*8*c.FPS*c.Subs) / 1e6
	return fmt.Sprintf("1:%d %s×%dfps g%d %.0fMb/s", c.Subs, sizeString(c.FrameSize), c.FPS, c.GroupFrames, mbit)
}

// defaultCases are the cases of issue 13, in table order.
func defaultCases() []procCase {
	return []procCase{
		{Name: "fanout-200", Subs: 200, FrameSize: 4 << 10, FPS: 60, GroupFrames: 1, kind: "fanout"},
		// 16 kB × 50 fps × 100 = 640 Mbit/s delivered.
		{Name: "fanout-100", Subs: 100, FrameSize: 16000, FPS: 50, GroupFrames: 1, kind: "fanout"},
		{Name: "fanout-1000", Subs: 1000, FrameSize: 1000, FPS: 10, GroupFrames: 1, kind: "fanout"},
		{Name: "idle", Subs: 1000, kind: "idle"},
		{Name: "two-hop", Subs: 100, FrameSize: 4 << 10, FPS: 60, GroupFrames: 1, kind: "two-hop"},
	}
}

type procOptions struct {
	cases       string
	duration    time.Duration
	stall       time.Duration
	rounds      int
	relayBin    string
	baseBin     string // --baseline-relay-bin: measured alternately with relayBin
	floor       bool   // --floor: the raw quic-go forwarder process in the same rounds
	subs        int
	frameSize   int
	fps         int
	groupFrames int
	idleLimit   time.Duration
	quicN       string
	quicDur     time.Duration
	save        string
	compare     string
	threshold   float64
	relayConf   string // written by runProc: benchRelayConfig
	profile     string // --profile: directory for the current relay's pprof profiles
	profConf    string // written by runProc when profiling: benchRelayConfig + pprof
}

func newProcCmd(out io.Writer) *cobra.Command {
	var o procOptions
	cmd := &cobra.Command{
		Use:   "proc",
		Short: "Measure the built moq-relay in its own process: fan-out, idle sessions, two hops",
		Long: `proc runs the built moq-relay binary in its own process (three for the
two-hop case) and the clients (one publisher, N thin moq-lite-04 subscribers
over raw QUIC) in this one. Relay CPU and RSS come from /proc/PID, sampled
before and after each measurement; latency from the send time each frame
carries. Each case is one row; figures are medians of --rounds rounds.

--floor (on by default) measures the fan-out and idle cases a second time,
per case and round right after the relay, against a raw quic-go forwarder
(this binary's hidden quic-forwarder subcommand) in its own process,
measured the same way: the floor any quic-go relay can reach here. Its
rows are saved as CASE/quic. The in-process relay vs raw quic-go
comparison (--quic-n) runs in the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProc(o, out) },
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.cases, "case", "fanout-200,fanout-100,fanout-1000,idle,two-hop", "comma-separated cases")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "publishing time per fan-out measurement")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds; each figure is the median over them")
	fs.StringVar(&o.relayBin, "relay-bin", "", "moq-relay binary (default: go build ./cmd/moq-relay into a temporary directory)")
	fs.StringVar(&o.baseBin, "baseline-relay-bin", "", "a second moq-relay binary (e.g. built from the commit before a change) measured in the same run: every case and round runs on it and on --relay-bin alternately, and the table of both medians and their ratio follows")
	fs.BoolVar(&o.floor, "floor", true, "also measure the fan-out and idle cases against a raw quic-go forwarder in its own process, in the same rounds (after the relay per case and round), and print its table and relay/floor ratios")
	fs.IntVar(&o.subs, "subs", 0, "subscribers (idle: sessions) for every selected case; 0 = each case's own")
	fs.IntVar(&o.frameSize, "frame-size", 0, "bytes per frame, ≥ 8 (the first 8 carry the send time); 0 = each case's own")
	fs.IntVar(&o.fps, "fps", 0, "frames per second; 0 = each case's own")
	fs.IntVar(&o.groupFrames, "group-frames", 0, "frames per group; 0 = each case's own (1)")
	fs.DurationVar(&o.idleLimit, "idle-limit", 60*time.Second, "time bound on opening idle sessions; RSS per session uses those opened")
	fs.DurationVar(&o.stall, "stall", 10*time.Second, "give up on a measurement when subscribers make no progress for this long")
	fs.StringVar(&o.quicN, "quic-n", "100", "subscriber counts for the in-process relay vs raw quic-go comparison (\"\" skips it)")
	fs.DurationVar(&o.quicDur, "quic-duration", 3*time.Second, "publishing time per case of that comparison")
	fs.StringVar(&o.profile, "profile", "", "write the current relay's profiles (CPU over each measurement, allocations and heap after it) to this directory as CASE-cpu.pb.gz, CASE-allocs.pb.gz, CASE-heap.pb.gz (last round wins); the relay serves them with [metrics] pprof = true")
	fs.StringVar(&o.save, "save", "", "write this run's medians as JSON to this file (a baseline)")
	fs.StringVar(&o.compare, "compare", "", "compare this run's medians with a baseline saved by --save")
	fs.Float64Var(&o.threshold, "threshold", 0.10, "--compare flags a metric that got worse by more than this fraction")
	return cmd
}

// selectCases applies --case and the overrides.
func (o procOptions) selectCases() ([]procCase, error) {
	all := defaultCases()
	var out []procCase
	for name := range strings.SplitSeq(o.cases, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(c procCase) bool { return c.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("--case: unknown case %q", name)
		}
		c := all[i]
		if o.subs > 0 {
			c.Subs = o.subs
		}
		if o.frameSize > 0 {
			c.FrameSize = o.frameSize
		}
		if o.fps > 0 {
			c.FPS = o.fps
		}
		if o.groupFrames > 0 {
			c.GroupFrames = o.groupFrames
		}
		out = append(out, c)
	}
	switch {
	case o.rounds < 1 || o.rounds > 100:
		return nil, fmt.Errorf("--rounds must be in 1..100")
	case o.duration <= 0 || o.duration > 5*time.Minute:
		return nil, fmt.Errorf("--duration must be in (0, 5m]")
	case o.subs < 0 || o.subs > 10000:
		return nil, fmt.Errorf("--subs must be in 0..10000")
	case o.frameSize != 0 && (o.frameSize < 8 || o.frameSize > 1<<20):
		return nil, fmt.Errorf("--frame-size must be in 8..1 MiB")
	case o.fps < 0 || o.fps > 10000, o.groupFrames < 0:
		return nil, fmt.Errorf("--fps must be in 0..10000 and --group-frames ≥ 0")
	case o.stall <= 0 || o.stall > time.Minute, o.idleLimit <= 0 || o.idleLimit > 10*time.Minute:
		return nil, fmt.Errorf("--stall must be in (0, 1m] and --idle-limit in (0, 10m]")
	}
	return out, nil
}

// caseResult is one case's figures: per metric, one value per round, and
// the median.
type caseResult struct {
	Case    string               `json:"case"`
	Shape   string               `json:"shape"`
	Rounds  map[string][]float64 `json:"rounds"`
	Medians map[string]float64   `json:"medians"`
	Errors  []string             `json:"errors,omitempty"`
}

func (r *caseResult) add(m map[string]float64) {
	if r.Rounds == nil {
		r.Rounds = map[string][]float64{}
	}
	for k, v := range m {
		r.Rounds[k] = append(r.Rounds[k], v)
	}
}

func (r *caseResult) finish() {
	r.Medians = map[string]float64{}
	for k, vs := range r.Rounds {
		r.Medians[k] = median(vs)
	}
}

// median of the values that are numbers; NaN when none.
func median(vs []float64) float64 {
	var s []float64
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return nan
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchRun is what --save writes and --compare reads.
type benchRun struct {
	Machine  string        `json:"machine"`
	Cores    int           `json:"cores"`
	Go       string        `json:"go"`
	When     string        `json:"when"`
	Duration string        `json:"duration"`
	Rounds   int           `json:"rounds"`
	Cases    []*caseResult `json:"cases"`
	// Baseline holds the --baseline-relay-bin binary's cases, measured in
	// the same rounds as Cases.
	BaselineBin string        `json:"baseline_bin,omitempty"`
	Baseline    []*caseResult `json:"baseline,omitempty"`
}

func runProc(o procOptions, out io.Writer) error {
	cases, err := o.selectCases()
	if err != nil {
		return err
	}
	var baseline *benchRun
	if o.compare != "" {
		if baseline, err = loadBaseline(o.compare); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "moq-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.relayConf = filepath.Join(dir, "relay.toml")
	if err := os.WriteFile(o.relayConf, []byte(benchRelayConfig), 0o600); err != nil {
		return err
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
		o.profConf = filepath.Join(dir, "relay-pprof.toml")
		if err := os.WriteFile(o.profConf, []byte(benchRelayConfig+"[metrics]\npprof = true\n"), 0o600); err != nil {
			return err
		}
	}
	bin := o.relayBin
	if bin == "" {
		bin = filepath.Join(dir, "moq-relay")
		if b, err := exec.Command("go", "build", "-o", bin, "github.com/moq-cluster/moq-relay/cmd/moq-relay").CombinedOutput(); err != nil {
			return fmt.Errorf("go build moq-relay: %w\n%s", err, b)
		}
	}
	run := &benchRun{Machine: machine(), Cores: runtime.NumCPU(), Go: runtime.Version(),
		When: time.Now().UTC().Format(time.RFC3339), Duration: o.duration.String(), Rounds: o.rounds}
	fmt.Fprintf(out, "moq-bench proc: %s, %d cores, %s %s/%s\n", run.Machine, run.Cores, run.Go, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(out, "relay: %s in its own process(es); clients in this one (raw QUIC, moq-lite-04); %s per measurement, median of %d round(s)\n", bin, o.duration, o.rounds)
	if o.baseBin != "" {
		if _, err := os.Stat(o.baseBin); err != nil {
			return fmt.Errorf("--baseline-relay-bin: %w", err)
		}
		run.BaselineBin = o.baseBin
		fmt.Fprintf(out, "baseline: %s, measured alternately with it (per case and round: baseline, then current)\n", o.baseBin)
	}
	measured := "relay"
	if o.floor {
		fmt.Fprintf(out, "floor: the raw quic-go forwarder (%s, ALPN %q, no MOQ) in its own process, measured the same way right after the relay per case and round\n", forwarderCmd, benchALPN)
		measured = "relay's (forwarder's)"
	}
	fmt.Fprintf(out, "MB = 1e6 B, GB = 1e9 B delivered to subscribers; CPU and RSS are the %s process's only\n\n", measured)

	results := make([]*caseResult, len(cases))
	var baseResults []*caseResult
	// floorResults[i] is nil for a case without a floor (two-hop).
	floorResults := make([]*caseResult, len(cases))
	for i, c := range cases {
		results[i] = &caseResult{Case: c.Name, Shape: c.shape()}
		if o.baseBin != "" {
			baseResults = append(baseResults, &caseResult{Case: c.Name, Shape: c.shape()})
		}
		if o.floor && (c.kind == "fanout" || c.kind == "idle") {
			floorResults[i] = &caseResult{Case: c.Name + floorSuffix, Shape: c.shape()}
		}
	}
	failed := false
	measure := func(label string, r *caseResult, c procCase, round int, run func() (map[string]float64, error)) {
		m, err := run()
		if err != nil {
			failed = true
			msg := fmt.Sprintf("round %d: %v", round+1, err)
			r.Errors = append(r.Errors, msg)
			fmt.Fprintf(os.Stderr, "moq-bench: %s%s %s\n", label, c.Name, msg)
		}
		r.add(m)
	}
	for round := range o.rounds {
		for i, c := range cases {
			// Baseline and current moments apart, so the machine's drift
			// falls on both.
			if o.baseBin != "" {
				bo := o
				bo.profile = "" // the baseline may predate [metrics] pprof
				measure("baseline ", baseResults[i], c, round, func() (map[string]float64, error) { return runProcCase(o.baseBin, c, bo) })
			}
			measure("", results[i], c, round, func() (map[string]float64, error) { return runProcCase(bin, c, o) })
			if floorResults[i] != nil {
				measure("floor ", floorResults[i], c, round, func() (map[string]float64, error) { return runFloorCase(c, o) })
			}
		}
	}
	floors := slices.DeleteFunc(slices.Clone(floorResults), func(r *caseResult) bool { return r == nil })
	for _, r := range floors {
		r.finish()
	}
	for _, r := range results {
		r.finish()
	}
	for _, r := range baseResults {
		r.finish()
	}
	if err := printProcTable(out, results, "relay"); err != nil {
		return err
	}
	if len(floors) > 0 {
		fmt.Fprintf(out, "\nraw quic-go forwarder process, same rounds:\n")
		if err := printProcTable(out, floors, "fwd"); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nrelay vs raw quic-go forwarder process (the floor), same rounds (medians; ratio = relay / floor):\n")
		if err := printFloorRatios(out, results, floorResults); err != nil {
			return err
		}
	}
	if baseResults != nil {
		run.Baseline = baseResults
		fmt.Fprintf(out, "\nbaseline binary %s, same rounds:\n", o.baseBin)
		if err := printProcTable(out, baseResults, "relay"); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nbaseline binary vs current, same run (medians; ratio = current / baseline):\n")
		if err := printComparison(out, &benchRun{Cases: baseResults}, &benchRun{Cases: results}, o.threshold); err != nil {
			return err
		}
	}

	results = append(results, floors...)
	if o.quicN != "" {
		in := options{rounds: o.rounds, mode: "both", relaySubs: "moqt",
			sh: shape{Duration: o.quicDur, Frames: 16, FrameSize: 16 << 10, Window: 3, Stall: o.stall}}
		if err := in.check(o.quicN); err != nil {
			return fmt.Errorf("--quic-n: %w", err)
		}
		fmt.Fprintf(out, "\nin-process relay vs raw quic-go forwarder (one process: publisher, relay or forwarder, subscribers; groups of 16 × 16 KiB, %s, %d round(s) summed):\n", o.quicDur, o.rounds)
		rows, bad := measureRows(in)
		failed = failed || bad
		if err := printTable(out, rows); err != nil {
			return err
		}
		for _, r := range rows {
			results = append(results, inProcessResult(r))
		}
	}
	run.Cases = results

	if o.save != "" {
		if err := saveBaseline(o.save, run); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nsaved to %s\n", o.save)
	}
	if baseline != nil {
		fmt.Fprintf(out, "\ncompared with %s (%s, %s):\n", o.compare, baseline.When, baseline.Machine)
		if err := printComparison(out, baseline, run, o.threshold); err != nil {
			return err
		}
	}
	if failed {
		return fmt.Errorf("some cases failed (see above)")
	}
	return nil
}

// conf is the relay configuration for the current binary: with pprof when
// profiling.
func (o procOptions) conf() string {
	if o.profile != "" {
		return o.profConf
	}
	return o.relayConf
}

// profileArgs gives the relay a metrics listener on a free loopback port
// when profiling.
func (o procOptions) profileArgs() []string {
	if o.profile == "" {
		return nil
	}
	port, err := freePort()
	if err != nil {
		return nil
	}
	return []string{"--metrics-bind", fmt.Sprintf("127.0.0.1:%d", port)}
}

// saveProfile fetches /debug/pprof/<what> (or, for "metrics", /metrics:
// the Go runtime's memory figures) from r's metrics listener into the
// --profile directory; a failure is reported, not fatal.
func (o procOptions) saveProfile(r *relayProc, file, what string) {
	client := &http.Client{Timeout: o.duration + 30*time.Second}
	path := "/debug/pprof/" + what
	if what == "metrics" {
		path = "/metrics"
	}
	resp, err := client.Get("http://" + r.metrics + path)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
	}
	if err == nil {
		var b []byte
		if b, err = io.ReadAll(resp.Body); err == nil {
			err = os.WriteFile(filepath.Join(o.profile, file), b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "moq-bench: profile %s of %s: %v\n", what, r.name, err)
	}
}

// inProcessResult turns a row of the in-process comparison into a case.
func inProcessResult(r row) *caseResult {
	c := &caseResult{Case: fmt.Sprintf("inproc-%d", r.N), Shape: fmt.Sprintf("1:%d 16×16KiB groups", r.N)}
	m := map[string]float64{}
	if r.Relay != nil {
		m["relay_mb_s"], m["relay_cpu_s_per_gb"], m["relay_delivered_pct"] = r.Relay.MBps, r.Relay.CPUPerGB, 100*r.Relay.Fraction
	}
	if r.QUIC != nil {
		m["quic_mb_s"], m["quic_cpu_s_per_gb"] = r.QUIC.MBps, r.QUIC.CPUPerGB
	}
	if r.Relay != nil && r.QUIC != nil && r.QUIC.MBps > 0 && r.QUIC.CPUPerGB > 0 {
		m["mb_s_ratio"], m["cpu_ratio"] = r.Relay.MBps/r.QUIC.MBps, r.Relay.CPUPerGB/r.QUIC.CPUPerGB
	}
	c.add(m)
	c.finish()
	return c
}

func runProcCase(bin string, c procCase, o procOptions) (map[string]float64, error) {
	switch c.kind {
	case "idle":
		return runIdle(bin, c, o)
	case "two-hop":
		return runTwoHop(bin, c, o)
	}
	r, err := startRelayProc(bin, o.conf(), "relay", o.profileArgs()...)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	return measureFanout(liteConnect(r, r, c.Subs), r, []*relayProc{r}, c, o)
}

// liteConnect connects the moq-lite publisher on pubAt and n subscribers
// on subAt.
func liteConnect(pubAt, subAt *relayProc, n int) func(context.Context) (fanoutClients, error) {
	return func(ctx context.Context) (fanoutClients, error) { return setupClients(ctx, pubAt, subAt, n) }
}

// measureFanout connects c's publisher and c.Subs subscribers with connect,
// publishes c and samples every process in nodes around the measurement;
// CPU and RSS are those of subAt, the subscribers' process (cpu_s_per_gb,
// rss_mb), and per node (cpu_<name>_s_per_gb).
func measureFanout(connect func(context.Context) (fanoutClients, error), subAt *relayProc, nodes []*relayProc, c procCase, o procOptions) (map[string]float64, error) {
	m := map[string]float64{}
	ctx, cancel := context.WithTimeout(context.Background(), o.stall+time.Duration(c.Subs)*50*time.Millisecond)
	cl, err := connect(ctx)
	cancel()
	defer func() {
		if cerr := cl.close(); cerr != nil {
			fmt.Fprintf(os.Stderr, "moq-bench: %s: close: %v\n", c.Name, cerr)
		}
	}()
	if err != nil {
		return m, fmt.Errorf("setup: %w", err)
	}
	before := make([]procSample, len(nodes))
	var t0 time.Time
	var packets0 uint64
	var sampleErr error
	cpuProfile := make(chan struct{})
	profiling := o.profile != "" && subAt.metrics != "" // never the forwarder
	if !profiling {
		close(cpuProfile)
	}
	frames, _, err := publishPaced(cl, c.FPS, c.FrameSize, max(c.GroupFrames, 1), o.duration, o.stall, func() {
		if profiling {
			go func() {
				defer close(cpuProfile)
				secs := max(int(o.duration.Round(time.Second)/time.Second), 1)
				o.saveProfile(subAt, c.Name+"-cpu.pb.gz", fmt.Sprintf("profile?seconds=%d", secs))
			}()
		}
		for i, n := range nodes {
			s, serr := n.sample()
			before[i] = s
			if serr != nil {
				sampleErr = serr
			}
		}
		t0 = time.Now()
		packets0 = cl.packetsReceived()
	})
	defer func() {
		<-cpuProfile
		if profiling {
			o.saveProfile(subAt, c.Name+"-allocs.pb.gz", "allocs")
			o.saveProfile(subAt, c.Name+"-heap.pb.gz", "heap")
			o.saveProfile(subAt, c.Name+"-metrics.txt", "metrics")
		}
	}()
	if err != nil {
		return m, fmt.Errorf("publish: %w", err)
	}
	if sampleErr != nil {
		return m, sampleErr
	}
	// Every subscriber should get every frame; wait for stragglers up to a
	// bound (outside the publishing time, inside the CPU window: the relay
	// still works for them).
	st := cl.stats()
	want := frames * int64(c.Subs)
	for drain := time.Now().Add(2 * time.Second); time.Now().Before(drain) && st.frames.Load() < want; {
		time.Sleep(5 * time.Millisecond)
	}
	seconds := time.Since(t0).Seconds()
	got := st.frames.Load()
	bytes, _, _ := st.tr.totals()
	gb := float64(bytes) / 1e9
	for i, n := range nodes {
		after, err := n.sample()
		if err != nil {
			return m, err
		}
		cpu := (after.CPU - before[i].CPU).Seconds()
		m["cpu_"+n.name+"_s_per_gb"] = cpu / gb
		if n == subAt {
			m["cpu_s_per_gb"] = cpu / gb
			m["rss_mb"] = float64(after.RSS) / 1e6
		}
	}
	m["mb_s"] = float64(bytes) / 1e6 / seconds
	m["delivered_pct"] = 100 * float64(got) / float64(max(want, 1))
	m["p50_ms"] = st.lat.quantile(0.50)
	m["p99_ms"] = st.lat.quantile(0.99)
	// What each delivery cost on the wire: the relay's packets (and the
	// clients' ACKs for them) are most of its CPU.
	m["packets_per_frame"] = float64(cl.packetsReceived()-packets0) / float64(max(got, 1))
	return m, nil
}

// runIdle opens c.Subs sessions that subscribe to nothing and reports the
// relay's RSS growth per session.
func runIdle(bin string, c procCase, o procOptions) (map[string]float64, error) {
	r, err := startRelayProc(bin, o.conf(), "relay", o.profileArgs()...)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	return measureIdle(r, openIdleLite, c, o)
}

// measureIdle opens c.Subs idle sessions on p with open and reports p's RSS
// growth per session.
func measureIdle(p *relayProc, open func(*relayProc, int, time.Duration) (int, func() error, error), c procCase, o procOptions) (map[string]float64, error) {
	m := map[string]float64{}
	time.Sleep(200 * time.Millisecond) // let the fresh process settle
	before, err := p.sample()
	if err != nil {
		return m, err
	}
	opened, closeAll, err := open(p, c.Subs, o.idleLimit)
	defer func() {
		if cerr := closeAll(); cerr != nil {
			fmt.Fprintf(os.Stderr, "moq-bench: %s: close: %v\n", c.Name, cerr)
		}
	}()
	if err != nil {
		return m, fmt.Errorf("idle session %d: %w", opened+1, err)
	}
	time.Sleep(500 * time.Millisecond) // handshakes the server still finishes
	after, err := p.sample()
	if err != nil {
		return m, err
	}
	if o.profile != "" && p.metrics != "" {
		o.saveProfile(p, c.Name+"-heap.pb.gz", "heap")
		o.saveProfile(p, c.Name+"-goroutine.pb.gz", "goroutine")
		o.saveProfile(p, c.Name+"-metrics.txt", "metrics")
	}
	n := float64(opened)
	m["sessions"] = n
	m["rss_mb"] = float64(after.RSS) / 1e6
	m["rss_kib_per_session"] = float64(after.RSS-before.RSS) / 1024 / n
	m["cpu_ms_per_session"] = (after.CPU - before.CPU).Seconds() * 1000 / n
	return m, nil
}

// runTwoHop starts a root and two leaves, then measures c twice moments
// apart: one hop (publisher and subscribers on leaf A) and two hops
// (publisher on A, subscribers on B). It reports the two-hop figures, the
// latency the hop adds, and each node's CPU per GB delivered.
func runTwoHop(bin string, c procCase, o procOptions) (map[string]float64, error) {
	m := map[string]float64{}
	dir, err := os.MkdirTemp("", "moq-bench-cluster")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	token := filepath.Join(dir, "cluster.token")
	if err := os.WriteFile(token, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return m, err
	}
	root, err := startRelayProc(bin, o.relayConf, "root", "--cluster-id", "root", "--cluster-token", token, "--cluster-node-host", "127.0.0.1")
	if err != nil {
		return m, err
	}
	defer root.stop()
	leaf := func(name string) (*relayProc, error) {
		args := []string{"--cluster-root", "http://" + root.addr,
			"--cluster-node", "http://127.0.0.1:PORT", "--cluster-id", name, "--cluster-token", token}
		conf := o.relayConf
		if name == "leaf-b" { // the subscribers' node, whose CPU the row reports
			conf = o.conf()
			args = append(args, o.profileArgs()...)
		}
		p, err := startRelayProc(bin, conf, name, args...)
		if err != nil {
			return nil, err
		}
		if err := p.waitReady(10 * time.Second); err != nil {
			p.stop()
			return nil, err
		}
		return p, nil
	}
	a, err := leaf("leaf-a")
	if err != nil {
		return m, err
	}
	defer a.stop()
	b, err := leaf("leaf-b")
	if err != nil {
		return m, err
	}
	defer b.stop()

	one, err := measureFanout(liteConnect(a, a, c.Subs), a, []*relayProc{a}, c, o)
	if err != nil {
		return m, fmt.Errorf("one hop: %w", err)
	}
	m, err = measureFanout(liteConnect(a, b, c.Subs), b, []*relayProc{root, a, b}, c, o)
	if err != nil {
		return m, fmt.Errorf("two hops: %w", err)
	}
	m["one_hop_p50_ms"], m["one_hop_p99_ms"] = one["p50_ms"], one["p99_ms"]
	m["hop_added_p50_ms"] = m["p50_ms"] - one["p50_ms"]
	m["hop_added_p99_ms"] = m["p99_ms"] - one["p99_ms"]
	return m, nil
}

// printProcTable prints one row per case; who names the measured process
// (relay, fwd) in the column heads.
func printProcTable(out io.Writer, results []*caseResult, who string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tshape\tMB/s\t%[1]s CPU s/GB\t%[1]s RSS MB\tdelivered\tp50 ms\tp99 ms\tnotes\n", who)
	for _, r := range results {
		v := r.Medians
		get := func(k string) float64 {
			if x, ok := v[k]; ok {
				return x
			}
			return nan
		}
		var notes []string
		if x, ok := v["packets_per_frame"]; ok {
			notes = append(notes, fmt.Sprintf("%s packets/frame", num(x, 2)))
		}
		switch {
		case strings.HasPrefix(r.Case, "idle"):
			notes = append(notes, fmt.Sprintf("%s KiB/session over %s sessions, %s ms CPU/session",
				num(get("rss_kib_per_session"), 1), num(get("sessions"), 0), num(get("cpu_ms_per_session"), 2)))
		case strings.HasPrefix(r.Case, "two-hop"):
			notes = append(notes, fmt.Sprintf("hop adds p50 %s / p99 %s ms (one hop %s / %s); CPU s/GB root %s, A %s, B %s",
				num(get("hop_added_p50_ms"), 1), num(get("hop_added_p99_ms"), 1),
				num(get("one_hop_p50_ms"), 1), num(get("one_hop_p99_ms"), 1),
				num(get("cpu_root_s_per_gb"), 2), num(get("cpu_leaf-a_s_per_gb"), 2), num(get("cpu_leaf-b_s_per_gb"), 2)))
		}
		if len(r.Errors) > 0 {
			notes = append(notes, fmt.Sprintf("%d failed round(s)", len(r.Errors)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Case, r.Shape,
			num(get("mb_s"), 1), num(get("cpu_s_per_gb"), 2), num(get("rss_mb"), 1),
			pctNum(get("delivered_pct")), num(get("p50_ms"), 1), num(get("p99_ms"), 1), strings.Join(notes, "; "))
	}
	return tw.Flush()
}

func pctNum(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", v)
}

// floorSuffix names a case's floor rows (fanout-200/quic), in the table and
// in --save's JSON, where --compare matches them like any case.
const floorSuffix = "/quic"

// floorRatios are the figures set beside the floor, per kind of case.
var floorRatios = map[string][]struct{ key, label string }{
	"fanout": {{"cpu_s_per_gb", "CPU s/GB"}, {"p50_ms", "p50 ms"}, {"p99_ms", "p99 ms"}, {"rss_mb", "RSS MB"}},
	"idle":   {{"rss_kib_per_session", "KiB/session"}, {"cpu_ms_per_session", "CPU ms/session"}},
}

// printFloorRatios prints, per case with a floor, the relay's median, the
// floor's and relay / floor for the figures of floorRatios, and adds each
// ratio to the floor case's medians as ratio_<metric> (lower: the relay is
// closer to the floor), so that --save keeps them.
func printFloorRatios(out io.Writer, results, floors []*caseResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tfigure\trelay\tfloor\trelay / floor\t")
	for i, f := range floors {
		if f == nil {
			continue
		}
		r := results[i]
		kind := "fanout"
		if strings.HasPrefix(r.Case, "idle") {
			kind = "idle"
		}
		for _, fig := range floorRatios[kind] {
			rv, fv := nan, nan
			if v, ok := r.Medians[fig.key]; ok {
				rv = v
			}
			if v, ok := f.Medians[fig.key]; ok {
				fv = v
			}
			if isNum(rv) && isNum(fv) {
				f.Medians["ratio_"+fig.key] = rv / fv
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Case, fig.label, num(rv, 2), num(fv, 2), ratio(rv, fv))
		}
	}
	return tw.Flush()
}
