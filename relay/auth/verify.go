package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthorized is wrapped by every error that refuses a client.
var ErrUnauthorized = errors.New("unauthorized")

// The reasons Verify and Authorize refuse a token; each wraps ErrUnauthorized.
var (
	ErrMalformed     = fmt.Errorf("%w: malformed token", ErrUnauthorized)
	ErrUnknownKey    = fmt.Errorf("%w: unknown key", ErrUnauthorized)
	ErrAlgorithm     = fmt.Errorf("%w: wrong algorithm", ErrUnauthorized)
	ErrSignature     = fmt.Errorf("%w: bad signature", ErrUnauthorized)
	ErrExpired       = fmt.Errorf("%w: token expired", ErrUnauthorized)
	ErrNotYetValid   = fmt.Errorf("%w: token not valid yet", ErrUnauthorized)
	ErrMissingExpiry = fmt.Errorf("%w: token has no exp claim", ErrUnauthorized)
	ErrOutOfScope    = fmt.Errorf("%w: session path outside the token's root", ErrUnauthorized)
	ErrNoToken       = fmt.Errorf("%w: a token is required", ErrUnauthorized)
)

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 30 * time.Second

// MaxTokenLength bounds the tokens Verify looks at; longer ones are refused as
// malformed before any decoding.
const MaxTokenLength = 8 << 10

// Verifier checks tokens against a set of keys.
type Verifier struct {
	keys *Keys
	// parsers holds one parser per algorithm, each accepting only that
	// algorithm; a token is parsed by the one of the key that checks it.
	parsers map[string]*jwt.Parser
	// header reads a token's header before the key is chosen; its result is
	// never trusted beyond choosing the key.
	header *jwt.Parser
}

// NewVerifier returns a verifier for keys. Tokens must carry exp; exp and nbf
// are checked with Leeway of clock skew.
func NewVerifier(keys *Keys) *Verifier {
	v := &Verifier{keys: keys, parsers: make(map[string]*jwt.Parser), header: jwt.NewParser()}
	for _, alg := range Algorithms {
		v.parsers[alg] = jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithLeeway(Leeway),
			jwt.WithExpirationRequired(),
		)
	}
	return v
}

// Verify checks token's signature and validity period and returns its
// claims. Every error wraps ErrUnauthorized and one of ErrMalformed,
// ErrUnknownKey, ErrAlgorithm, ErrSignature, ErrExpired, ErrNotYetValid or
// ErrMissingExpiry.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if v == nil || v.keys == nil || v.keys.Len() == 0 {
		return nil, fmt.Errorf("%w: no verification keys configured", ErrUnknownKey)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(token) > MaxTokenLength {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(token), MaxTokenLength)
	}

	// Read the header to choose the key. Nothing here is trusted yet.
	unverified, _, err := v.header.ParseUnverified(token, &Claims{})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenUnverifiable) { // alg missing or not one jwt knows
			return nil, fmt.Errorf("%w: %w", ErrAlgorithm, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	k, err := v.keys.lookup(unverified.Header)
	if err != nil {
		return nil, err
	}
	if err := checkAlgorithm(unverified, k); err != nil {
		return nil, err
	}

	claims := &Claims{}
	_, err = v.parsers[k.alg].ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// The parser accepts only k.alg; check again against the key itself
		// so that no key is ever used with another algorithm.
		if err := checkAlgorithm(t, k); err != nil {
			return nil, err
		}
		return k.public, nil
	})
	if err != nil {
		return nil, refusal(err, claims)
	}
	return claims, nil
}

// checkAlgorithm refuses a token whose alg header is not the key's.
func checkAlgorithm(t *jwt.Token, k *key) error {
	alg := t.Method.Alg()
	if alg == "none" {
		return fmt.Errorf("%w: alg \"none\" is never accepted", ErrAlgorithm)
	}
	if alg != k.alg || t.Method != k.method {
		return fmt.Errorf("%w: token is signed with %s but key %s is %s", ErrAlgorithm, alg, k.name(), k.alg)
	}
	return nil
}

func (k *key) name() string {
	if k.id != "" {
		return fmt.Sprintf("%q", k.id)
	}
	return k.source
}

// lookup chooses the key for a token from its header's kid.
func (ks *Keys) lookup(header map[string]any) (*key, error) {
	kid := ""
	if raw, ok := header["kid"]; ok && raw != nil {
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("%w: kid header is not a string", ErrMalformed)
		}
		kid = s
	}
	if kid == "" {
		if ks.file == nil {
			return nil, fmt.Errorf("%w: token has no kid and no key file is configured, only a key directory", ErrUnknownKey)
		}
		return ks.file, nil
	}
	if k, ok := ks.byID[kid]; ok {
		return k, nil
	}
	if ks.file != nil && ks.file.id == "" {
		return ks.file, nil
	}
	return nil, fmt.Errorf("%w: no key with kid %q", ErrUnknownKey, kid)
}

// refusal turns an error from the jwt parser into one of this package's.
func refusal(err error, claims *Claims) error {
	switch {
	case errors.Is(err, ErrUnauthorized): // from the key function
		return err
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		if claims.ExpiresAt != nil {
			return fmt.Errorf("%w at %s", ErrExpired, claims.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		if claims.NotBefore != nil {
			return fmt.Errorf("%w: not before %s", ErrNotYetValid, claims.NotBefore.UTC().Format(time.RFC3339))
		}
		return ErrNotYetValid
	default:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
}
