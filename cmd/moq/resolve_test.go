package main

import (
	"maps"
	"strings"
	"testing"
)

func TestParseResolve(t *testing.T) {
	good := []struct {
		in   []string
		want map[string]string
	}{
		{nil, nil},
		{[]string{"cdn.example.test:4443:127.0.0.1"}, map[string]string{"cdn.example.test:4443": "127.0.0.1:4443"}},
		{[]string{"CDN.Example.Test:4443:127.0.0.1"}, map[string]string{"cdn.example.test:4443": "127.0.0.1:4443"}},
		{[]string{"cdn.example.test:443:::1"}, map[string]string{"cdn.example.test:443": "[::1]:443"}},
		{[]string{"cdn.example.test:443:[::1]"}, map[string]string{"cdn.example.test:443": "[::1]:443"}},
		{[]string{"[::1]:443:127.0.0.1"}, map[string]string{"[::1]:443": "127.0.0.1:443"}},
		{
			[]string{"cdn.example.test:4443:127.0.0.1", "euc.cdn.example.test:4443:127.0.0.2"},
			map[string]string{"cdn.example.test:4443": "127.0.0.1:4443", "euc.cdn.example.test:4443": "127.0.0.2:4443"},
		},
	}
	for _, c := range good {
		got, err := parseResolve(c.in)
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("parseResolve(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := map[string]string{
		"cdn.example.test":                    "no port",
		"cdn.example.test:4443":               "no address",
		"cdn.example.test:4443:":              "not an IP address",
		"cdn.example.test:4443:other.example": "not an IP address", // never a DNS lookup
		"cdn.example.test:x:127.0.0.1":        "bad port",
		"cdn.example.test:0:127.0.0.1":        "bad port",
		"cdn.example.test:65536:127.0.0.1":    "bad port",
		":4443:127.0.0.1":                     "bad host",
		"[::1:443:127.0.0.1":                  "unclosed",
		"cdn.example.test:4443:127.0.0.1,::1": "one address only",
		"a/b:4443:127.0.0.1":                  "bad host",
	}
	for in, want := range bad {
		_, err := parseResolve([]string{in})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "HOST:PORT:ADDR") {
			t.Errorf("parseResolve(%q) error %v, want one saying %q and the form", in, err, want)
		}
	}
}
