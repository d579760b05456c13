// Command moq is a small MoQ client: it publishes stdin as a track, prints a
// subscribed track to stdout, or lists a relay's announcements.
//
//	moq pub  URL BROADCAST TRACK   < frames   (one line per frame)
//	moq sub  URL BROADCAST TRACK   > frames   (one line per frame)
//	moq announced URL [PREFIX]                (+path / -path lines)
//	moq version
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cmd/internal/buildinfo"
	_ "github.com/moq-cluster/moq-relay/cmd/internal/dialects" // every MoQ dialect
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// clientFlags are shared by every subcommand.
type clientFlags struct {
	fingerprints []string
	resolve      []string
	insecure     bool
	quic         bool
	protocols    []string
	verbose      bool
	idleTimeout  time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(report(err))
}

const exitCodesHelp = `Exit status:
  0  the track ended cleanly (its publisher ended it), --count frames were
     printed, stdin ended (pub), or the command was interrupted
  1  usage or other error
  2  refused by the relay: unauthorized (code 6: no token, bad or expired
     token, URL path outside the token's root, no get/put rights), session
     limit exceeded, or no common protocol version; never retried
  3  not found: the broadcast or track does not exist at the relay (sub), or
     was not announced within --wait-timeout
  4  connection failed or lost (unreachable, certificate not trusted, relay
     gone) and not retried (--reconnect=false) or not retryable
  5  source lost: the relay ended the track before its publisher did and
     --reconnect=false`

func newRootCmd() *cobra.Command {
	var f clientFlags
	root := &cobra.Command{
		Use:   "moq",
		Short: "Publish to and subscribe from a MoQ relay",
		Long: `moq publishes stdin to a MoQ relay or prints a track from it.

URLs: moqt://host:port/path (raw QUIC), https://host:port/path (WebTransport,
or raw QUIC with --quic), http://host:port/path (development: fetch the
certificate hash from the relay over plain HTTP and pin it). A token goes in
the query: https://relay:4443/room?jwt=TOKEN. --resolve HOST:PORT:ADDR reaches
a chosen node by a public name without DNS, as curl's does:
moq sub --resolve cdn.example.com:4443:192.0.2.10 https://cdn.example.com:4443/room clock seconds

sub and pub reconnect when the connection is lost or the relay is
unreachable, with exponential backoff (0.5 s doubling to --reconnect-max,
with jitter), and follow a GOAWAY redirect; refusals are not retried.
--reconnect=false exits instead. Errors and reconnects are reported on
stderr; stdout carries only frames.

` + exitCodesHelp,
		Version:       buildinfo.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringSliceVar(&f.fingerprints, "fingerprint", nil, "pin the server certificate by its SHA-256 (hex), repeatable")
	pf.BoolVar(&f.insecure, "insecure", false, "skip certificate verification (development only)")
	pf.StringArrayVar(&f.resolve, "resolve", nil, "connect to `HOST:PORT:ADDR` instead of what HOST resolves to, keeping HOST for TLS and the URL (as curl does), repeatable")
	pf.BoolVar(&f.quic, "quic", false, "use raw QUIC for https:// URLs")
	pf.StringSliceVar(&f.protocols, "protocol", nil, "offer only these MoQ protocols, in order (e.g. moq-lite-04, moqt-18, moq-00 for moq-transport draft-14), repeatable or comma-separated; default: every one this build speaks, moq-lite first")
	pf.BoolVarP(&f.verbose, "verbose", "v", false, "log to stderr")
	pf.DurationVar(&f.idleTimeout, "idle-timeout", 6*time.Second, "declare the connection lost after this long without a packet from the relay")
	root.SetVersionTemplate("moq {{.Version}}\n")
	root.AddCommand(newPubCmd(&f), newSubCmd(&f), newAnnouncedCmd(&f), buildinfo.Command("moq"))
	return root
}

func (f *clientFlags) logger() *zap.Logger {
	if !f.verbose {
		return zap.NewNop()
	}
	cfg := zap.NewDevelopmentConfig()
	cfg.OutputPaths = []string{"stderr"}
	log, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return log
}

// connect dials url and runs the handshake. Errors are classified (see
// failure) so callers can decide to retry and main can pick the exit status.
func (f *clientFlags) connect(ctx context.Context, url string, cfg moqt.SessionConfig) (moqt.Session, error) {
	opts := moqt.ConnectOptions{SessionConfig: cfg, InsecureSkipVerify: f.insecure, QUIC: f.quic, IdleTimeout: f.idleTimeout}
	for _, p := range f.protocols {
		if !slices.Contains(moqt.Protocols(), p) {
			return nil, &failure{exit: exitError, err: fmt.Errorf("--protocol %q: not one this build speaks (%s)", p, strings.Join(moqt.Protocols(), ", "))}
		}
		opts.Protocols = append(opts.Protocols, p)
	}
	for _, s := range f.fingerprints {
		fp, err := transport.ParseFingerprint(s)
		if err != nil {
			return nil, &failure{exit: exitError, err: fmt.Errorf("--fingerprint: %w", err)}
		}
		opts.Fingerprints = append(opts.Fingerprints, fp)
	}
	resolve, err := parseResolve(f.resolve)
	if err != nil {
		return nil, &failure{exit: exitError, err: err}
	}
	opts.Resolve = resolve
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sess, err := moqt.Connect(dialCtx, url, opts)
	if err != nil {
		return nil, connectFailure(url, err)
	}
	return sess, nil
}

func closeSession(sess moqt.Session) {
	sess.CloseWithError(0, "bye")
	select {
	case <-sess.Done():
	case <-time.After(2 * time.Second):
	}
}

// sleepCtx waits d or until ctx ends; it reports whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// report prints err on stderr and returns the exit status for it.
func report(err error) int {
	if err == nil {
		return exitOK
	}
	var fl *failure
	if !errors.As(err, &fl) {
		fmt.Fprintln(os.Stderr, "moq:", err)
		return exitError
	}
	fmt.Fprintln(os.Stderr, "moq:", fl.Error())
	if fl.hint != "" {
		fmt.Fprintln(os.Stderr, "hint:", fl.hint)
	}
	return fl.exit
}
