package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/transport"
)

// A leaf that reaches no root is alive (/health 200) but not ready (/ready
// 503 with the reason); once its root is up it becomes ready. A relay with no
// cluster setting is a plain relay: ready, no /cluster, no cluster log lines.
func TestReadyFollowsTheRoot(t *testing.T) {
	rootPort, leafPort := freePort(t), freePort(t)
	leafURL := fmt.Sprintf("http://127.0.0.1:%d", leafPort)
	token := writeFile(t, "cluster.token", testClusterSecret)
	leaf := startRelay(t, []string{"MOQ_LOG_FORMAT=json"},
		"--bind", fmt.Sprintf("127.0.0.1:%d", leafPort), "--tls-generate", "127.0.0.1", "--cluster-token", token,
		"--cluster-root", fmt.Sprintf("http://127.0.0.1:%d", rootPort), "--cluster-node", leafURL)
	leaf.waitLog(t, "relay listening", nil)
	if code, _ := httpGet(t, leafURL+"/health"); code != http.StatusOK {
		t.Fatalf("/health of a leaf without its root: %d", code)
	}
	code, body := httpGet(t, leafURL+"/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no cluster root reachable") {
		t.Fatalf("/ready of a leaf without its root: %d %s", code, body)
	}
	t.Logf("FIGURE not ready: %s", strings.TrimSpace(body))

	root := startRelay(t, []string{"MOQ_LOG_FORMAT=json"},
		"--bind", fmt.Sprintf("127.0.0.1:%d", rootPort), "--tls-generate", "127.0.0.1", "--cluster-token", token,
		"--cluster-node-host", "127.0.0.1", "--cluster-node", fmt.Sprintf("http://127.0.0.1:%d", rootPort))
	root.waitLog(t, "relay listening", nil)
	start := time.Now()
	for {
		if code, _ := httpGet(t, leafURL+"/ready"); code == http.StatusOK {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("leaf not ready 10 s after its root started:\n%s", leaf.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("FIGURE leaf ready %v after its root started (retry backoff capped at 5 s)", time.Since(start).Round(time.Millisecond))
}

func TestPlainRelayHasNoCluster(t *testing.T) {
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json"}, "--bind", fmt.Sprintf("127.0.0.1:%d", port), "--tls-generate", "127.0.0.1")
	p.waitLog(t, "relay listening", nil)
	if code, body := httpGet(t, base+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready of a plain relay: %d %s", code, body)
	}
	if code, _ := httpGet(t, base+"/cluster"); code != http.StatusNotFound {
		t.Fatalf("/cluster of a plain relay: %d, want 404", code)
	}
	// The cluster protocol is not served at all: the TLS handshake finds
	// no common ALPN.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := transport.DialQUIC(ctx, fmt.Sprintf("127.0.0.1:%d", port), "127.0.0.1",
		transport.DialOptions{Protocols: []string{proto.ALPN}, InsecureSkipVerify: true})
	if err == nil {
		_ = conn.CloseWithError(0, "")
		t.Fatalf("a plain relay accepted a %s connection", proto.ALPN)
	}
	t.Logf("%s to a plain relay: %v", proto.ALPN, err)
	if out := p.output(); strings.Contains(strings.ToLower(out), "cluster") {
		t.Fatalf("a plain relay logged about the cluster:\n%s", out)
	}
}
