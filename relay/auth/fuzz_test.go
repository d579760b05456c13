package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary strings to a verifier holding keys of every
// algorithm: it must never panic, and must refuse with ErrUnauthorized
// whatever it does not accept.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	var token string
	for _, alg := range Algorithms {
		private, err := GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		k, err := parseKey(private)
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, k.id+".jwk"), private, 0o600); err != nil {
			f.Fatal(err)
		}
		token, err = Sign(filepath.Join(dir, k.id+".jwk"), *validClaims("room", list("a"), list("")))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(token)
	}
	keys, err := LoadKeys("", dir)
	if err != nil {
		f.Fatal(err)
	}
	verifier := NewVerifier(keys)

	f.Add("")
	f.Add("a.b.c")
	f.Add(rawToken(`{"alg":"none"}`, `{"root":"","exp":9999999999}`, ""))
	f.Add(rawToken(`{"alg":"HS256","kid":"x"}`, `{"exp":1e400}`, "AA"))
	f.Add(rawToken(`{"alg":"ES256","kid":[]}`, `{"put":null,"get":[1]}`, "AA"))
	f.Add(rawToken(`{"alg":"EdDSA"}`, `{"exp":-1,"nbf":"x","aud":{}}`, "!!"))

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := verifier.Verify(token)
		if err != nil {
			if claims != nil {
				t.Fatalf("claims %+v returned with error %v", claims, err)
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("error %v does not wrap ErrUnauthorized", err)
			}
			return
		}
		if claims == nil || claims.ExpiresAt == nil {
			t.Fatalf("accepted token without claims or exp: %+v", claims)
		}
		_ = claims.Permissions().CanPublish("room/a")
	})
}
