package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// The names behind GeoDNS in these tests: .test is reserved (RFC 6761), so
// a name that leaked to a resolver would fail rather than reach anything.
const (
	publicName = "cdn.example.test"
	nodeName   = "euc.cdn.example.test"
)

// testCA issues certificates the way an operator's CA (or ACME) does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "moq test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue writes a certificate for host (a DNS name or an IP address) signed
// by the CA to dir/base.crt and dir/base.key, and returns the SHA-256 of its
// DER, the value /certificate.sha256 serves.
func (ca *testCA) issue(t *testing.T, dir, base, host string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, base+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, base+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// fingerprintFor is /certificate.sha256 asked with Host host:port, as a
// browser on that name asks.
func fingerprintFor(t *testing.T, port, host string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/certificate.sha256", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = net.JoinHostPort(host, port)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	rsp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /certificate.sha256 for %s: %v", req.Host, err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	return strings.TrimSpace(string(body))
}

// A node behind GeoDNS serves the public name's certificate and its own
// name's, each verified by a client that trusts only the CA and asks for
// that name while dialing 127.0.0.1; other names get the default. moq
// --resolve reaches the node by each name without DNS: pub over
// WebTransport verified against the CA, sub over http:// pinning the hash
// the node serves for the name.
func TestSNICertificatesAndResolve(t *testing.T) {
	ca := newTestCA(t)
	certDir, defDir := t.TempDir(), t.TempDir()
	want := map[string]string{
		publicName: ca.issue(t, certDir, "public", publicName),
		nodeName:   ca.issue(t, certDir, "node", nodeName),
		"default":  ca.issue(t, defDir, "default", "127.0.0.1"),
	}
	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json"}, "serve", "--bind", "127.0.0.1:0",
		"--tls-cert", filepath.Join(defDir, "default.crt"), "--tls-key", filepath.Join(defDir, "default.key"),
		"--tls-dir", certDir)
	listening := p.waitLog(t, "relay listening", nil)
	_, port, err := net.SplitHostPort(fmt.Sprint(listening["udp"]))
	if err != nil {
		t.Fatalf("listening line has no udp address: %v", listening)
	}
	for _, name := range []string{publicName, nodeName} {
		l := p.waitLog(t, "certificate chosen by name", map[string]string{"certificate_sha256": want[name]})
		t.Logf("relay logged: names %v, sha256 %s", l["names"], l["certificate_sha256"])
	}
	if listening["certificate_sha256"] != want["default"] {
		t.Errorf("the default certificate is %v, want the --tls-cert one %s", listening["certificate_sha256"], want["default"])
	}

	// A TLS client trusting only the CA, asking for each name at 127.0.0.1.
	for _, serverName := range []string{publicName, nodeName, "127.0.0.1"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		sess, err := transport.DialQUIC(ctx, "127.0.0.1:"+port, serverName, transport.DialOptions{
			Protocols: moqt.Protocols(), RootCAs: ca.pool(),
		})
		cancel()
		if err != nil {
			t.Fatalf("QUIC handshake asking for %s: %v", serverName, err)
		}
		t.Logf("QUIC handshake asking for %s verified against the CA in %s", serverName, time.Since(start).Round(time.Millisecond))
		_ = sess.CloseWithError(0, "")
	}
	// The default covers no .test name: asking for another name gets it,
	// and a client verifying that name refuses it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if sess, err := transport.DialQUIC(ctx, "127.0.0.1:"+port, "usw.cdn.example.test", transport.DialOptions{
		Protocols: moqt.Protocols(), RootCAs: ca.pool(),
	}); err == nil {
		_ = sess.CloseWithError(0, "")
		t.Error("a name no certificate covers was served a certificate valid for it")
	} else {
		t.Logf("a name no certificate covers: %v", err)
	}
	cancel()

	// /certificate.sha256 answers for the certificate the Host name selects.
	for host, w := range map[string]string{publicName: want[publicName], nodeName: want[nodeName],
		"127.0.0.1": want["default"], "usw.cdn.example.test": want["default"]} {
		if got := fingerprintFor(t, port, host); got != w {
			t.Errorf("/certificate.sha256 with Host %s = %s, want %s", host, got, w)
		}
	}

	// moq by the names: pub on the public name (WebTransport, CA-verified
	// through SSL_CERT_FILE), sub on the node name (http://: pinned hash).
	resolvePublic := publicName + ":" + port + ":127.0.0.1"
	resolveNode := nodeName + ":" + port + ":127.0.0.1"
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subOut, subErr, pubErr bytes.Buffer
	sub := exec.CommandContext(ctx, moqCLI(t), "sub", "--resolve", resolveNode, "--count", "3",
		"http://"+nodeName+":"+port+"/room", "clock", "seconds")
	sub.Stdout, sub.Stderr = &subOut, &subErr
	pub := exec.CommandContext(ctx, moqCLI(t), "pub", "--resolve", resolvePublic,
		"https://"+publicName+":"+port+"/room", "clock", "seconds")
	pub.Env = append(os.Environ(), "SSL_CERT_FILE="+ca.file)
	pub.Stderr = &pubErr
	stdin, err := pub.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		_ = pub.Process.Kill()
		_ = pub.Wait()
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Wait() }()
	// A subscription starts at the latest group: feed a line every 50 ms
	// until sub has printed three (at most 300).
	var subResult, stdinErr error
	sent, subExited := 0, false
	for ; sent < 300 && !subExited && stdinErr == nil; sent++ {
		_, stdinErr = fmt.Fprintf(stdin, "tick %d\n", sent)
		select {
		case subResult = <-subDone:
			subExited = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	if !subExited {
		_ = sub.Process.Kill()
		subResult = <-subDone
	}
	_ = stdin.Close() // pub ends with its input
	pubResult := pub.Wait()
	lines := strings.Split(strings.TrimSpace(subOut.String()), "\n")
	t.Logf("moq sub via %s printed %q %s after start (%d lines sent); pub: %v, %s; sub: %v, %s",
		nodeName, lines, elapsed.Round(time.Millisecond), sent, pubResult, strings.TrimSpace(pubErr.String()),
		subResult, strings.TrimSpace(subErr.String()))
	if !subExited || subResult != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "tick ") {
		t.Fatalf("moq sub by %s did not print three lines and exit 0 (stdin: %v)", nodeName, stdinErr)
	}
	if pubResult != nil || !strings.Contains(pubErr.String(), "connected to https://"+publicName+":"+port+"/room") {
		t.Errorf("moq pub by %s: %v", publicName, pubResult)
	}
}

// A certificate directory with a certificate but no key stops the relay at
// start with the file named.
func TestTLSDirBadPairRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	newTestCA(t).issue(t, dir, "public", publicName)
	if err := os.Remove(filepath.Join(dir, "public.key")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, relayBinary(t), "serve", "--bind", "127.0.0.1:0",
		"--tls-generate", "localhost", "--tls-dir", dir).CombinedOutput()
	t.Logf("moq-relay: %v: %s", err, bytes.TrimSpace(out))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("moq-relay with a certificate without key: %v", err)
	}
	if !strings.Contains(string(out), filepath.Join(dir, "public.crt")) || !strings.Contains(string(out), "no key") {
		t.Errorf("the error does not name %s and its missing key", filepath.Join(dir, "public.crt"))
	}
}
