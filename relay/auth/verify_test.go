package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// rawToken builds a token from literal header and payload JSON.
func rawToken(header, payload, signature string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	return b64([]byte(header)) + "." + b64([]byte(payload)) + "." + signature
}

func TestVerify(t *testing.T) {
	es := newTestKey(t, ES256)
	otherES := newTestKey(t, ES256)
	ed := newTestKey(t, EdDSA)
	hs := newTestKey(t, HS256)
	otherHS := newTestKey(t, HS256)

	// The EC public key as PEM, and a verifier reading it (no kid).
	der, err := x509.MarshalPKIXPublicKey(es.k.public)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pemPath := writeFile(t, t.TempDir(), "es.pem", pemBytes)
	pemKeys, err := LoadKeys(pemPath, "")
	if err != nil {
		t.Fatal(err)
	}
	pemVerifier := NewVerifier(pemKeys)
	jwkBytes, err := os.ReadFile(es.publicJWK)
	if err != nil {
		t.Fatal(err)
	}
	point, err := es.k.public.(*ecdsa.PublicKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	withTimes := func(exp, nbf time.Duration) *Claims {
		c := validClaims("room", nil, list(""))
		c.ExpiresAt = jwt.NewNumericDate(now.Add(exp))
		if nbf != 0 {
			c.NotBefore = jwt.NewNumericDate(now.Add(nbf))
		}
		return c
	}
	noExpiry := &Claims{Root: "room", Get: list(""), RegisteredClaims: jwt.RegisteredClaims{IssuedAt: jwt.NewNumericDate(now)}}
	good := validClaims("room", list("alice"), list(""))
	noneToken := signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, es.id, good)
	goodES := es.sign(t, good)
	parts := strings.Split(goodES, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"root":"","put":[""],"exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name     string
		verifier *Verifier
		token    string
		wantErr  error  // nil: valid
		wantMsg  string // a substring of the error message
	}{
		{name: "valid ES256", verifier: es.verifier(t), token: goodES},
		{name: "valid ES256, PEM key without kid", verifier: pemVerifier, token: goodES},
		{name: "valid EdDSA", verifier: ed.verifier(t), token: ed.sign(t, good)},
		{name: "valid HS256", verifier: hs.verifier(t), token: hs.sign(t, good)},
		{name: "expired within leeway", verifier: es.verifier(t), token: es.sign(t, withTimes(-10*time.Second, 0))},
		{name: "nbf within leeway", verifier: es.verifier(t), token: es.sign(t, withTimes(time.Hour, 10*time.Second))},

		{name: "expired", verifier: es.verifier(t), token: es.sign(t, withTimes(-time.Minute, 0)), wantErr: ErrExpired, wantMsg: "token expired at "},
		{name: "not yet valid", verifier: es.verifier(t), token: es.sign(t, withTimes(time.Hour, time.Minute)), wantErr: ErrNotYetValid, wantMsg: "not before "},
		{name: "missing exp", verifier: es.verifier(t), token: es.sign(t, noExpiry), wantErr: ErrMissingExpiry},
		{name: "missing exp, HS256", verifier: hs.verifier(t), token: hs.sign(t, noExpiry), wantErr: ErrMissingExpiry},

		{name: "signed by another EC key with the same kid", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodES256, otherES.k.private, es.id, good), wantErr: ErrSignature},
		{name: "signed by another HMAC secret", verifier: hs.verifier(t),
			token: signToken(t, jwt.SigningMethodHS256, otherHS.k.private, hs.id, good), wantErr: ErrSignature},
		{name: "payload changed after signing", verifier: es.verifier(t), token: tampered, wantErr: ErrSignature},
		{name: "signature stripped", verifier: es.verifier(t), token: parts[0] + "." + parts[1] + ".", wantErr: ErrSignature},
		{name: "expired and badly signed is a bad signature", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodES256, otherES.k.private, es.id, withTimes(-time.Hour, 0)), wantErr: ErrSignature},

		{name: "unknown kid", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodES256, es.k.private, "someone-else", good), wantErr: ErrUnknownKey, wantMsg: `"someone-else"`},

		{name: "HS256 with the EC public key PEM as secret", verifier: pemVerifier,
			token: signToken(t, jwt.SigningMethodHS256, pemBytes, "", good), wantErr: ErrAlgorithm, wantMsg: "HS256"},
		{name: "HS256 with the EC public key DER as secret", verifier: pemVerifier,
			token: signToken(t, jwt.SigningMethodHS256, der, "", good), wantErr: ErrAlgorithm},
		{name: "HS256 with the EC point as secret", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodHS256, point, es.id, good), wantErr: ErrAlgorithm},
		{name: "HS256 with the public JWK file as secret", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodHS256, jwkBytes, es.id, good), wantErr: ErrAlgorithm},
		{name: "alg none", verifier: es.verifier(t), token: noneToken, wantErr: ErrAlgorithm, wantMsg: `"none" is never accepted`},
		{name: "alg none against an HMAC key", verifier: hs.verifier(t),
			token: signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hs.id, good), wantErr: ErrAlgorithm},
		{name: "alg NONE", verifier: es.verifier(t),
			token: rawToken(`{"alg":"NONE","kid":"`+es.id+`"}`, `{"root":"","exp":9999999999}`, ""), wantErr: ErrAlgorithm},
		{name: "no alg", verifier: es.verifier(t),
			token: rawToken(`{"typ":"JWT"}`, `{"root":"","exp":9999999999}`, "c2ln"), wantErr: ErrAlgorithm},
		{name: "RS256", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodRS256, rsaKey, es.id, good), wantErr: ErrAlgorithm, wantMsg: "RS256"},
		{name: "ES384", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodES384, p384, es.id, good), wantErr: ErrAlgorithm},
		{name: "EdDSA token for an ES256 key", verifier: es.verifier(t),
			token: signToken(t, jwt.SigningMethodEdDSA, ed.k.private, es.id, good), wantErr: ErrAlgorithm},
		{name: "ES256 token for an HS256 key", verifier: hs.verifier(t),
			token: signToken(t, jwt.SigningMethodES256, es.k.private, hs.id, good), wantErr: ErrAlgorithm},

		{name: "empty", verifier: es.verifier(t), token: "", wantErr: ErrMalformed},
		{name: "one segment", verifier: es.verifier(t), token: "abc", wantErr: ErrMalformed},
		{name: "four segments", verifier: es.verifier(t), token: goodES + ".x", wantErr: ErrMalformed},
		{name: "header not base64", verifier: es.verifier(t), token: "!!!." + parts[1] + "." + parts[2], wantErr: ErrMalformed},
		{name: "header not JSON", verifier: es.verifier(t), token: rawToken(`alg`, `{}`, "x"), wantErr: ErrMalformed},
		{name: "payload not JSON", verifier: es.verifier(t), token: rawToken(`{"alg":"ES256"}`, `[`, "x"), wantErr: ErrMalformed},
		{name: "root not a string", verifier: es.verifier(t), token: rawToken(`{"alg":"ES256"}`, `{"root":1}`, "x"), wantErr: ErrMalformed},
		{name: "exp not a number", verifier: es.verifier(t), token: rawToken(`{"alg":"ES256"}`, `{"exp":"soon"}`, "x"), wantErr: ErrMalformed},
		{name: "kid not a string", verifier: es.verifier(t), token: rawToken(`{"alg":"ES256","kid":7}`, `{}`, "x"), wantErr: ErrMalformed},
		{name: "too long", verifier: es.verifier(t), token: strings.Repeat("a", MaxTokenLength+1), wantErr: ErrMalformed},
		{name: "no keys", verifier: NewVerifier(nil), token: goodES, wantErr: ErrUnknownKey},
		{name: "nil verifier", verifier: nil, token: goodES, wantErr: ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := tt.verifier.Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims.Root != "room" || claims.ExpiresAt == nil {
					t.Fatalf("claims = %+v", claims)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify succeeded with claims %+v, want %v", claims, tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			for _, other := range []error{ErrMalformed, ErrUnknownKey, ErrAlgorithm, ErrSignature, ErrExpired, ErrNotYetValid, ErrMissingExpiry} {
				if other != tt.wantErr && errors.Is(err, other) {
					t.Fatalf("Verify error %v is also %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Verify error %q does not mention %q", err, tt.wantMsg)
			}
			if claims != nil {
				t.Fatalf("refused Verify returned claims %+v", claims)
			}
		})
	}
}

func TestVerifyReturnsClaims(t *testing.T) {
	key := newTestKey(t, EdDSA)
	want := validClaims("room/alice", list("cam"), list("", "chat"))
	want.Cluster = true
	want.Subject = "alice"
	got, err := key.verifier(t).Verify(key.sign(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Verify = %+v, want %+v", got, want)
	}
}

// A verifier given a private key file verifies with its public half.
func TestVerifyWithPrivateKeyFile(t *testing.T) {
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "ed.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	keys, err := LoadKeys(path, "")
	if err != nil {
		t.Fatal(err)
	}
	token := signToken(t, jwt.SigningMethodEdDSA, private, "", validClaims("room", nil, list("")))
	if _, err := NewVerifier(keys).Verify(token); err != nil {
		t.Fatal(err)
	}
}
