package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/moq-cluster/moq-relay/cmd/internal/buildinfo"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
)

// Exit statuses of the interop runner's test-client interface.
const (
	exitPass        = 0
	exitFail        = 1
	exitUnsupported = 127
)

const defaultRelay = "https://localhost:4443"

// options are the command line after the environment has filled in what
// the flags left unset.
type options struct {
	relay    string
	test     string
	list     bool
	verbose  bool
	insecure bool
	draft    string
}

// usageError is a command line the client cannot run; unsupported marks a
// test case or draft it does not implement (exit 127).
type usageError struct {
	err         error
	unsupported bool
}

func (e *usageError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: it parses args (with getenv for the runner's
// variables), writes TAP to stdout and diagnostics to stderr, and returns
// the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	code := exitPass
	var o options
	cmd := newRootCmd(&o, getenv, stdout, stderr, &code)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "moq-test-client:", err)
		var ue *usageError
		if errors.As(err, &ue) && ue.unsupported {
			return exitUnsupported
		}
		return exitFail
	}
	return code
}

func newRootCmd(o *options, getenv func(string) string, stdout, stderr io.Writer, code *int) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "moq-test-client",
		Short: "MoQT interop test client (moq-interop-runner interface)",
		Long: `moq-test-client runs the moq-interop-runner test cases against a relay
with the IETF moq-transport codec and prints TAP version 14 on stdout.

Relay URLs: https://host:port/path (WebTransport), moqt://host:port/path
(raw QUIC; the path travels in SETUP). Environment: RELAY_URL, TESTCASE,
TLS_DISABLE_VERIFY=1, VERBOSE=1, MOQT_DRAFT; flags given on the command line
win over the environment.

Exit status: 0 all requested tests passed, 1 one or more failed, 127 the test
case or draft is not supported by this client.`,
		Version:       buildinfo.String(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			applyEnv(cmd.Flags(), o, getenv)
			if o.list {
				for _, c := range cases {
					fmt.Fprintln(stdout, c.name)
				}
				return nil
			}
			selected, drafts, err := o.plan()
			if err != nil {
				return err
			}
			r := &runner{
				relay:    o.relay,
				insecure: o.insecure,
				tap:      newTAP(stdout),
				trace:    newTrace(stderr, o.verbose),
			}
			if !r.runAll(cmd.Context(), selected, drafts) {
				*code = exitFail
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.relay, "relay", "r", defaultRelay, "relay `URL`: https:// (WebTransport) or moqt:// (raw QUIC)")
	f.StringVarP(&o.test, "test", "t", "", "run only the test case `NAME` (default: all)")
	f.BoolVarP(&o.list, "list", "l", false, "list the test cases and exit")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "trace every control message on stderr")
	f.BoolVar(&o.insecure, "tls-disable-verify", false, "do not verify the relay's certificate")
	f.StringVar(&o.draft, "draft", "18", "moq-transport `DRAFT` to speak (14..20), or \"all\" to run each case on every draft")
	cmd.SetVersionTemplate("moq-test-client {{.Version}}\n")
	return cmd
}

// applyEnv fills the options from the runner's environment variables where
// the command line left them unset: the environment overrides defaults, not
// explicit flags.
func applyEnv(f *pflag.FlagSet, o *options, getenv func(string) string) {
	if v := getenv("RELAY_URL"); v != "" && !f.Changed("relay") {
		o.relay = v
	}
	if v := getenv("TESTCASE"); v != "" && !f.Changed("test") {
		o.test = v
	}
	if getenv("TLS_DISABLE_VERIFY") == "1" && !f.Changed("tls-disable-verify") {
		o.insecure = true
	}
	if getenv("VERBOSE") == "1" && !f.Changed("verbose") {
		o.verbose = true
	}
	if v := getenv("MOQT_DRAFT"); v != "" && !f.Changed("draft") {
		o.draft = v
	}
}

// plan resolves the test and draft selection.
func (o *options) plan() ([]testCase, []message.Version, error) {
	selected := cases
	if o.test != "" {
		c, ok := caseNamed(o.test)
		if !ok {
			return nil, nil, &usageError{err: fmt.Errorf("unknown test case %q (--list shows them)", o.test), unsupported: true}
		}
		selected = []testCase{c}
	}
	drafts, err := parseDrafts(o.draft)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRelayURL(o.relay); err != nil {
		return nil, nil, &usageError{err: err}
	}
	return selected, drafts, nil
}

// parseDrafts reads --draft: "all", or one draft as "18", "draft-18",
// "moqt-18" (or "moq-00" for draft-14).
func parseDrafts(s string) ([]message.Version, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "all" {
		// Oldest first, so a run reads in draft order.
		all := make([]message.Version, 0, len(message.Versions))
		for i := len(message.Versions) - 1; i >= 0; i-- {
			all = append(all, message.Versions[i])
		}
		return all, nil
	}
	if v, ok := message.ParseALPN(s); ok {
		return []message.Version{v}, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "draft-"))
	if err == nil {
		for _, v := range message.Versions {
			if v.String() == fmt.Sprintf("draft-%d", n) {
				return []message.Version{v}, nil
			}
		}
	}
	return nil, &usageError{err: fmt.Errorf("unsupported draft %q (want 14..20 or all)", s), unsupported: true}
}
