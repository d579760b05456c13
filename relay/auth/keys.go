package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The signing algorithms the relay accepts, as written in a token's "alg"
// header and a JWK's "alg" member.
const (
	HS256 = "HS256" // HMAC SHA-256 with a shared secret (JWK kty "oct")
	ES256 = "ES256" // ECDSA P-256 SHA-256 (JWK kty "EC", crv "P-256")
	EdDSA = "EdDSA" // Ed25519 (JWK kty "OKP", crv "Ed25519")
)

// Algorithms lists the accepted algorithms.
var Algorithms = []string{HS256, ES256, EdDSA}

// minHMACKeyBytes is the shortest HS256 secret accepted: RFC 7518 §3.2
// requires a key at least as long as the hash output.
const minHMACKeyBytes = 32

// maxKeyFileBytes bounds what is read from a key file; real keys are far
// smaller.
const maxKeyFileBytes = 64 << 10

// key is one signing or verification key, pinned to one algorithm.
type key struct {
	id     string            // JWK "kid" or the file name in a key directory; "" if none
	alg    string            // HS256, ES256 or EdDSA
	method jwt.SigningMethod // the one method tokens for this key must use
	// public verifies: []byte (HS256), *ecdsa.PublicKey or ed25519.PublicKey.
	public any
	// private signs: []byte (HS256), *ecdsa.PrivateKey or ed25519.PrivateKey;
	// nil when only the public half was loaded.
	private any
	source  string // the file it came from, for messages
}

// Keys is a set of verification keys: at most one from a key file, used for
// tokens without a kid, and any number selected by kid.
type Keys struct {
	file *key            // from the key file; nil when only a directory was given
	byID map[string]*key // every key with a kid, from the directory and the key file
}

// LoadKeys loads the verification keys named by a key file, a key directory,
// or both.
//
// keyFile holds one key: a JWK (kty "oct", "EC" with crv "P-256", or "OKP"
// with crv "Ed25519"; optional "kid" and "alg") or a PEM block (EC P-256 or
// Ed25519, public or private; an HMAC secret must be a JWK). A private key
// also verifies. keyDir holds one such file per key, named by its kid (an
// extension .jwk, .json or .pem is not part of the kid); dotfiles and
// subdirectories are skipped.
//
// A token's "kid" header selects the key with that id. A token without a kid,
// or with any kid when the key file has none, is checked with the key file.
func LoadKeys(keyFile, keyDir string) (*Keys, error) {
	if keyFile == "" && keyDir == "" {
		return nil, errors.New("auth: no key file or key directory given")
	}
	keys := &Keys{byID: make(map[string]*key)}
	if keyFile != "" {
		k, err := loadKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		keys.file = k
		if k.id != "" {
			keys.byID[k.id] = k
		}
	}
	if keyDir != "" {
		if err := keys.loadDir(keyDir); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Len returns the number of distinct keys loaded.
func (ks *Keys) Len() int {
	n := len(ks.byID)
	if ks.file != nil && ks.file.id == "" {
		n++
	}
	return n
}

// algorithms returns the algorithms of the loaded keys.
func (ks *Keys) algorithms() []string {
	var algs []string
	add := func(k *key) {
		if k != nil && !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	add(ks.file)
	for _, k := range ks.byID {
		add(k)
	}
	slices.Sort(algs)
	return algs
}

func (ks *Keys) loadDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("auth: key directory: %w", err)
	}
	loaded := 0
	for _, entry := range entries {
		name := entry.Name()
		if strings.HasPrefix(name, ".") {
			continue // dotfiles, and the ..data links of a Kubernetes secret volume
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows symbolic links
		if err != nil {
			return fmt.Errorf("auth: key directory: %w", err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		kid := kidFromFileName(name)
		k, err := loadKeyFile(path)
		if err != nil {
			return err
		}
		if k.id != "" && k.id != kid {
			return fmt.Errorf("auth: %s: the JWK's kid %q differs from the file name's %q", path, k.id, kid)
		}
		k.id = kid
		if other, dup := ks.byID[kid]; dup {
			return fmt.Errorf("auth: kid %q is in both %s and %s", kid, other.source, path)
		}
		ks.byID[kid] = k
		loaded++
	}
	if loaded == 0 {
		return fmt.Errorf("auth: key directory %s holds no key files", dir)
	}
	return nil
}

func kidFromFileName(name string) string {
	for _, ext := range []string{".jwk", ".json", ".pem"} {
		if base, ok := strings.CutSuffix(name, ext); ok && base != "" {
			return base
		}
	}
	return name
}

// loadKeyFile reads and parses one key file.
func loadKeyFile(path string) (*key, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key: %w", err)
	}
	k, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("auth: %s: %w", path, err)
	}
	k.source = path
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key", path, maxKeyFileBytes)
	}
	return data, nil
}

// parseKey parses a JWK or a PEM key.
func parseKey(data []byte) (*key, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("empty key file")
	case trimmed[0] == '{':
		return parseJWK(trimmed)
	case bytes.Contains(trimmed, []byte("-----BEGIN ")):
		return parsePEM(trimmed)
	default:
		return nil, errors.New("not a JWK or PEM key (an HMAC secret must be a JWK with kty \"oct\"; see moq-relay token generate)")
	}
}

// jsonWebKey is the subset of RFC 7517/7518/8037 the relay reads and writes.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d,omitempty"`
	K   string `json:"k,omitempty"`
	// Keys is only read, to recognise a JWK Set.
	Keys json.RawMessage `json:"keys,omitempty"`
}

func parseJWK(data []byte) (*key, error) {
	var w jsonWebKey
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	if w.Keys != nil {
		return nil, errors.New("a JWK Set is not supported: put each key in its own file of a key directory, named by its kid")
	}
	if w.Use != "" && w.Use != "sig" {
		return nil, fmt.Errorf("JWK: use %q, want \"sig\"", w.Use)
	}
	var (
		k   *key
		err error
	)
	switch w.Kty {
	case "oct":
		k, err = octKey(w)
	case "EC":
		k, err = ecKey(w)
	case "OKP":
		k, err = okpKey(w)
	case "":
		return nil, errors.New("JWK: no kty")
	case "RSA":
		return nil, errors.New("JWK: RSA keys are not supported (use ES256, EdDSA or HS256)")
	default:
		return nil, fmt.Errorf("JWK: unsupported kty %q", w.Kty)
	}
	if err != nil {
		return nil, fmt.Errorf("JWK (kty %s): %w", w.Kty, err)
	}
	if w.Alg != "" && w.Alg != k.alg && !(k.alg == EdDSA && w.Alg == "Ed25519") {
		return nil, fmt.Errorf("JWK: alg %q does not fit a kty %q key, which signs with %s", w.Alg, w.Kty, k.alg)
	}
	k.id = w.Kid
	return k, nil
}

func octKey(w jsonWebKey) (*key, error) {
	secret, err := decodeMember("k", w.K)
	if err != nil {
		return nil, err
	}
	if len(secret) < minHMACKeyBytes {
		return nil, fmt.Errorf("secret is %d bytes; HS256 needs at least %d", len(secret), minHMACKeyBytes)
	}
	return newKey(HS256, secret, secret), nil
}

func ecKey(w jsonWebKey) (*key, error) {
	if w.Crv != "P-256" {
		return nil, fmt.Errorf("unsupported crv %q (only P-256, for ES256)", w.Crv)
	}
	x, err := decodeFixed("x", w.X, 32)
	if err != nil {
		return nil, err
	}
	y, err := decodeFixed("y", w.Y, 32)
	if err != nil {
		return nil, err
	}
	point := append(append([]byte{4}, x...), y...)
	public, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("x, y: %w", err)
	}
	if w.D == "" {
		return newKey(ES256, public, nil), nil
	}
	d, err := decodeFixed("d", w.D, 32)
	if err != nil {
		return nil, err
	}
	private, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf("d: %w", err)
	}
	if !private.PublicKey.Equal(public) {
		return nil, errors.New("d does not match x and y")
	}
	return newKey(ES256, &private.PublicKey, private), nil
}

func okpKey(w jsonWebKey) (*key, error) {
	switch w.Crv {
	case "Ed25519":
	case "X25519":
		return nil, errors.New("crv X25519 is for key agreement, not signatures (use Ed25519)")
	default:
		return nil, fmt.Errorf("unsupported crv %q (only Ed25519, for EdDSA)", w.Crv)
	}
	x, err := decodeFixed("x", w.X, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	public := ed25519.PublicKey(x)
	if w.D == "" {
		return newKey(EdDSA, public, nil), nil
	}
	seed, err := decodeFixed("d", w.D, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	private := ed25519.NewKeyFromSeed(seed)
	if !public.Equal(private.Public()) {
		return nil, errors.New("d does not match x")
	}
	return newKey(EdDSA, public, private), nil
}

func decodeMember(name, value string) ([]byte, error) {
	if value == "" {
		return nil, fmt.Errorf("no %q", name)
	}
	// RFC 7515 base64url is unpadded; tolerate padding anyway.
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return nil, fmt.Errorf("%q is not base64url: %w", name, err)
	}
	return b, nil
}

func decodeFixed(name, value string, size int) ([]byte, error) {
	b, err := decodeMember(name, value)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%q is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}

func parsePEM(data []byte) (*key, error) {
	var found *key
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var (
			k   *key
			err error
		)
		switch block.Type {
		case "EC PARAMETERS":
			continue // written by openssl ecparam -genkey before the key
		case "PUBLIC KEY":
			var public any
			if public, err = x509.ParsePKIXPublicKey(block.Bytes); err == nil {
				k, err = keyFromCrypto(public)
			}
		case "PRIVATE KEY":
			var private any
			if private, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				k, err = keyFromCrypto(private)
			}
		case "EC PRIVATE KEY":
			var private *ecdsa.PrivateKey
			if private, err = x509.ParseECPrivateKey(block.Bytes); err == nil {
				k, err = keyFromCrypto(private)
			}
		case "ENCRYPTED PRIVATE KEY":
			err = errors.New("encrypted private keys are not supported: decrypt it first")
		case "RSA PRIVATE KEY", "RSA PUBLIC KEY":
			err = errors.New("RSA keys are not supported (use ES256, EdDSA or HS256)")
		default:
			err = fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, PRIVATE KEY or EC PRIVATE KEY)", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
		}
		if found != nil {
			return nil, errors.New("PEM: more than one key; put one key per file")
		}
		found = k
	}
	if found == nil {
		return nil, errors.New("PEM: no key block found")
	}
	return found, nil
}

// keyFromCrypto wraps a key parsed by crypto/x509.
func keyFromCrypto(k any) (*key, error) {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if err := requireP256(k.Curve); err != nil {
			return nil, err
		}
		return newKey(ES256, k, nil), nil
	case *ecdsa.PrivateKey:
		if err := requireP256(k.Curve); err != nil {
			return nil, err
		}
		return newKey(ES256, &k.PublicKey, k), nil
	case ed25519.PublicKey:
		return newKey(EdDSA, k, nil), nil
	case ed25519.PrivateKey:
		return newKey(EdDSA, k.Public(), k), nil
	case *rsa.PublicKey, *rsa.PrivateKey:
		return nil, errors.New("RSA keys are not supported (use ES256, EdDSA or HS256)")
	default:
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
}

func requireP256(c elliptic.Curve) error {
	if c != elliptic.P256() {
		return fmt.Errorf("curve %s is not supported (only P-256, for ES256)", c.Params().Name)
	}
	return nil
}

func newKey(alg string, public, private any) *key {
	return &key{alg: alg, method: jwt.GetSigningMethod(alg), public: public, private: private}
}
