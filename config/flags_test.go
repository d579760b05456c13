package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestFlagsApplyOnlyWhenSet(t *testing.T) {
	c, _, err := Load("", []string{"MOQ_LOG_LEVEL=error", "MOQ_BIND=env:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyFlags(parseFlags(t, "--log-format=json"), c); err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "error" || c.Server.Bind != "env:1" {
		t.Fatalf("unset flags overrode env: level %q, bind %q", c.Log.Level, c.Server.Bind)
	}
	if c.Log.Format != "json" {
		t.Fatalf("set flag not applied: format %q", c.Log.Format)
	}
}

func TestFlagsEveryShortcut(t *testing.T) {
	fs := parseFlags(t,
		"--bind", "127.0.0.1:9",
		"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-generate", "a,b",
		"--log-level", "debug", "--log-format", "json",
		"--cluster-root", "https://r1.example.com:1", "--cluster-root", "https://r2.example.com:1,https://r3.example.com:1",
		"--cluster-node", "https://n.example.com:1", "--cluster-id", "n", "--cluster-token", "/secret",
	)
	c := Default()
	if err := ApplyFlags(fs, c); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Bind = "127.0.0.1:9"
	want.Server.TLS.Cert, want.Server.TLS.Key, want.Server.TLS.Generate = "c.pem", "k.pem", []string{"a", "b"}
	want.Log = LogConfig{Level: "debug", Format: "json"}
	want.Cluster.Root = []string{"https://r1.example.com:1", "https://r2.example.com:1", "https://r3.example.com:1"}
	want.Cluster.Node, want.Cluster.ID, want.Cluster.TokenFile = "https://n.example.com:1", "n", "/secret"
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestFlagsHelp(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs)
	help := fs.FlagUsages()
	for _, want := range []string{
		`--bind host:port`, `(default "[::]:4443")`, "[env MOQ_BIND]",
		"--tls-generate host", "--cluster-token file", "[env MOQ_CLUSTER_TOKEN]",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "default []") {
		t.Errorf("empty list defaults should not be shown:\n%s", help)
	}
}

// A command may register a flag of the same name itself; ApplyFlags then
// reads it through its text form.
func TestFlagsRegisteredElsewhere(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.StringSlice("cluster-root", nil, "")
	fs.String("log-level", "info", "")
	if err := fs.Parse([]string{"--cluster-root", "https://a.example.com:1,https://b.example.com:1", "--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := ApplyFlags(fs, c); err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://a.example.com:1", "https://b.example.com:1"}; !reflect.DeepEqual(c.Cluster.Root, want) {
		t.Fatalf("root = %q, want %q", c.Cluster.Root, want)
	}
	if c.Log.Level != "warn" {
		t.Fatalf("level = %q", c.Log.Level)
	}
}
