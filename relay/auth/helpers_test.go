package auth

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKey is a freshly generated key written to a temporary directory.
type testKey struct {
	alg        string
	id         string
	privateJWK string // path of the private JWK
	publicJWK  string // path of the public JWK; "" for HS256
	k          *key   // the parsed private key
}

func newTestKey(t *testing.T, alg string) testKey {
	t.Helper()
	dir := t.TempDir()
	private, err := GenerateKey(alg)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	k, err := parseKey(private)
	if err != nil {
		t.Fatalf("parse generated %s key: %v", alg, err)
	}
	tk := testKey{alg: alg, id: k.id, k: k, privateJWK: writeFile(t, dir, "private.jwk", private)}
	if alg != HS256 {
		public, err := PublicJWK(private)
		if err != nil {
			t.Fatalf("PublicJWK(%s): %v", alg, err)
		}
		tk.publicJWK = writeFile(t, dir, "public.jwk", public)
	}
	return tk
}

// sign signs claims with the key's own algorithm and kid.
func (tk testKey) sign(t *testing.T, claims jwt.Claims) string {
	t.Helper()
	return signToken(t, tk.k.method, tk.k.private, tk.id, claims)
}

// verifier returns a verifier holding the key's public half (the secret for
// HS256).
func (tk testKey) verifier(t *testing.T) *Verifier {
	t.Helper()
	path := tk.publicJWK
	if path == "" {
		path = tk.privateJWK
	}
	keys, err := LoadKeys(path, "")
	if err != nil {
		t.Fatalf("LoadKeys(%s): %v", path, err)
	}
	return NewVerifier(keys)
}

func signToken(t *testing.T, method jwt.SigningMethod, private any, kid string, claims jwt.Claims) string {
	t.Helper()
	token := jwt.NewWithClaims(method, claims)
	if kid != "" {
		token.Header["kid"] = kid
	}
	s, err := token.SignedString(private)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// validClaims returns claims that expire in an hour.
func validClaims(root string, put, get []string) *Claims {
	now := time.Now()
	return &Claims{
		Root: root,
		Put:  put,
		Get:  get,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
	}
}

func list(s ...string) []string { return s }
