package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moq-cluster/moq-relay/config"
	"github.com/moq-cluster/moq-relay/relay/auth"
)

// The deployment examples of docs/deploy.md, relative to this package.
const deployDir = "../../examples/deploy"

// The example configurations are valid as written (validation does no I/O,
// so their paths need not exist here).
func TestDeployConfigsValidate(t *testing.T) {
	for _, name := range []string{"node.toml", "root.toml"} {
		c, _, err := config.Load(filepath.Join(deployDir, name), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A root and a public node start from examples/deploy/root.toml and
// node.toml, with loopback addresses, test certificates and keys in place of
// the production names and paths; the node registers with the root through
// its cluster JWT (no node_hosts list), becomes ready, and serves the public
// name's certificate from its tls.dir.
func TestDeployExampleConfigsStart(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	jwk, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, "auth.jwk", string(jwk))
	clusterJWT := func(node, nodeURL string) string {
		t.Helper()
		tok, err := auth.Sign(keyFile, auth.Claims{Cluster: true, Node: node, NodeURL: nodeURL,
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, node+".jwt", tok)
	}
	ca := newTestCA(t)
	start := func(name, configFile string, port int, extra ...string) *clusterNode {
		t.Helper()
		tlsDir := t.TempDir()
		ca.issue(t, tlsDir, "self", "127.0.0.1")
		nodeURL := fmt.Sprintf("http://127.0.0.1:%d", port)
		n := &clusterNode{name: name, port: port, args: append([]string{"serve", "--config", filepath.Join(deployDir, configFile),
			"--bind", fmt.Sprintf("127.0.0.1:%d", port),
			"--tls-cert", filepath.Join(tlsDir, "self.crt"), "--tls-key", filepath.Join(tlsDir, "self.key"),
			"--cluster-node", nodeURL, "--cluster-token", clusterJWT(name, nodeURL),
			"--metrics-bind", "127.0.0.1:0"}, extra...)}
		t.Setenv("MOQ_AUTH_KEY", keyFile) // startRelay passes the test's environment on
		if err := n.start(t); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rootPort, nodePort := freePort(t), freePort(t)
	root := start("root-1", "root.toml", rootPort)

	names := t.TempDir()
	publicSum := ca.issue(t, names, publicName, publicName)
	ca.issue(t, names, nodeName, nodeName)
	began := time.Now()
	node := start("euc", "node.toml", nodePort, "--tls-dir", names, "--cluster-root", root.url())
	registered(t, []*clusterNode{root}, node)
	if code, body := httpGet(t, node.url()+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready of the node: %d %s", code, body)
	}
	t.Logf("node from node.toml registered with the root from root.toml and ready %s after start",
		time.Since(began).Round(time.Millisecond))
	if got := fingerprintFor(t, fmt.Sprint(nodePort), publicName); got != publicSum {
		t.Errorf("the node serves %s for %s, want its tls.dir certificate %s", got, publicName, publicSum)
	}
}

// The systemd unit passes systemd-analyze verify (run where systemd is), and
// gives the drain of node.toml time to finish before SIGKILL.
func TestDeploySystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(deployDir, "moq-relay.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	const execStart = "ExecStart=/usr/local/bin/moq-relay serve --config /etc/moq-relay/moq-relay.toml"
	if !strings.Contains(text, execStart+"\n") {
		t.Fatalf("the unit does not run %q", execStart)
	}
	c, _, err := config.Load(filepath.Join(deployDir, "node.toml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("the unit sets no TimeoutStopSec")
	}
	stop, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", m[1], err)
	}
	if drain := c.Server.DrainTimeout.Std(); stop <= drain {
		t.Errorf("TimeoutStopSec %s does not exceed node.toml's drain_timeout %s: systemd would SIGKILL a draining node", stop, drain)
	}
	for _, want := range []string{"User=moq-relay", "KillSignal=SIGTERM", "Restart=on-failure", "NoNewPrivileges=yes"} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("NOTICE: systemd-analyze not found: the unit was checked by this test only, not verified by systemd")
	}
	// verify checks that ExecStart's binary exists: point it at the built one.
	dir := t.TempDir()
	file := filepath.Join(dir, "moq-relay.service")
	if err := os.WriteFile(file, []byte(strings.Replace(text, execStart, strings.Replace(execStart, "/usr/local/bin/moq-relay", relayBinary(t), 1), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", file).CombinedOutput()
	t.Logf("systemd-analyze verify: %v %s", err, strings.TrimSpace(string(out)))
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify found problems (exit %v):\n%s", err, out)
	}
}

// The Dockerfile builds moq-relay in a Go image and runs it as a non-root
// user in a small one, with the port open for UDP and TCP. Where a container
// tool works, the image is built and the binary in it runs.
func TestDeployDockerfile(t *testing.T) {
	file := filepath.Join(deployDir, "Dockerfile")
	df, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var froms, users, exposes []string
	var builds, entry string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(df), "\\\n", " ")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, strings.Join(f[1:], " "))
		case "USER":
			users = append(users, f[1])
		case "EXPOSE":
			exposes = append(exposes, f[1:]...)
		case "RUN":
			if strings.Contains(sc.Text(), "go build") {
				builds += sc.Text()
			}
		case "ENTRYPOINT":
			entry = strings.Join(f[1:], " ")
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "golang:") || !strings.Contains(froms[0], " AS build") {
		t.Errorf("want a multi-stage build from a golang image, got FROM %q", froms)
	}
	if !strings.Contains(builds, "./cmd/moq-relay") || !strings.Contains(builds, "CGO_ENABLED=0") {
		t.Errorf("the build stage does not build a static ./cmd/moq-relay: %q", builds)
	}
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1], "root") || strings.HasPrefix(users[len(users)-1], "0") {
		t.Errorf("the image runs as %q, want a non-root user", users)
	}
	if strings.Join(exposes, " ") != "4443/udp 4443/tcp" {
		t.Errorf("EXPOSE %q, want 4443/udp 4443/tcp", exposes)
	}
	if !strings.Contains(entry, "/usr/local/bin/moq-relay") {
		t.Errorf("ENTRYPOINT %q does not run moq-relay", entry)
	}

	tool := containerTool()
	if tool == "" {
		t.Skip("NOTICE: no working docker, podman or buildah (none installed, or no daemon): the Dockerfile was checked by this test only, not built")
	}
	if testing.Short() {
		t.Skip("builds a container image")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	image := fmt.Sprintf("localhost/moq-relay-deploy-test:%d", os.Getpid())
	build := []string{"build", "-f", file, "-t", image, "../.."}
	if filepath.Base(tool) == "buildah" {
		build = []string{"bud", "-f", file, "-t", image, "../.."}
	}
	began := time.Now()
	if out, err := exec.CommandContext(ctx, tool, build...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(build, " "), err, out)
	}
	t.Logf("%s built %s in %s", tool, image, time.Since(began).Round(time.Second))
	defer func() { _ = exec.Command(tool, "rmi", "-f", image).Run() }()
	if filepath.Base(tool) == "buildah" {
		return // buildah builds; running needs podman
	}
	out, err := exec.CommandContext(ctx, tool, "run", "--rm", "--network", "none", image, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "moq-relay ") {
		t.Errorf("%s run %s version: %v %q", tool, image, err, out)
	}
}

// containerTool is the first of docker, podman and buildah that answers
// "info" (a docker client without its daemon does not count), or "".
func containerTool() string {
	for _, name := range []string{"docker", "podman", "buildah"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = exec.CommandContext(ctx, path, "info").Run()
		cancel()
		if err == nil {
			return path
		}
	}
	return ""
}
