// Command moq is a small MoQ client: it publishes stdin as a track, prints a
// subscribed track to stdout, or lists a relay's announcements.
//
//	moq pub  URL BROADCAST TRACK   < frames   (one line per frame)
//	moq sub  URL BROADCAST TRACK   > frames   (one line per frame)
//	moq announced URL [PREFIX]                (+path / -path lines)
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	_ "github.com/moq-cluster/moq-relay/moqt/lite" // registers moq-lite
	"github.com/moq-cluster/moq-relay/transport"
)

// clientFlags are shared by every subcommand.
type clientFlags struct {
	fingerprints []string
	insecure     bool
	quic         bool
	verbose      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var f clientFlags
	root := &cobra.Command{
		Use:   "moq",
		Short: "Publish to and subscribe from a MoQ relay",
		Long: `moq publishes stdin to a MoQ relay or prints a track from it.

URLs: moqt://host:port/path (raw QUIC), https://host:port/path (WebTransport,
or raw QUIC with --quic), http://host:port/path (development: fetch the
certificate hash from the relay over plain HTTP and pin it).`,
		SilenceUsage: true,
	}
	pf := root.PersistentFlags()
	pf.StringSliceVar(&f.fingerprints, "fingerprint", nil, "pin the server certificate by its SHA-256 (hex), repeatable")
	pf.BoolVar(&f.insecure, "insecure", false, "skip certificate verification (development only)")
	pf.BoolVar(&f.quic, "quic", false, "use raw QUIC for https:// URLs")
	pf.BoolVarP(&f.verbose, "verbose", "v", false, "log to stderr")
	root.AddCommand(newPubCmd(&f), newSubCmd(&f), newAnnouncedCmd(&f))
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

func (f *clientFlags) connect(ctx context.Context, url string, cfg moqt.SessionConfig) (moqt.Session, error) {
	opts := moqt.ConnectOptions{SessionConfig: cfg, InsecureSkipVerify: f.insecure, QUIC: f.quic}
	for _, s := range f.fingerprints {
		fp, err := transport.ParseFingerprint(s)
		if err != nil {
			return nil, fmt.Errorf("--fingerprint: %w", err)
		}
		opts.Fingerprints = append(opts.Fingerprints, fp)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return moqt.Connect(dialCtx, url, opts)
}

func newPubCmd(f *clientFlags) *cobra.Command {
	var perGroup int
	var maxFrame int
	var linger time.Duration
	cmd := &cobra.Command{
		Use:   "pub URL BROADCAST TRACK",
		Short: "Publish stdin, one frame per line",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if perGroup < 1 {
				return errors.New("--group-frames must be at least 1")
			}
			log := f.logger()
			origin := moqt.NewOrigin()
			b := moqt.NewBroadcast(moqt.TrackOptions{})
			defer b.Close()
			track, err := b.CreateTrack(args[2])
			if err != nil {
				return err
			}
			origin.Publish(args[1], b, moqt.PublishOptions{})
			sess, err := f.connect(cmd.Context(), args[0], moqt.SessionConfig{Origin: origin, Logger: log})
			if err != nil {
				return err
			}
			defer closeSession(sess)
			return publishLines(cmd.Context(), os.Stdin, track, perGroup, maxFrame, linger, sess)
		},
	}
	cmd.Flags().IntVar(&perGroup, "group-frames", 1, "frames per group (a new group starts every N lines)")
	cmd.Flags().IntVar(&maxFrame, "max-frame", 1<<20, "longest line accepted, in bytes")
	cmd.Flags().DurationVar(&linger, "linger", time.Second, "keep the session open this long after stdin ends")
	return cmd
}

// publishLines writes each line of r as a frame, perGroup frames per group,
// until r ends, ctx ends or the session does.
func publishLines(ctx context.Context, r io.Reader, track *moqt.TrackWriter, perGroup, maxFrame int, linger time.Duration, sess moqt.Session) error {
	lines := make(chan []byte)
	scanErr := make(chan error, 1)
	go func() { // ends when stdin does; the process exits right after
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxFrame)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		scanErr <- sc.Err()
		close(lines)
	}()
	var g *moqt.GroupWriter
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			return fmt.Errorf("session ended: %w", sess.Err())
		case line, ok := <-lines:
			if !ok {
				if g != nil {
					_ = g.Close()
				}
				_ = track.Close()
				// Give subscribers a moment to drain before the session closes.
				select {
				case <-ctx.Done():
				case <-sess.Done():
				case <-time.After(linger):
				}
				return <-scanErr
			}
			if g == nil {
				var err error
				if g, err = track.AppendGroup(); err != nil {
					return err
				}
			}
			if err := g.WriteFrame(line); err != nil {
				return err
			}
			if n++; n%perGroup == 0 {
				_ = g.Close()
				g = nil
			}
		}
	}
}

func newSubCmd(f *clientFlags) *cobra.Command {
	var (
		count  int
		noWait bool
	)
	cmd := &cobra.Command{
		Use:   "sub URL BROADCAST TRACK",
		Short: "Print a track, one frame per line",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			sess, err := f.connect(cmd.Context(), args[0], moqt.SessionConfig{Logger: f.logger()})
			if err != nil {
				return err
			}
			defer closeSession(sess)
			if !noWait {
				if err := waitForBroadcast(cmd.Context(), sess, args[1]); err != nil {
					return err
				}
			}
			reader, err := sess.Consume(args[1]).Subscribe(args[2], moqt.ReaderOptions{})
			if err != nil {
				return err
			}
			defer reader.Close()
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			return printTrack(cmd.Context(), reader, out, count)
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many frames (0: until the track ends)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "subscribe by name at once instead of waiting for the broadcast to be announced (a cluster leaf does not announce broadcasts published on other nodes)")
	return cmd
}

// waitForBroadcast blocks until the relay announces path.
func waitForBroadcast(ctx context.Context, sess moqt.Session, path string) error {
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		return err
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", path, err)
		}
		if a.Active && a.Path == moqt.CleanPath(path) {
			return nil
		}
	}
}

func printTrack(ctx context.Context, reader *moqt.TrackReader, out *bufio.Writer, count int) error {
	printed := 0
	for {
		g, err := reader.NextGroup(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		for {
			frame, err := g.ReadFrame(ctx)
			if err != nil {
				break // group ended or was dropped: go to the next one
			}
			out.Write(frame)
			out.WriteByte('\n')
			out.Flush()
			if printed++; count > 0 && printed >= count {
				return nil
			}
		}
	}
}

func newAnnouncedCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "announced URL [PREFIX]",
		Short: "Print broadcasts as they are announced (+path) and end (-path)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			sess, err := f.connect(cmd.Context(), args[0], moqt.SessionConfig{Logger: f.logger()})
			if err != nil {
				return err
			}
			defer closeSession(sess)
			ar, err := sess.Announced(cmd.Context(), prefix)
			if err != nil {
				return err
			}
			defer ar.Close()
			for {
				a, err := ar.Next(cmd.Context())
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
				sign := "-"
				if a.Active {
					sign = "+"
				}
				fmt.Printf("%s%s\n", sign, a.Path)
			}
		},
	}
}

func closeSession(sess moqt.Session) {
	sess.CloseWithError(0, "bye")
	select {
	case <-sess.Done():
	case <-time.After(2 * time.Second):
	}
}
