package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

func saveBaseline(path string, run *benchRun) error {
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--save: %w", err)
	}
	return nil
}

func loadBaseline(path string) (*benchRun, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--compare: %w", err)
	}
	var run benchRun
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, fmt.Errorf("--compare %s: %w", path, err)
	}
	return &run, nil
}

// higherIsBetter says which way a metric improves: throughput and delivery
// up, everything else (CPU, memory, latency) down.
func higherIsBetter(metric string) bool {
	return strings.HasSuffix(metric, "mb_s") || strings.HasSuffix(metric, "delivered_pct") || metric == "mb_s_ratio"
}

// informational metrics are printed but never flagged: counts, and
// differences that may sit near zero.
func informational(metric string) bool {
	return metric == "sessions" || strings.HasPrefix(metric, "hop_added_")
}

// printComparison prints, per case and metric in both runs, the baseline
// median, the new one and new/baseline, flagging changes for the worse
// beyond threshold. It returns no error for regressions: timing is noisy
// and left to whoever reads the table.
func printComparison(out io.Writer, base, cur *benchRun, threshold float64) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tmetric\tbaseline\tnow\tratio\t")
	regressions := 0
	for _, c := range cur.Cases {
		i := slices.IndexFunc(base.Cases, func(b *caseResult) bool { return b.Case == c.Case })
		if i < 0 {
			continue
		}
		b := base.Cases[i]
		var keys []string
		for k := range c.Medians {
			if _, ok := b.Medians[k]; ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			old, now := b.Medians[k], c.Medians[k]
			ratio, flag := "-", ""
			if old > 0 && !math.IsNaN(now) {
				r := now / old
				ratio = fmt.Sprintf("%.2f×", r)
				worse := r > 1+threshold
				if higherIsBetter(k) {
					worse = r < 1-threshold
				}
				if worse && !informational(k) {
					flag = "REGRESSION"
					regressions++
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Case, k, num(old, 2), num(now, 2), ratio, flag)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d metric(s) worse by more than %.0f %% (noisy machine: rerun before believing one)\n", regressions, 100*threshold)
	return nil
}
