package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moq-cluster/moq-relay/relay/auth"
)

// runToken runs "moq-relay token ARGS" in-process and returns its output.
func runToken(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newTokenCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	err := cmd.Execute()
	return out.String(), err
}

func mustRunToken(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runToken(t, "", args...)
	if err != nil {
		t.Fatalf("token %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// verifiedClaims is what "token verify" prints.
type verifiedClaims struct {
	Root    string   `json:"root"`
	Put     []string `json:"put"`
	Get     []string `json:"get"`
	Cluster bool     `json:"cluster"`
	Node    string   `json:"node"`
	NodeURL string   `json:"node_url"`
	Exp     int64    `json:"exp"`
	Iat     int64    `json:"iat"`
}

func parseClaims(t *testing.T, out string) verifiedClaims {
	t.Helper()
	var c verifiedClaims
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("verify printed %q: %v", out, err)
	}
	return c
}

func TestTokenGenerateSignVerify(t *testing.T) {
	for _, alg := range []string{"HS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			private := filepath.Join(dir, "private.jwk")
			verifyKey := private // an HS256 relay needs the secret itself
			args := []string{"generate", "--alg", alg, "--out", private}
			if alg != "HS256" {
				verifyKey = filepath.Join(dir, "public.jwk")
				args = append(args, "--public", verifyKey)
			}
			if out := mustRunToken(t, args...); out != "" {
				t.Fatalf("generate --out printed %q", out)
			}
			info, err := os.Stat(private)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Fatalf("private key mode %v, want 0600", info.Mode().Perm())
			}
			var jwk map[string]any
			if err := json.Unmarshal(mustReadFile(t, verifyKey), &jwk); err != nil {
				t.Fatal(err)
			}
			if jwk["alg"] != alg {
				t.Fatalf("JWK alg %v, want %s", jwk["alg"], alg)
			}
			if _, hasD := jwk["d"]; alg != "HS256" && hasD {
				t.Fatal("the public JWK holds the private key")
			}
			kid, _ := jwk["kid"].(string)

			before := time.Now().Unix()
			viewer := strings.TrimSpace(mustRunToken(t, "sign", "--key", private, "--root", "/room/alice/", "--get", "", "--expires", "2h"))
			publisher := strings.TrimSpace(mustRunToken(t, "sign", "--key", private, "--root", "room", "--put", "alice", "--put", "bob/cam", "--get", "", "--cluster"))

			got := parseClaims(t, mustRunToken(t, "verify", "--key", verifyKey, viewer))
			if got.Root != "room/alice" || len(got.Put) != 0 || strings.Join(got.Get, ",") != "" || len(got.Get) != 1 || got.Cluster {
				t.Fatalf("viewer claims %+v", got)
			}
			if exp := got.Exp - got.Iat; exp != 7200 || got.Iat < before {
				t.Fatalf("viewer iat %d exp %d, want exp = iat + 2h", got.Iat, got.Exp)
			}
			got = parseClaims(t, mustRunToken(t, "verify", "--key", verifyKey, publisher))
			if got.Root != "room" || strings.Join(got.Put, ",") != "alice,bob/cam" || !got.Cluster || got.Exp-got.Iat != 3600 {
				t.Fatalf("publisher claims %+v", got)
			}

			// A key directory with the key under its kid, and the token on stdin.
			keyDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(keyDir, kid+".jwk"), mustReadFile(t, verifyKey), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runToken(t, viewer+"\n", "verify", "--key-dir", keyDir, "-")
			if err != nil {
				t.Fatalf("verify --key-dir with the token on stdin: %v", err)
			}
			if parseClaims(t, out).Root != "room/alice" {
				t.Fatalf("verify --key-dir printed %s", out)
			}
		})
	}
}

// A node-bound cluster token carries the node id and URL the root holds the
// node to; an unbound one carries neither.
func TestTokenSignNodeBinding(t *testing.T) {
	key := filepath.Join(t.TempDir(), "cluster.jwk")
	mustRunToken(t, "generate", "--alg", "EdDSA", "--out", key)

	bound := strings.TrimSpace(mustRunToken(t, "sign", "--key", key, "--cluster",
		"--node", "edge-1", "--node-url", "https://edge-1.example.net:4443", "--expires", "720h"))
	got := parseClaims(t, mustRunToken(t, "verify", "--key", key, bound))
	if !got.Cluster || got.Node != "edge-1" || got.NodeURL != "https://edge-1.example.net:4443" || got.Exp-got.Iat != 720*3600 {
		t.Fatalf("bound cluster token claims %+v", got)
	}
	a, err := auth.New(auth.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.VerifyNode(bound)
	if err != nil || id != (auth.NodeIdentity{NodeID: "edge-1", NodeURL: "https://edge-1.example.net:4443"}) {
		t.Fatalf("the relay reads the bound token as %+v, %v", id, err)
	}
	t.Logf("bound cluster token: %d bytes, claims %+v", len(bound), got)

	unbound := strings.TrimSpace(mustRunToken(t, "sign", "--key", key, "--cluster"))
	if id, err := a.VerifyNode(unbound); err != nil || id != (auth.NodeIdentity{}) {
		t.Fatalf("the relay reads the unbound token as %+v, %v", id, err)
	}
	raw := parseRawClaims(t, mustRunToken(t, "verify", "--key", key, unbound))
	for _, claim := range []string{"node", "node_url"} {
		if _, ok := raw[claim]; ok {
			t.Errorf("unbound token carries %q: %v", claim, raw)
		}
	}
}

func parseRawClaims(t *testing.T, out string) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("verify printed %q: %v", out, err)
	}
	return c
}

func TestTokenGeneratePrints(t *testing.T) {
	out := mustRunToken(t, "generate", "--alg", "eddsa")
	var jwk map[string]any
	if err := json.Unmarshal([]byte(out), &jwk); err != nil {
		t.Fatalf("generate printed %q: %v", out, err)
	}
	if jwk["kty"] != "OKP" || jwk["alg"] != "EdDSA" || jwk["d"] == nil || jwk["kid"] == nil {
		t.Fatalf("generated JWK %v", jwk)
	}
}

func TestTokenVerifyRefuses(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.jwk")
	public := filepath.Join(dir, "public.jwk")
	mustRunToken(t, "generate", "--alg", "ES256", "--out", key, "--public", public)
	otherKey := filepath.Join(dir, "other.jwk")
	mustRunToken(t, "generate", "--alg", "ES256", "--out", otherKey)

	expired, err := auth.Sign(key, auth.Claims{Root: "room", Get: []string{""}, RegisteredClaims: jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Signed by another key; verified against a kid-less copy of the first.
	byOther := strings.TrimSpace(mustRunToken(t, "sign", "--key", otherKey, "--root", "room", "--get", ""))
	var jwk map[string]any
	if err := json.Unmarshal(mustReadFile(t, public), &jwk); err != nil {
		t.Fatal(err)
	}
	delete(jwk, "kid")
	noKid, _ := json.Marshal(jwk)
	noKidPublic := filepath.Join(dir, "public-nokid.jwk")
	if err := os.WriteFile(noKidPublic, noKid, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"expired", []string{"verify", "--key", public, expired}, "invalid token: unauthorized: token expired at "},
		{"another key's signature", []string{"verify", "--key", noKidPublic, byOther}, "invalid token: unauthorized: bad signature"},
		{"another key's kid", []string{"verify", "--key", public, byOther}, "invalid token: unauthorized: unknown key"},
		{"garbage", []string{"verify", "--key", public, "not-a-token"}, "invalid token: unauthorized: malformed token"},
		{"no key", []string{"verify", expired}, "key"},
		{"no token", []string{"verify", "--key", public}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runToken(t, "", tt.args...)
			if err == nil {
				t.Fatalf("verify succeeded: %s", out)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("verify error %q does not say %q", err, tt.wantMsg)
			}
			if out != "" {
				t.Fatalf("a refused verify printed %q", out)
			}
		})
	}
}

func TestTokenCommandErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.jwk")
	public := filepath.Join(dir, "public.jwk")
	mustRunToken(t, "generate", "--alg", "EdDSA", "--out", key, "--public", public)
	before := mustReadFile(t, key)

	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"generate without --alg", []string{"generate"}, `"alg" not set`},
		{"generate RS256", []string{"generate", "--alg", "RS256"}, "unsupported algorithm"},
		{"generate HS256 with --public", []string{"generate", "--alg", "HS256", "--public", filepath.Join(dir, "x")}, "shared secret"},
		{"generate over an existing key", []string{"generate", "--alg", "ES256", "--out", key}, "already exists"},
		{"generate over an existing public key", []string{"generate", "--alg", "ES256", "--out", filepath.Join(dir, "new.jwk"), "--public", public}, "already exists"},
		{"sign without --key", []string{"sign", "--get", ""}, `"key" not set`},
		{"sign granting nothing", []string{"sign", "--key", key, "--root", "room"}, "allow nothing"},
		{"sign with a public key", []string{"sign", "--key", public, "--get", ""}, "signing needs the private key"},
		{"sign with a non-positive expiry", []string{"sign", "--key", key, "--get", "", "--expires", "-1m"}, "must be positive"},
		{"sign with a missing key", []string{"sign", "--key", filepath.Join(dir, "missing"), "--get", ""}, "no such file"},
		{"sign --node without --cluster", []string{"sign", "--key", key, "--get", "", "--node", "edge-1"}, "need --cluster"},
		{"sign --node-url without --cluster", []string{"sign", "--key", key, "--get", "", "--node-url", "https://edge-1.example:4443"}, "need --cluster"},
		{"sign --node-url without a host", []string{"sign", "--key", key, "--cluster", "--node-url", "edge-1:4443"}, "scheme and host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runToken(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("token %v = %v (printed %q), want an error saying %q", tt.args, err, out, tt.wantMsg)
			}
		})
	}
	if !bytes.Equal(before, mustReadFile(t, key)) {
		t.Fatal("a refused generate changed the existing key")
	}
	if _, err := os.Stat(filepath.Join(dir, "new.jwk")); !os.IsNotExist(err) {
		t.Fatalf("a refused generate left a private key behind: %v", err)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
