package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// kidBytes is the number of random bytes in a generated kid.
const kidBytes = 6

// CanonicalAlgorithm returns the accepted algorithm named by s, matched
// without regard to case ("eddsa" is EdDSA).
func CanonicalAlgorithm(s string) (string, error) {
	for _, alg := range Algorithms {
		if strings.EqualFold(s, alg) {
			return alg, nil
		}
	}
	return "", fmt.Errorf("auth: unsupported algorithm %q (want one of %s)", s, strings.Join(Algorithms, ", "))
}

// GenerateKey creates a new private key for alg (HS256: a 32-byte secret;
// ES256: ECDSA P-256; EdDSA: Ed25519) and returns it as an indented JWK with
// a random kid and alg set.
func GenerateKey(alg string) ([]byte, error) {
	alg, err := CanonicalAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	var k *key
	switch alg {
	case HS256:
		secret := make([]byte, minHMACKeyBytes)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("auth: generate key: %w", err)
		}
		k = newKey(HS256, secret, secret)
	case ES256:
		private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("auth: generate key: %w", err)
		}
		k = newKey(ES256, &private.PublicKey, private)
	case EdDSA:
		public, private, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("auth: generate key: %w", err)
		}
		k = newKey(EdDSA, public, private)
	}
	id := make([]byte, kidBytes)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("auth: generate kid: %w", err)
	}
	k.id = hex.EncodeToString(id)
	return marshalJWK(k, true)
}

// PublicJWK returns the public half of a private JWK (or PEM key) as a JWK,
// keeping its kid. An HS256 key is a shared secret and has no public half.
func PublicJWK(privateKey []byte) ([]byte, error) {
	k, err := parseKey(privateKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if k.alg == HS256 {
		return nil, errors.New("auth: an HS256 key is a shared secret and has no public half; the relay needs the secret itself")
	}
	return marshalJWK(k, false)
}

// Sign signs c with the private key in keyFile (a JWK or PEM key), using the
// key's algorithm, and returns the compact token. When the key is a JWK with
// a kid, the token's header carries it. c must have an expiry: the relay
// refuses tokens without one.
func Sign(keyFile string, c Claims) (string, error) {
	k, err := loadKeyFile(keyFile)
	if err != nil {
		return "", err
	}
	if k.private == nil {
		return "", fmt.Errorf("auth: %s holds a public key; signing needs the private key", keyFile)
	}
	if c.ExpiresAt == nil {
		return "", errors.New("auth: sign: the claims have no expiry (exp); the relay refuses such tokens")
	}
	token := jwt.NewWithClaims(k.method, &c)
	if k.id != "" {
		token.Header["kid"] = k.id
	}
	signed, err := token.SignedString(k.private)
	if err != nil {
		return "", fmt.Errorf("auth: sign with %s: %w", keyFile, err)
	}
	return signed, nil
}

// marshalJWK encodes k as an indented JWK, with its private part when
// withPrivate is set.
func marshalJWK(k *key, withPrivate bool) ([]byte, error) {
	w := jsonWebKey{Kid: k.id, Alg: k.alg, Use: "sig"}
	b64 := base64.RawURLEncoding.EncodeToString
	switch k.alg {
	case HS256:
		if !withPrivate {
			return nil, errors.New("auth: an HS256 key has no public half")
		}
		w.Kty = "oct"
		w.K = b64(k.private.([]byte))
	case ES256:
		w.Kty, w.Crv = "EC", "P-256"
		point, err := k.public.(*ecdsa.PublicKey).Bytes() // 0x04 || x || y
		if err != nil {
			return nil, fmt.Errorf("auth: encode public key: %w", err)
		}
		w.X, w.Y = b64(point[1:33]), b64(point[33:65])
		if withPrivate {
			private, ok := k.private.(*ecdsa.PrivateKey)
			if !ok {
				return nil, errors.New("auth: no private key to encode")
			}
			d, err := private.Bytes()
			if err != nil {
				return nil, fmt.Errorf("auth: encode private key: %w", err)
			}
			w.D = b64(d)
		}
	case EdDSA:
		w.Kty, w.Crv = "OKP", "Ed25519"
		w.X = b64(k.public.(ed25519.PublicKey))
		if withPrivate {
			private, ok := k.private.(ed25519.PrivateKey)
			if !ok {
				return nil, errors.New("auth: no private key to encode")
			}
			w.D = b64(private.Seed())
		}
	default:
		return nil, fmt.Errorf("auth: cannot encode a %s key", k.alg)
	}
	out, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("auth: encode JWK: %w", err)
	}
	return append(out, '\n'), nil
}
