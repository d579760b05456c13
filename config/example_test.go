package config

import (
	"reflect"
	"strings"
	"testing"
)

// example.toml documents every key at its default; this keeps it honest.
func TestExampleMatchesDefaults(t *testing.T) {
	got, md, err := Load("example.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	for _, l := range leaves() {
		if !md.IsDefined(strings.Split(l.key, ".")...) {
			t.Errorf("example.toml lacks %s", l.key)
		}
		g, w := field(got, l.key), field(want, l.key)
		if sameValue(g, w) {
			continue
		}
		t.Errorf("example.toml sets %s = %q, Default() has %q", l.key, formatValue(g), formatValue(w))
	}
}

// sameValue compares leaves, treating nil and empty lists alike.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

func TestDefaultsValidWithCertificate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	changed := Default()
	changed.Server.Bind = "elsewhere:1"
	if Default().Server.Bind != "[::]:4443" {
		t.Fatal("Default must return a fresh value each time")
	}
}

// The demo cluster's configurations (make run) load and validate.
func TestClusterExamplesValid(t *testing.T) {
	for _, name := range []string{"root", "leaf-a", "leaf-b"} {
		cfg, warnings, err := Resolve("../examples/cluster/"+name+".toml", nil, nil)
		if err != nil {
			t.Fatalf("%s.toml: %v", name, err)
		}
		if len(warnings) > 0 {
			t.Errorf("%s.toml: warnings %v", name, warnings)
		}
		if got, want := len(cfg.Cluster.Roots()) > 0, name != "root"; got != want {
			t.Errorf("%s.toml: leaf = %v, want %v", name, got, want)
		}
		if cfg.Cluster.NodeURL() == "" || cfg.Cluster.TokenFile == "" {
			t.Errorf("%s.toml: node URL %q, token file %q", name, cfg.Cluster.NodeURL(), cfg.Cluster.TokenFile)
		}
	}
}
