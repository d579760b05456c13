package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moq-relay.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func parseFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestPrecedence stacks the layers one at a time and checks that each field
// takes the value of the highest layer that sets it.
func TestPrecedence(t *testing.T) {
	path := writeConfig(t, `
[server]
bind = "file.example:1"
[server.tls]
generate = ["file.example"]
[log]
level = "warn"
[relay]
cache_groups = 4
[cluster.sync]
heartbeat_interval = 2
`)
	env := []string{
		"MOQ_SERVER_BIND=env.example:2",
		"MOQ_TLS_GENERATE=env1.example, env2.example",
		"MOQ_LOG_LEVEL=error",
		"MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL=300ms",
	}
	args := []string{"--bind", "flag.example:3", "--tls-generate", "a.example", "--tls-generate=b.example,c.example"}

	type view struct {
		bind        string
		generate    []string
		level       string
		cacheGroups int
		heartbeat   time.Duration
		format      string
	}
	stages := []struct {
		name string
		path string
		env  []string
		args []string
		want view
	}{
		{"defaults", "", nil, nil,
			view{"[::]:4443", nil, "info", 8, time.Second, "console"}},
		{"file", path, nil, nil,
			view{"file.example:1", []string{"file.example"}, "warn", 4, 2 * time.Second, "console"}},
		{"env", path, env, nil,
			view{"env.example:2", []string{"env1.example", "env2.example"}, "error", 4, 300 * time.Millisecond, "console"}},
		{"flags", path, env, args,
			view{"flag.example:3", []string{"a.example", "b.example", "c.example"}, "error", 4, 300 * time.Millisecond, "console"}},
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			c, _, err := Load(st.path, st.env)
			if err != nil {
				t.Fatal(err)
			}
			if err := ApplyFlags(parseFlags(t, st.args...), c); err != nil {
				t.Fatal(err)
			}
			got := view{c.Server.Bind, c.Server.TLS.Generate, c.Log.Level, c.Relay.CacheGroups,
				c.Cluster.Sync.HeartbeatInterval.Std(), c.Log.Format}
			if !reflect.DeepEqual(got, st.want) {
				t.Fatalf("got  %+v\nwant %+v", got, st.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	path := writeConfig(t, "[server.tls]\ngenerate = [\"localhost\"]\n")
	env := []string{"MOQ_CONFIG=" + path, "MOQ_LOG_LEVLE=debug", "HOME=/root"}
	c, warnings, err := Resolve("", env, parseFlags(t, "--log-format", "json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Server.TLS.Generate, []string{"localhost"}) || c.Log.Format != "json" {
		t.Fatalf("file or flag not applied: %+v", c)
	}
	want := "ignoring unknown environment variable MOQ_LOG_LEVLE (did you mean MOQ_LOG_LEVEL?)"
	if len(warnings) != 1 || warnings[0] != want {
		t.Fatalf("warnings = %q, want [%q]", warnings, want)
	}

	// An explicit path beats $MOQ_CONFIG; a nil flag set is allowed.
	if _, _, err := Resolve(filepath.Join(t.TempDir(), "missing.toml"), env, nil); err == nil {
		t.Fatal("missing file accepted")
	}

	_, warnings, err = Resolve("", []string{"MOQ_NOPE=1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--tls-generate localhost") {
		t.Fatalf("want the TLS validation error, got %v", err)
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings must survive an error, got %q", warnings)
	}
}

func TestUnknownTOMLKeys(t *testing.T) {
	path := writeConfig(t, `
[server]
bnd = "x:1"
[cluster]
heartbeat_interval = 1
[nonsense]
a = 1
b.c = 2
`)
	_, _, err := Load(path, nil)
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		path,
		"server.bnd (did you mean server.bind?)",
		"cluster.heartbeat_interval (did you mean cluster.sync.heartbeat_interval?)",
		"nonsense",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "nonsense.a") {
		t.Errorf("error %q lists keys inside an unknown table", msg)
	}
}

func TestFileTypeError(t *testing.T) {
	path := writeConfig(t, "[cluster.sync]\nheartbeat_interval = \"often\"\n")
	_, _, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "heartbeat_interval") {
		t.Fatalf("want an error naming the key, got %v", err)
	}
}

func TestEnvParseErrorNamesVariable(t *testing.T) {
	_, _, err := Load("", []string{
		"MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL=often",
		"MOQ_RELAY_CACHE_GROUPS=eight",
		"MOQ_CLUSTER_ROUTING_CPU_THRESHOLD=high",
	})
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{
		"MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL", "MOQ_RELAY_CACHE_GROUPS", "MOQ_CLUSTER_ROUTING_CPU_THRESHOLD",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestEnvShortNames(t *testing.T) {
	c, _, err := Load("", []string{
		"MOQ_BIND=127.0.0.1:5000",
		"MOQ_TLS_CERT=/c.pem",
		"MOQ_TLS_KEY=/k.pem",
		"MOQ_CLUSTER_TOKEN=/secret",
		"MOQ_CLUSTER_ID=n1",
		"MOQ_LOG_FORMAT=",              // empty counts as unset
		"MOQ_LOG_FORMAT_EXTRA=ignored", // unknown, not an error
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Server.Bind, c.Server.TLS.Cert, c.Server.TLS.Key, c.Cluster.TokenFile, c.Cluster.ID, c.Log.Format}
	want := []string{"127.0.0.1:5000", "/c.pem", "/k.pem", "/secret", "n1", "console"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEnvSameKeyTwice(t *testing.T) {
	_, _, err := Load("", []string{"MOQ_BIND=a:1", "MOQ_SERVER_BIND=b:2"})
	if err == nil || !strings.Contains(err.Error(), "MOQ_BIND") || !strings.Contains(err.Error(), "MOQ_SERVER_BIND") {
		t.Fatalf("want a conflict naming both variables, got %v", err)
	}
	c, _, err := Load("", []string{"MOQ_BIND=a:1", "MOQ_SERVER_BIND=a:1"})
	if err != nil || c.Server.Bind != "a:1" {
		t.Fatalf("agreeing variables: %v, %q", err, c.Server.Bind)
	}
	c, _, err = Load("", []string{"MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL=1", "MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL=2"})
	if err != nil || c.Cluster.Sync.HeartbeatInterval.Std() != 2*time.Second {
		t.Fatalf("a repeated entry should let the last win: %v, %v", err, c.Cluster.Sync.HeartbeatInterval)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"MOQ_ZZZ=1", "MOQ_CONFIG=x", "MOQ_BIND=y", "PATH=/bin", "MOQ_AAA=", "moq_bind=z"})
	if want := []string{"MOQ_AAA", "MOQ_ZZZ"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Every leaf must be reachable from the environment under a unique name.
func TestEveryLeafHasAnEnvName(t *testing.T) {
	seen := make(map[string]string)
	for _, l := range leaves() {
		name := EnvName(l.key)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s share %s", l.key, other, name)
		}
		seen[name] = l.key
		if envTargets()[name] != canonicalKey(l.key) {
			t.Errorf("%s does not set %s", name, l.key)
		}
	}
	for _, s := range shortcuts {
		if _, ok := leafByKey()[s.key]; !ok {
			t.Errorf("shortcut --%s names unknown key %s", s.flag, s.key)
		}
		if target, ok := seen[s.env]; ok && target != s.key {
			t.Errorf("short name %s collides with key %s", s.env, target)
		}
	}
	for _, a := range keyAliases {
		if field(Default(), a.alias).Type() != field(Default(), a.canonical).Type() {
			t.Errorf("alias %s and %s differ in type", a.alias, a.canonical)
		}
	}
}
