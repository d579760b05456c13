package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one parsed GET /metrics.
type scrape struct {
	families map[string]*dto.MetricFamily
	text     string
}

// scrapeMetrics fetches http://addr/metrics, fails on anything but a 200
// that parses as Prometheus text, and reports what promlint finds.
func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	resp, err := statusClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v:\n%s", resp.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, pr := range problems {
		if strings.HasPrefix(pr.Metric, "moq_") {
			t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
		}
	}
	return scrape{families: fams, text: string(body)}
}

// value is the value of the series of name whose labels include labels
// (a histogram's sample count); ok is false when there is none.
func (s scrape) value(name string, labels ...string) (v float64, ok bool) {
	f := s.families[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// must is value, failing the test when the series is missing.
func (s scrape) must(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in /metrics", name, labels)
	}
	return v
}

// metricsAddr is the address a node logged for its metrics listener.
func metricsAddr(t *testing.T, n *clusterNode) string {
	t.Helper()
	l := n.waitLog(t, "metrics listening", nil)
	addr, _ := l["addr"].(string)
	if addr == "" {
		t.Fatalf("%s: metrics listening line without an address: %v", n.name, l)
	}
	return addr
}

// /metrics on the [metrics] listener parses as Prometheus text, and its
// counters move with traffic: a broadcast published on a leaf and watched
// on the root, which pulls it over a peer link.
func TestMetricsMoveWithTraffic(t *testing.T) {
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil, "--metrics-bind", "127.0.0.1:0")
	leaf := startNode(t, cfg, "leaf", []*clusterNode{root}, "--metrics-bind", "127.0.0.1:0")
	rootMetrics, leafMetrics := metricsAddr(t, root), metricsAddr(t, leaf)
	registered(t, []*clusterNode{root}, leaf)
	rootBefore, leafBefore := scrapeMetrics(t, rootMetrics), scrapeMetrics(t, leafMetrics)

	const broadcast = "client-chosen-name"
	publishCounter(t, leaf, broadcast, "n")
	sess := connect(t, root, nil)
	r, first := subscribeFlowing(t, sess, broadcast, "n")
	const more = 5
	ctx := t.Context()
	for range more {
		if _, err := readSeq(ctx, r); err != nil {
			t.Fatalf("reading on the root: %v", err)
		}
	}
	// The root forwards to its client; the leaf's heartbeats and the
	// root's peer link settle within a few heartbeats.
	var rootAfter, leafAfter scrape
	waitUntil(t, clusterTimeout, "metrics to show the traffic", func() bool {
		rootAfter, leafAfter = scrapeMetrics(t, rootMetrics), scrapeMetrics(t, leafMetrics)
		rtt, _ := leafAfter.value("moq_cluster_heartbeat_rtt_seconds", "root", root.url())
		return rootAfter.must(t, "moq_sent_frames_total") >= more && leafAfter.must(t, "moq_received_frames_total") >= more && rtt > 0
	})

	delta := func(before, after scrape, name string, labels ...string) float64 {
		b, _ := before.value(name, labels...)
		return after.must(t, name, labels...) - b
	}
	t.Logf("root, after subscribing from group %d and reading %d more: sessions quic/moq-lite-04 %v, subscriptions %v, frames sent +%v, bytes sent +%v received +%v, peer links open %v, lookups +%v (histogram count %v), members healthy %v, directory %v",
		first, more, rootAfter.must(t, "moq_sessions", "transport", "quic", "version", "moq-lite-04"),
		rootAfter.must(t, "moq_subscriptions"), delta(rootBefore, rootAfter, "moq_sent_frames_total"),
		delta(rootBefore, rootAfter, "moq_sent_bytes_total"), delta(rootBefore, rootAfter, "moq_received_bytes_total"),
		rootAfter.must(t, "moq_cluster_peer_links", "state", "open"), delta(rootBefore, rootAfter, "moq_cluster_lookups_total"),
		rootAfter.must(t, "moq_cluster_lookup_duration_seconds"), rootAfter.must(t, "moq_cluster_members", "state", "healthy"),
		rootAfter.must(t, "moq_cluster_directory_entries"))
	t.Logf("leaf: frames received +%v, bytes received +%v sent +%v, root links connected %v, heartbeat rtt %vs, cache %v bytes",
		delta(leafBefore, leafAfter, "moq_received_frames_total"), delta(leafBefore, leafAfter, "moq_received_bytes_total"),
		delta(leafBefore, leafAfter, "moq_sent_bytes_total"), leafAfter.must(t, "moq_cluster_root_links", "state", "connected"),
		leafAfter.must(t, "moq_cluster_heartbeat_rtt_seconds", "root", root.url()), leafAfter.must(t, "moq_cache_bytes"))

	for _, c := range []struct {
		what string
		got  float64
		min  float64
	}{
		{"root: open quic moq-lite-04 client sessions", rootAfter.must(t, "moq_sessions", "transport", "quic", "version", "moq-lite-04"), 1},
		{"root: subscriptions served to clients", rootAfter.must(t, "moq_subscriptions"), 1},
		{"root: frames sent", delta(rootBefore, rootAfter, "moq_sent_frames_total"), more},
		{"root: bytes sent", delta(rootBefore, rootAfter, "moq_sent_bytes_total"), more},
		{"root: bytes received (over the peer link)", delta(rootBefore, rootAfter, "moq_received_bytes_total"), more},
		{"root: open peer links", rootAfter.must(t, "moq_cluster_peer_links", "state", "open"), 1},
		{"root: healthy members", rootAfter.must(t, "moq_cluster_members", "state", "healthy"), 1},
		{"root: directory entries", rootAfter.must(t, "moq_cluster_directory_entries"), 1},
		{"leaf: frames received from the publisher", delta(leafBefore, leafAfter, "moq_received_frames_total"), more},
		{"leaf: bytes received", delta(leafBefore, leafAfter, "moq_received_bytes_total"), more},
		{"leaf: bytes sent (to the root's peer link)", delta(leafBefore, leafAfter, "moq_sent_bytes_total"), more},
		{"leaf: connected root links", leafAfter.must(t, "moq_cluster_root_links", "state", "connected"), 1},
		{"leaf: sessions accepted", leafAfter.must(t, "moq_sessions_accepted_total"), 1},
		{"leaf: cached bytes", leafAfter.must(t, "moq_cache_bytes"), 1},
	} {
		if c.got < c.min {
			t.Errorf("%s: %v, want at least %v", c.what, c.got, c.min)
		}
	}
	// Label values come from fixed sets and the configuration, never from
	// what clients name.
	for _, s := range []scrape{rootAfter, leafAfter} {
		if strings.Contains(s.text, broadcast) {
			t.Errorf("/metrics names the broadcast %q", broadcast)
		}
	}
	for _, name := range []string{"moq_dropped_groups_total", "moq_cluster_redirects_total", "moq_cluster_allocations_total",
		"moq_cluster_tickets_issued_total", "moq_cluster_drains_total", "moq_cluster_draining", "go_goroutines", "process_cpu_seconds_total"} {
		rootAfter.must(t, name)
	}

	// /metrics is not on the public port.
	resp, err := statusClient.Get(root.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("public port GET /metrics: %d, want 404", resp.StatusCode)
	}
}

// Without [metrics] bind there is no metrics listener.
func TestMetricsOffByDefault(t *testing.T) {
	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json"}, "serve", "--bind", "127.0.0.1:0", "--tls-generate", "127.0.0.1")
	listening := p.waitLog(t, "relay listening", nil)
	// Lines are logged in order: none about metrics came before this one.
	p.mu.Lock()
	for _, l := range p.lines {
		if strings.Contains(fmt.Sprint(l["msg"]), "metrics") {
			t.Errorf("metrics line without [metrics] bind: %v", l)
		}
	}
	p.mu.Unlock()
	code, _ := httpGet(t, "http://"+fmt.Sprint(listening["tcp"])+"/metrics")
	if code != http.StatusNotFound {
		t.Errorf("public port GET /metrics: %d, want 404", code)
	}
}
