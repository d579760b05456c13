package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func pemBlock(t *testing.T, typ string, der []byte, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// jwkWith rewrites members of a JWK; a nil value deletes the member.
func jwkWith(t *testing.T, path string, changes map[string]any) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadKeysFormats(t *testing.T) {
	hs := newTestKey(t, HS256)
	es := newTestKey(t, ES256)
	ed := newTestKey(t, EdDSA)
	ecPrivate := es.k.private.(*ecdsa.PrivateKey)
	edPrivate := ed.k.private.(ed25519.PrivateKey)

	pkix := func(k any) ([]byte, error) { return x509.MarshalPKIXPublicKey(k) }
	pkcs8 := func(k any) ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k) }
	sec1, sec1Err := x509.MarshalECPrivateKey(ecPrivate)
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")

	ecPub, ecPubErr := pkix(&ecPrivate.PublicKey)
	ecP8, ecP8Err := pkcs8(ecPrivate)
	edPub, edPubErr := pkix(edPrivate.Public())
	edP8, edP8Err := pkcs8(edPrivate)

	tests := []struct {
		name        string
		data        []byte
		signer      testKey
		wantKid     string
		wantPrivate bool
	}{
		{"JWK oct", readFile(t, hs.privateJWK), hs, hs.id, true},
		{"JWK oct without kid and alg", jwkWith(t, hs.privateJWK, map[string]any{"kid": nil, "alg": nil, "use": nil}), hs, "", true},
		{"JWK EC private", readFile(t, es.privateJWK), es, es.id, true},
		{"JWK EC public", readFile(t, es.publicJWK), es, es.id, false},
		{"JWK EC public without kid and alg", jwkWith(t, es.publicJWK, map[string]any{"kid": nil, "alg": nil}), es, "", false},
		{"JWK OKP private", readFile(t, ed.privateJWK), ed, ed.id, true},
		{"JWK OKP public", readFile(t, ed.publicJWK), ed, ed.id, false},
		{"JWK OKP with alg Ed25519", jwkWith(t, ed.publicJWK, map[string]any{"alg": "Ed25519"}), ed, ed.id, false},
		{"JWK with padded base64", jwkWith(t, ed.publicJWK, map[string]any{"x": base64.URLEncoding.EncodeToString(edPrivate.Public().(ed25519.PublicKey))}), ed, ed.id, false},
		{"PEM EC public", pemBlock(t, "PUBLIC KEY", ecPub, ecPubErr), es, "", false},
		{"PEM EC private SEC1", pemBlock(t, "EC PRIVATE KEY", sec1, sec1Err), es, "", true},
		{"PEM EC private SEC1 after EC PARAMETERS", append(ecParams, pemBlock(t, "EC PRIVATE KEY", sec1, sec1Err)...), es, "", true},
		{"PEM EC private PKCS8", pemBlock(t, "PRIVATE KEY", ecP8, ecP8Err), es, "", true},
		{"PEM Ed25519 public", pemBlock(t, "PUBLIC KEY", edPub, edPubErr), ed, "", false},
		{"PEM Ed25519 private", pemBlock(t, "PRIVATE KEY", edP8, edP8Err), ed, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "key", tt.data)
			keys, err := LoadKeys(path, "")
			if err != nil {
				t.Fatalf("LoadKeys: %v", err)
			}
			k := keys.file
			if k.alg != tt.signer.alg || k.id != tt.wantKid || (k.private != nil) != tt.wantPrivate {
				t.Fatalf("loaded alg %s kid %q private %v, want %s %q %v", k.alg, k.id, k.private != nil, tt.signer.alg, tt.wantKid, tt.wantPrivate)
			}
			if keys.Len() != 1 {
				t.Fatalf("Len() = %d, want 1", keys.Len())
			}
			token := tt.signer.sign(t, validClaims("room", nil, list("")))
			if _, err := NewVerifier(keys).Verify(token); err != nil {
				t.Fatalf("Verify with the loaded key: %v", err)
			}
			if tt.wantPrivate {
				signed, err := Sign(path, *validClaims("room", list(""), nil))
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				if _, err := tt.signer.verifier(t).Verify(signed); err != nil {
					t.Fatalf("Verify a token signed with the loaded key: %v", err)
				}
			}
		})
	}
}

func TestLoadKeysRefused(t *testing.T) {
	es := newTestKey(t, ES256)
	ed := newTestKey(t, EdDSA)
	hs := newTestKey(t, HS256)
	otherES := newTestKey(t, ES256)
	otherED := newTestKey(t, EdDSA)
	b64 := base64.RawURLEncoding.EncodeToString

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaP8, rsaP8Err := x509.MarshalPKCS8PrivateKey(rsaKey)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384SEC1, p384Err := x509.MarshalECPrivateKey(p384)
	esPub, esPubErr := x509.MarshalPKIXPublicKey(es.k.public)
	otherPub, otherPubErr := x509.MarshalPKIXPublicKey(otherES.k.public)
	otherD := jwkField(t, otherES.privateJWK, "d")

	tests := []struct {
		name    string
		data    []byte
		wantMsg string
	}{
		{"raw secret", []byte("correct horse battery staple\n"), "not a JWK or PEM"},
		{"empty file", []byte("\n"), "empty key file"},
		{"invalid JSON", []byte(`{"kty":`), "JWK"},
		{"JWK without kty", []byte(`{"k":"abc"}`), "no kty"},
		{"JWK RSA", []byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), "RSA keys are not supported"},
		{"JWK unknown kty", []byte(`{"kty":"XYZ"}`), "unsupported kty"},
		{"JWK Set", []byte(`{"keys":[]}`), "JWK Set is not supported"},
		{"JWK for encryption", jwkWith(t, es.publicJWK, map[string]any{"use": "enc"}), `use "enc"`},
		{"oct too short", []byte(`{"kty":"oct","k":"` + b64(make([]byte, 16)) + `"}`), "at least 32"},
		{"oct without k", []byte(`{"kty":"oct"}`), `no "k"`},
		{"oct not base64", []byte(`{"kty":"oct","k":"***"}`), "not base64url"},
		{"oct with alg ES256", jwkWith(t, hs.privateJWK, map[string]any{"alg": "ES256"}), `alg "ES256" does not fit`},
		{"oct with alg HS512", jwkWith(t, hs.privateJWK, map[string]any{"alg": "HS512"}), `alg "HS512" does not fit`},
		{"EC with alg HS256", jwkWith(t, es.publicJWK, map[string]any{"alg": "HS256"}), `alg "HS256" does not fit`},
		{"EC P-384", jwkWith(t, es.publicJWK, map[string]any{"crv": "P-384"}), `unsupported crv "P-384"`},
		{"EC short x", jwkWith(t, es.publicJWK, map[string]any{"x": b64(make([]byte, 31))}), `"x" is 31 bytes`},
		{"EC point not on the curve", jwkWith(t, es.publicJWK, map[string]any{"x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))}), "x, y"},
		{"EC d of another key", jwkWith(t, es.privateJWK, map[string]any{"d": otherD}), "d does not match"},
		{"OKP X25519", jwkWith(t, ed.publicJWK, map[string]any{"crv": "X25519"}), "X25519 is for key agreement"},
		{"OKP d of another key", jwkWith(t, ed.privateJWK, map[string]any{"d": jwkField(t, otherED.privateJWK, "d")}), "d does not match"},
		{"OKP with alg ES256", jwkWith(t, ed.publicJWK, map[string]any{"alg": "ES256"}), `alg "ES256" does not fit`},
		{"PEM RSA PKCS1", pemBlock(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), "RSA keys are not supported"},
		{"PEM RSA PKCS8", pemBlock(t, "PRIVATE KEY", rsaP8, rsaP8Err), "RSA keys are not supported"},
		{"PEM P-384", pemBlock(t, "EC PRIVATE KEY", p384SEC1, p384Err), "P-384 is not supported"},
		{"PEM two keys", append(pemBlock(t, "PUBLIC KEY", esPub, esPubErr), pemBlock(t, "PUBLIC KEY", otherPub, otherPubErr)...), "more than one key"},
		{"PEM certificate", pemBlock(t, "CERTIFICATE", []byte{1, 2, 3}, nil), `unsupported PEM block "CERTIFICATE"`},
		{"PEM encrypted", pemBlock(t, "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}, nil), "decrypt it first"},
		{"PEM garbage body", pemBlock(t, "PUBLIC KEY", []byte{1, 2, 3}, nil), "PEM PUBLIC KEY"},
		{"PEM only parameters", []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), "no key block"},
		{"too large", append([]byte("{"), make([]byte, maxKeyFileBytes)...), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "key", tt.data)
			keys, err := LoadKeys(path, "")
			if err == nil {
				t.Fatalf("LoadKeys succeeded with %d keys", keys.Len())
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadKeys error %q does not name the file and %q", err, tt.wantMsg)
			}
		})
	}

	if _, err := LoadKeys("", ""); err == nil {
		t.Error("LoadKeys with nothing succeeded")
	}
	if _, err := LoadKeys(filepath.Join(t.TempDir(), "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKeys of a missing file: %v, want not-exist", err)
	}
}

func jwkField(t *testing.T, path, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFile(t, path), &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	return s
}

func TestLoadKeyDir(t *testing.T) {
	alpha := newTestKey(t, ES256)
	beta := newTestKey(t, EdDSA)
	fileKey := newTestKey(t, HS256)

	dir := t.TempDir()
	// Named by kid, one with an extension; the JWKs' own kids differ, so
	// strip them (a kid in the file must match the name).
	writeFile(t, dir, "alpha.jwk", jwkWith(t, alpha.publicJWK, map[string]any{"kid": nil}))
	der, err := x509.MarshalPKIXPublicKey(beta.k.public)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "beta", pemBlock(t, "PUBLIC KEY", der, nil))
	writeFile(t, dir, ".hidden", []byte("not a key"))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}

	dirOnly, err := LoadKeys("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if dirOnly.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", dirOnly.Len())
	}
	// A kid-less key file beside the directory takes tokens without a kid
	// and tokens whose kid is not in the directory.
	plainFile := writeFile(t, t.TempDir(), "hs.jwk", jwkWith(t, fileKey.privateJWK, map[string]any{"kid": nil}))
	withFile, err := LoadKeys(plainFile, dir)
	if err != nil {
		t.Fatal(err)
	}
	if withFile.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", withFile.Len())
	}
	if got := strings.Join(withFile.algorithms(), ","); got != "ES256,EdDSA,HS256" {
		t.Fatalf("algorithms() = %s", got)
	}

	claims := validClaims("room", nil, list(""))
	byAlpha := signToken(t, jwt.SigningMethodES256, alpha.k.private, "alpha", claims)
	byBeta := signToken(t, jwt.SigningMethodEdDSA, beta.k.private, "beta", claims)
	betaAsAlpha := signToken(t, jwt.SigningMethodEdDSA, beta.k.private, "alpha", claims)
	alphaAsBeta := signToken(t, jwt.SigningMethodES256, alpha.k.private, "beta", claims)
	unknown := signToken(t, jwt.SigningMethodES256, alpha.k.private, "gamma", claims)
	noKid := signToken(t, jwt.SigningMethodES256, alpha.k.private, "", claims)
	fileNoKid := signToken(t, jwt.SigningMethodHS256, fileKey.k.private, "", claims)
	fileOtherKid := signToken(t, jwt.SigningMethodHS256, fileKey.k.private, "gamma", claims)

	tests := []struct {
		name    string
		keys    *Keys
		token   string
		wantErr error
	}{
		{"dir: kid alpha", dirOnly, byAlpha, nil},
		{"dir: kid beta", dirOnly, byBeta, nil},
		{"dir: EdDSA token naming the ES256 kid", dirOnly, betaAsAlpha, ErrAlgorithm},
		{"dir: ES256 token naming the EdDSA kid", dirOnly, alphaAsBeta, ErrAlgorithm},
		{"dir: unknown kid", dirOnly, unknown, ErrUnknownKey},
		{"dir: no kid", dirOnly, noKid, ErrUnknownKey},
		{"dir+file: kid alpha", withFile, byAlpha, nil},
		{"dir+file: no kid goes to the file", withFile, fileNoKid, nil},
		{"dir+file: unknown kid goes to the kid-less file", withFile, fileOtherKid, nil},
		{"dir+file: unknown kid, ES256 token, HS256 file", withFile, unknown, ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.keys).Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestLoadKeyDirRefused(t *testing.T) {
	es := newTestKey(t, ES256)
	tests := []struct {
		name    string
		files   map[string][]byte
		wantMsg string
	}{
		{"empty", nil, "holds no key files"},
		{"only dotfiles", map[string][]byte{".keep": nil}, "holds no key files"},
		{"kid differs from the name", map[string][]byte{"other.jwk": readFile(t, es.publicJWK)}, "differs from the file name"},
		{"same kid twice", map[string][]byte{"a.jwk": jwkWith(t, es.publicJWK, map[string]any{"kid": nil}), "a.pem": jwkWith(t, es.publicJWK, map[string]any{"kid": nil})}, `kid "a" is in both`},
		{"a bad file", map[string][]byte{"a": []byte("secret")}, "not a JWK or PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, dir, name, data)
			}
			_, err := LoadKeys("", dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("LoadKeys = %v, want an error mentioning %q", err, tt.wantMsg)
			}
		})
	}
	// The key file's kid may not reappear in the directory.
	dir := t.TempDir()
	writeFile(t, dir, es.id+".jwk", readFile(t, es.publicJWK))
	if _, err := LoadKeys(es.publicJWK, dir); err == nil || !strings.Contains(err.Error(), "is in both") {
		t.Fatalf("LoadKeys with the file's kid in the dir = %v", err)
	}
	if _, err := LoadKeys("", filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LoadKeys of a missing dir succeeded")
	}
}

func TestGenerateSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range []string{"HS256", "es256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			key := newTestKey(t, alg)
			canonical, _ := CanonicalAlgorithm(alg)
			if key.k.alg != canonical || len(key.id) != 2*kidBytes {
				t.Fatalf("generated alg %s kid %q", key.k.alg, key.id)
			}
			var m map[string]any
			if err := json.Unmarshal(readFile(t, key.privateJWK), &m); err != nil {
				t.Fatal(err)
			}
			if m["alg"] != canonical || m["kid"] != key.id {
				t.Fatalf("JWK alg %v kid %v", m["alg"], m["kid"])
			}
			want := validClaims("room/alice", list("cam"), list(""))
			want.Cluster = true
			token, err := Sign(key.privateJWK, *want)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			header, _, _ := strings.Cut(token, ".")
			raw, _ := base64.RawURLEncoding.DecodeString(header)
			var h map[string]any
			if err := json.Unmarshal(raw, &h); err != nil || h["kid"] != key.id || h["alg"] != canonical {
				t.Fatalf("token header %s (%v)", raw, err)
			}
			// Verify with the private key file, and with the public one.
			paths := []string{key.privateJWK}
			if key.publicJWK != "" {
				paths = append(paths, key.publicJWK)
			}
			for _, path := range paths {
				keys, err := LoadKeys(path, "")
				if err != nil {
					t.Fatal(err)
				}
				got, err := NewVerifier(keys).Verify(token)
				if err != nil {
					t.Fatalf("Verify with %s: %v", filepath.Base(path), err)
				}
				if got.Root != want.Root || !got.Cluster || strings.Join(got.Put, ",") != "cam" || got.ExpiresAt.Unix() != want.ExpiresAt.Unix() {
					t.Fatalf("claims %+v, want %+v", got, want)
				}
			}
			if key.publicJWK != "" {
				if _, err := Sign(key.publicJWK, *want); err == nil || !strings.Contains(err.Error(), "public key") {
					t.Fatalf("Sign with a public key = %v", err)
				}
			}
		})
	}
}

func TestGenerateAndSignRefused(t *testing.T) {
	for _, alg := range []string{"", "none", "RS256", "HS512", "ES384"} {
		if _, err := GenerateKey(alg); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", alg)
		}
	}
	hs := newTestKey(t, HS256)
	if _, err := PublicJWK(readFile(t, hs.privateJWK)); err == nil || !strings.Contains(err.Error(), "shared secret") {
		t.Errorf("PublicJWK(HS256) = %v", err)
	}
	noExpiry := Claims{Root: "room", Get: list("")}
	if _, err := Sign(hs.privateJWK, noExpiry); err == nil || !strings.Contains(err.Error(), "no expiry") {
		t.Errorf("Sign without exp = %v", err)
	}
	if _, err := Sign(filepath.Join(t.TempDir(), "missing"), *validClaims("", nil, nil)); err == nil {
		t.Error("Sign with a missing key file succeeded")
	}
}
