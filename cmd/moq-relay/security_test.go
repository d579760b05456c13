package main

// Secure by default (issue 9): a cluster node starts only with a credential
// (or an explicit --cluster-insecure, which warns), a root that relies on
// the shared token lists the hosts its members' URLs may name, and a member
// whose cluster JWT binds another node id or URL is refused by the root.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moq-cluster/moq-relay/relay/auth"
)

// refusedStart runs the relay with args, which must make it exit with status
// 1 before serving, and returns its output.
func refusedStart(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, relayBinary(t), args...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("relay %s: exit %v, want status 1; output:\n%s", strings.Join(args, " "), err, out)
	}
	if strings.Contains(string(out), "relay listening") {
		t.Fatalf("refused relay listened first:\n%s", out)
	}
	return string(out)
}

// A cluster node without a credential (no token, no [auth] keys, no
// --tls-root) does not start, and says how to give it one or how to opt out.
func TestClusterNodeWithoutCredentialRefusesToStart(t *testing.T) {
	base := []string{"serve", "--bind", "127.0.0.1:0", "--tls-generate", "127.0.0.1"}
	for name, cluster := range map[string][]string{
		"root": {"--cluster-id", "root"},
		"leaf": {"--cluster-root", "http://127.0.0.1:1", "--cluster-node", "http://127.0.0.1:2", "--cluster-id", "leaf"},
	} {
		t.Run(name, func(t *testing.T) {
			out := refusedStart(t, append(base, cluster...)...)
			for _, want := range []string{"needs a credential", "--cluster-token", "--tls-root", "--cluster-insecure"} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not name %q:\n%s", want, out)
				}
			}
			t.Logf("%s refused: %s", name, strings.TrimSpace(out))
		})
	}
}

// A root whose nodes present only the shared token must say which hosts
// their URLs may name: the token proves membership, not a URL.
func TestClusterRootWithSharedTokenNeedsNodeHosts(t *testing.T) {
	token := writeFile(t, "cluster.token", testClusterSecret)
	out := refusedStart(t, "serve", "--bind", "127.0.0.1:0", "--tls-generate", "127.0.0.1",
		"--cluster-id", "root", "--cluster-token", token)
	if !strings.Contains(out, "node_hosts") {
		t.Errorf("output does not name node_hosts:\n%s", out)
	}
	t.Logf("root refused: %s", strings.TrimSpace(out))
}

// --cluster-insecure starts a cluster without credentials, warns at start,
// and warns again for every member whose URL nothing vouched for.
func TestClusterInsecureStartsAndWarns(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil, "--cluster-insecure")
	leaf := startNode(t, cfg, "leaf", []*clusterNode{root}, "--cluster-insecure")
	registered(t, []*clusterNode{root}, leaf)
	for _, n := range []*clusterNode{root, leaf} {
		if hasFlag(n.args, "--cluster-token") || hasFlag(n.args, "--cluster-node-host") {
			t.Fatalf("%s started with credentials: %v", n.name, n.args)
		}
		warning := n.findLog(func(l map[string]any) bool {
			return l["level"] == "warn" && strings.Contains(fmt.Sprint(l["msg"]), "insecure")
		})
		if warning == nil {
			t.Fatalf("%s logged no warning about running insecure", n.name)
		}
		t.Logf("%s warns: %v", n.name, warning["msg"])
	}
	leafURL := leaf.url()
	waitUntil(t, clusterTimeout, "root warns about the join of an unverified URL", func() bool {
		return root.findLog(func(l map[string]any) bool {
			return l["level"] == "warn" && strings.Contains(fmt.Sprint(l["msg"]), "insecure") && l["url"] == leafURL
		}) != nil
	})
}

// With [auth] keys, nodes present cluster JWTs. One bound to another URL
// (node_url) or another node id (node) than the node claims is refused by
// the root, and the node does not become a member; one bound to what the
// node claims registers. The root has no node_hosts: the JWT vouches.
func TestClusterJWTBindsNodeIDAndURL(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	jwk, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, "cluster.jwk", string(jwk))
	cfg := writeFile(t, "cluster.toml", clusterTOML+fmt.Sprintf("\n[auth]\nkey = %q\n", keyFile))
	tokenFile := func(name, node, nodeURL string) string {
		t.Helper()
		tok, err := auth.Sign(keyFile, auth.Claims{Cluster: true, Node: node, NodeURL: nodeURL,
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, name+".token", tok)
	}
	// bareNode starts a node with only the flags given: no default credential.
	bareNode := func(name string, port int, args ...string) *clusterNode {
		t.Helper()
		n := &clusterNode{name: name, port: port, args: append([]string{"serve", "--config", cfg,
			"--bind", fmt.Sprintf("127.0.0.1:%d", port), "--tls-generate", "localhost,127.0.0.1",
			"--log-format", "json", "--cluster-id", name}, args...)}
		if err := n.start(t); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rootPort := freePort(t)
	root := bareNode("root", rootPort, "--cluster-token", tokenFile("root", "root", ""))
	leaf := func(name, boundID string, boundPort int) *clusterNode {
		t.Helper()
		port := freePort(t)
		if boundPort == 0 {
			boundPort = port
		}
		token := tokenFile(name, boundID, fmt.Sprintf("http://127.0.0.1:%d", boundPort))
		return bareNode(name, port, "--cluster-token", token,
			"--cluster-root", root.url(), "--cluster-node", fmt.Sprintf("http://127.0.0.1:%d", port))
	}

	good := leaf("good", "good", 0)
	registered(t, []*clusterNode{root}, good)
	// elsewhere holds a token for good's URL: it would send pulls of its
	// broadcasts to good.
	elsewhere := leaf("elsewhere", "elsewhere", good.port)
	// impostor holds good's token binding (id "good") under its own id.
	impostor := leaf("impostor", "good", 0)

	for _, tc := range []struct {
		n    *clusterNode
		want string
	}{
		{elsewhere, good.url()},
		{impostor, `"good"`},
	} {
		var refusal map[string]any
		waitUntil(t, clusterTimeout, "root refuses "+tc.n.name, func() bool {
			refusal = root.findLog(func(l map[string]any) bool {
				return l["level"] == "warn" && strings.Contains(fmt.Sprint(l["msg"]), "refused") &&
					l["peer"] == tc.n.name && strings.Contains(fmt.Sprint(l["error"]), tc.want)
			})
			return refusal != nil
		})
		t.Logf("root: %v: %v", refusal["msg"], refusal["error"])
		var leafErr string
		waitUntil(t, clusterTimeout, tc.n.name+" sees its root link refused", func() bool {
			s := tc.n.status(t)
			if len(s.Roots) != 1 || s.Roots[0].Healthy || s.Roots[0].Error == "" {
				return false
			}
			leafErr = s.Roots[0].Error
			return true
		})
		t.Logf("%s: root link: %s", tc.n.name, leafErr)
		if st := root.status(t).memberState(tc.n.name); st != "" {
			t.Errorf("refused node %s is a member (%s)", tc.n.name, st)
		}
	}
	if st := root.status(t).memberState("good"); st != "healthy" {
		t.Errorf("good is %q after the impostor's attempts, want healthy", st)
	}
	for _, n := range []*clusterNode{root, good, elsewhere, impostor} {
		n.alive(t)
	}
}
