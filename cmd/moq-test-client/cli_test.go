package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// The interface's flags, their short forms, and the environment variables
// that fill in what the command line leaves unset.
func TestFlagsAndEnvironment(t *testing.T) {
	runnerEnv := map[string]string{
		"RELAY_URL": "moqt://relay.example:4443", "TESTCASE": "subscribe-error",
		"TLS_DISABLE_VERIFY": "1", "VERBOSE": "1", "MOQT_DRAFT": "16",
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want options
	}{
		{"defaults", nil, nil, options{relay: defaultRelay, draft: "18"}},
		{"short flags", []string{"-r", "https://a:1", "-t", "setup-only", "-l", "-v"}, nil,
			options{relay: "https://a:1", test: "setup-only", list: true, verbose: true, draft: "18"}},
		{"long flags", []string{"--relay", "moqt://a:1", "--test", "announce-only", "--list", "--verbose", "--tls-disable-verify", "--draft", "all"}, nil,
			options{relay: "moqt://a:1", test: "announce-only", list: true, verbose: true, insecure: true, draft: "all"}},
		{"environment", nil, runnerEnv,
			options{relay: "moqt://relay.example:4443", test: "subscribe-error", verbose: true, insecure: true, draft: "16"}},
		{"flags win over the environment", []string{"-r", "https://b:2", "-t", "setup-only", "--draft", "18"}, runnerEnv,
			options{relay: "https://b:2", test: "setup-only", verbose: true, insecure: true, draft: "18"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o options
			code := 0
			cmd := newRootCmd(&o, env(tc.env), io.Discard, io.Discard, &code)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			applyEnv(cmd.Flags(), &o, env(tc.env))
			if o != tc.want {
				t.Fatalf("options %+v, want %+v", o, tc.want)
			}
		})
	}
}

// --list prints the case names, one a line, in the interface's order; an
// unknown case or draft exits 127; a bad relay URL exits 1.
func TestListAndExitCodes(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-l"}, env(nil), &out, io.Discard); code != exitPass {
		t.Fatalf("--list exited %d", code)
	}
	want := "setup-only\nannounce-only\npublish-namespace-done\nsubscribe-error\nannounce-subscribe\nsubscribe-before-announce\n"
	if out.String() != want {
		t.Fatalf("--list printed %q, want %q", out.String(), want)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want int
	}{
		{[]string{"-t", "single-object"}, nil, exitUnsupported},
		{nil, map[string]string{"TESTCASE": "late-subscriber"}, exitUnsupported},
		{[]string{"--draft", "13"}, nil, exitUnsupported},
		{[]string{"-r", "http://relay:4443"}, nil, exitFail},
		{[]string{"stray-argument"}, nil, exitFail},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, env(tc.env), &stdout, &stderr); code != tc.want {
			t.Errorf("%v %v: exit %d, want %d (stderr %q)", tc.args, tc.env, code, tc.want, stderr.String())
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: printed %q on stdout", tc.args, stdout.String())
		}
	}
}

func TestParseDrafts(t *testing.T) {
	for in, want := range map[string]message.Version{
		"18": message.Draft18, "draft-17": message.Draft17, "moqt-20": message.Draft20,
		"14": message.Draft14, "moq-00": message.Draft14, " Draft-15 ": message.Draft15,
	} {
		got, err := parseDrafts(in)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("parseDrafts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	all, err := parseDrafts("all")
	if err != nil || len(all) != len(message.Versions) || all[0] != message.Draft14 {
		t.Errorf("parseDrafts(all) = %v, %v; want every draft, oldest first", all, err)
	}
}

// A failing case is a "not ok" point whose YAML block carries the duration,
// the connection ID captured before the failure, and what was expected and
// received; the run exits 1. Nothing listens on the port: the QUIC
// handshake times out.
func TestFailureReport(t *testing.T) {
	port := closedUDPPort(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-r", "moqt://127.0.0.1:" + port, "-t", "setup-only"}, env(nil), &stdout, &stderr)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s", code, exitFail, stdout.String())
	}
	points, err := parseTAP(stdout.String())
	if err != nil {
		t.Fatalf("invalid TAP: %v\n%s", err, stdout.String())
	}
	if len(points) != 1 || points[0].ok || points[0].name != "setup-only" {
		t.Fatalf("points %+v", points)
	}
	y := points[0].yaml
	for _, k := range []string{"duration_ms", "connection_id", "expected", "received", "message"} {
		if y[k] == "" {
			t.Errorf("no %s in %v", k, y)
		}
	}
	if !strings.HasPrefix(stdout.String(), "TAP version 14\n# moq-test-client ") || !strings.Contains(stdout.String(), "\n# Draft: draft-18\n1..1\n") {
		t.Errorf("header:\n%s", stdout.String())
	}
	t.Logf("report:\n%s", stdout.String())
}

// closedUDPPort returns a loopback UDP port nothing listens on.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(c.LocalAddr().String())
	c.Close()
	return port
}

func TestYAMLString(t *testing.T) {
	for in, want := range map[string]string{
		"SUBSCRIBE_OK": "SUBSCRIBE_OK",
		"timeout":      "timeout",
		"true":         `"true"`,
		"1st":          `"1st"`,
		`say "hi"`:     `"say \"hi\""`,
		"a: b\n":       `"a: b\n"`,
	} {
		if got := yamlString(in); got != want {
			t.Errorf("yamlString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRedactQuery(t *testing.T) {
	for in, want := range map[string]string{
		"moqt://relay:4443/room?jwt=eyJ.secret": "moqt://relay:4443/room?jwt=REDACTED",
		"https://relay:4443/":                   "https://relay:4443/",
	} {
		if got := redactQuery(in); got != want {
			t.Errorf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
