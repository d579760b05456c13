package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestClaimsPermissionsScopes(t *testing.T) {
	type check struct {
		path               string
		publish, subscribe bool
	}
	tests := []struct {
		name     string
		root     string
		put, get []string
		want     Permissions
		checks   []check
	}{
		{
			name: "viewer of one room", root: "room/alice", get: list(""),
			want: Permissions{Get: list("room/alice")},
			checks: []check{
				{"room/alice", false, true},
				{"room/alice/cam", false, true},
				{"room/alice/cam/hd", false, true},
				{"room/alicex", false, false}, // prefix boundary
				{"room/al", false, false},
				{"room", false, false},
				{"room/bob", false, false},
				{"", false, false},
			},
		},
		{
			name: "publisher of a sub-path, viewer of the root", root: "room", put: list("alice"), get: list(""),
			want: Permissions{Put: list("room/alice"), Get: list("room")},
			checks: []check{
				{"room/alice", true, true},
				{"room/alice/cam", true, true},
				{"room/alicia", false, true}, // prefix boundary on put
				{"room/bob", false, true},
				{"room", false, true},
				{"roomx", false, false},
				{"other/x", false, false},
			},
		},
		{
			name: "whole relay", root: "", put: list(""), get: list(""),
			want: Permissions{Put: list(""), Get: list("")},
			checks: []check{
				{"", true, true},
				{"anything", true, true},
				{"a/b/c", true, true},
			},
		},
		{
			name: "get-only prefix at the relay root", root: "", get: list("public"),
			want: Permissions{Get: list("public")},
			checks: []check{
				{"public", false, true},
				{"public/x", false, true},
				{"publicx", false, false},
				{"private", false, false},
			},
		},
		{
			name: "several prefixes", root: "org", put: list("a/in"), get: list("a", "b"),
			want: Permissions{Put: list("org/a/in"), Get: list("org/a", "org/b")},
			checks: []check{
				{"org/a/in", true, true},
				{"org/a/inx", false, true},
				{"org/a/out", false, true},
				{"org/b/x", false, true},
				{"org/c", false, false},
				{"a", false, false}, // relative paths are not absolute ones
			},
		},
		{
			name: "unclean root and prefixes are cleaned", root: "/room//alice/", put: list("/cam/"), get: list("/"),
			want: Permissions{Put: list("room/alice/cam"), Get: list("room/alice")},
			checks: []check{
				{"room/alice/cam", true, true},
				{"/room/alice/cam/", true, true},
				{"room/alice/mic", false, true},
			},
		},
		{
			name: "root without put or get allows nothing", root: "room",
			want: Permissions{},
			checks: []check{
				{"room", false, false},
				{"room/x", false, false},
				{"", false, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := Claims{Root: tt.root, Put: tt.put, Get: tt.get}
			perms := claims.Permissions()
			if !reflect.DeepEqual(perms, tt.want) {
				t.Fatalf("Permissions() = %#v, want %#v", perms, tt.want)
			}
			for _, c := range tt.checks {
				if got := perms.CanPublish(c.path); got != c.publish {
					t.Errorf("CanPublish(%q) = %v, want %v", c.path, got, c.publish)
				}
				if got := perms.CanSubscribe(c.path); got != c.subscribe {
					t.Errorf("CanSubscribe(%q) = %v, want %v", c.path, got, c.subscribe)
				}
			}
		})
	}
}

func TestPermissionsPrefixBoundary(t *testing.T) {
	perms := Permissions{Put: list("room/al"), Get: list("room/alice/")}
	tests := []struct {
		path               string
		publish, subscribe bool
	}{
		{"room/al", true, false},
		{"room/al/x", true, false},
		{"room/alice", false, true}, // "room/al" is not a prefix of "room/alice"
		{"room/alice/x", false, true},
		{"room/alicex", false, false},
	}
	for _, tt := range tests {
		if got := perms.CanPublish(tt.path); got != tt.publish {
			t.Errorf("CanPublish(%q) = %v, want %v", tt.path, got, tt.publish)
		}
		if got := perms.CanSubscribe(tt.path); got != tt.subscribe {
			t.Errorf("CanSubscribe(%q) = %v, want %v", tt.path, got, tt.subscribe)
		}
	}
	var none Permissions
	if none.CanPublish("") || none.CanSubscribe("x") || !none.IsZero() {
		t.Error("zero Permissions must allow nothing")
	}
}

func TestAuthorize(t *testing.T) {
	key := newTestKey(t, ES256)
	viewer := key.sign(t, validClaims("room/alice", nil, list("")))
	publisher := key.sign(t, validClaims("room", list("alice"), list("")))
	everything := key.sign(t, validClaims("", list(""), list("")))
	expired := key.sign(t, &Claims{Root: "room", Get: list(""), RegisteredClaims: jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)),
	}})
	// Another key's signature under this key's kid.
	stranger := signToken(t, jwt.SigningMethodES256, newTestKey(t, ES256).k.private, key.id, validClaims("room", list(""), list("")))

	tests := []struct {
		name        string
		public      Options // only PublicRead and PublicWrite are used
		sessionPath string
		token       string
		wantErr     error
		want        Permissions
	}{
		{name: "no token, no public prefixes", sessionPath: "room", wantErr: ErrNoToken},
		{
			name:   "no token, public read",
			public: Options{PublicRead: list("demo")}, sessionPath: "demo",
			want: Permissions{Get: list("demo")},
		},
		{
			name:   "no token, public read and write, cleaned",
			public: Options{PublicRead: list("/demo/"), PublicWrite: list("demo/in")}, sessionPath: "",
			want: Permissions{Put: list("demo/in"), Get: list("demo")},
		},
		{
			name:        "viewer at its root",
			sessionPath: "room/alice", token: viewer,
			want: Permissions{Get: list("room/alice")},
		},
		{
			name:        "viewer below its root, URL form",
			sessionPath: "/room/alice/cam/", token: viewer,
			want: Permissions{Get: list("room/alice")},
		},
		{name: "viewer above its root", sessionPath: "room", token: viewer, wantErr: ErrOutOfScope},
		{name: "viewer at the relay root", sessionPath: "", token: viewer, wantErr: ErrOutOfScope},
		{name: "viewer at a sibling sharing a prefix", sessionPath: "room/alicex", token: viewer, wantErr: ErrOutOfScope},
		{
			name:        "publisher",
			sessionPath: "room", token: publisher,
			want: Permissions{Put: list("room/alice"), Get: list("room")},
		},
		{
			name:        "root-less token anywhere",
			sessionPath: "x/y", token: everything,
			want: Permissions{Put: list(""), Get: list("")},
		},
		{
			name:   "a bad token does not fall back to public access",
			public: Options{PublicRead: list("")}, sessionPath: "room", token: expired,
			wantErr: ErrExpired,
		},
		{
			name:   "a token signed by another key",
			public: Options{PublicRead: list("")}, sessionPath: "room", token: stranger,
			wantErr: ErrSignature,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Options{Key: key.publicJWK, PublicRead: tt.public.PublicRead, PublicWrite: tt.public.PublicWrite})
			if err != nil {
				t.Fatal(err)
			}
			if !a.Enabled() {
				t.Fatal("Enabled() = false with a key")
			}
			perms, err := a.Authorize(tt.sessionPath, tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("Authorize = %v, want %v", err, tt.wantErr)
				}
				if !perms.IsZero() {
					t.Fatalf("refused Authorize returned permissions %#v", perms)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if !reflect.DeepEqual(perms, tt.want) {
				t.Fatalf("Authorize = %#v, want %#v", perms, tt.want)
			}
		})
	}
}

func TestAuthorizeOff(t *testing.T) {
	off, err := New(Options{PublicRead: list("ignored")})
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]*Authenticator{"no keys": off, "nil": nil} {
		if a.Enabled() {
			t.Errorf("%s: Enabled() = true", name)
		}
		for _, token := range []string{"", "not-a-token"} {
			perms, err := a.Authorize("any/path", token)
			if err != nil {
				t.Fatalf("%s: Authorize(%q): %v", name, token, err)
			}
			if !perms.CanPublish("a/b") || !perms.CanSubscribe("") {
				t.Errorf("%s: auth off must allow everything, got %#v", name, perms)
			}
		}
	}
}

func TestNewBadKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(Options{Key: writeFile(t, dir, "secret", []byte("hunter2"))}); err == nil {
		t.Fatal("New with a raw secret file succeeded")
	}
	if _, err := New(Options{KeyDir: dir + "/missing"}); err == nil {
		t.Fatal("New with a missing key dir succeeded")
	}
}

func TestPublicPermissionsAreCopies(t *testing.T) {
	key := newTestKey(t, EdDSA)
	a, err := New(Options{Key: key.publicJWK, PublicRead: list("demo")})
	if err != nil {
		t.Fatal(err)
	}
	perms, _ := a.Authorize("", "")
	perms.Get[0] = ""
	again, _ := a.Authorize("", "")
	if !reflect.DeepEqual(again.Get, list("demo")) {
		t.Fatalf("changing returned permissions changed the authenticator's: %v", again.Get)
	}
}

func TestVerifyNode(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k.jwk")
	jwk, err := GenerateKey(HS256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(c Claims, ttl time.Duration) string {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
		tok, err := Sign(keyFile, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a, err := New(Options{Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		claims Claims
		want   NodeIdentity
	}{
		"unbound":      {Claims{Cluster: true}, NodeIdentity{}},
		"bound to id":  {Claims{Cluster: true, Node: "edge-1"}, NodeIdentity{NodeID: "edge-1"}},
		"bound to url": {Claims{Cluster: true, NodeURL: "https://edge-1.example:4443"}, NodeIdentity{NodeURL: "https://edge-1.example:4443"}},
		"bound to both": {Claims{Cluster: true, Node: "edge-1", NodeURL: "https://edge-1.example:4443"},
			NodeIdentity{NodeID: "edge-1", NodeURL: "https://edge-1.example:4443"}},
	} {
		got, err := a.VerifyNode(sign(tc.claims, time.Hour))
		if err != nil {
			t.Errorf("%s: node token refused: %v", name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: identity %+v, want %+v", name, got, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		a     *Authenticator
		token string
		want  error
	}{
		"viewer token":       {a, sign(Claims{Get: []string{""}}, time.Hour), ErrNotCluster},
		"bound viewer token": {a, sign(Claims{Get: []string{""}, Node: "edge-1"}, time.Hour), ErrNotCluster},
		"expired":            {a, sign(Claims{Cluster: true, Node: "edge-1"}, -time.Hour), ErrExpired},
		"garbage":            {a, "x.y.z", ErrMalformed},
		"auth disabled":      {nil, sign(Claims{Cluster: true}, time.Hour), ErrUnauthorized},
	} {
		id, err := tc.a.VerifyNode(tc.token)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if id != (NodeIdentity{}) {
			t.Errorf("%s: refused token still returned identity %+v", name, id)
		}
	}
}

// A node binding is part of the signed payload: changing it breaks the
// signature, so a holder cannot re-bind a token to another node.
func TestNodeBindingIsSigned(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k.jwk")
	jwk, err := GenerateKey(EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := Sign(keyFile, Claims{Cluster: true, Node: "edge-1", NodeURL: "https://edge-1.example:4443",
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), `"node":"edge-1"`) || !strings.Contains(string(payload), `"node_url":"https://edge-1.example:4443"`) {
		t.Fatalf("payload %s lacks the node and node_url claims", payload)
	}
	forged := strings.Replace(string(payload), "edge-1.example", "evil.example", 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	a, err := New(Options{Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := a.VerifyNode(strings.Join(parts, ".")); !errors.Is(err, ErrSignature) {
		t.Fatalf("re-bound token: identity %+v, err %v; want %v", id, err, ErrSignature)
	}
}
