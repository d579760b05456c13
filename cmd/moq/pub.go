package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/hang"
)

func newPubCmd(f *clientFlags) *cobra.Command {
	p := &publisher{f: f}
	cmd := &cobra.Command{
		Use:   "pub URL BROADCAST TRACK | pub --media - URL BROADCAST",
		Short: "Publish stdin, one frame per line, or H.264 video (--media)",
		Long: `pub publishes each line of stdin as a frame of a track.

It reports on stderr when it is connected and the relay has the broadcast,
and when it reconnects; lines read while disconnected stay in the track's
cache. When stdin ends the track ends, and pub exits after --linger.

` + mediaHelp + exitCodesHelp,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.perGroup < 1 {
				return errors.New("--group-frames must be at least 1")
			}
			if p.media != "" {
				if len(args) != 2 {
					return errors.New("--media publishes its own tracks: give URL BROADCAST only")
				}
				args = append(args, hang.VideoTrack)
			} else if len(args) != 3 {
				return errors.New("give URL BROADCAST TRACK (or --media - URL BROADCAST)")
			}
			p.url, p.broadcast, p.trackName = args[0], moqt.CleanPath(args[1]), args[2]
			p.log = f.logger()
			p.stderr = cmd.ErrOrStderr()
			return p.run(cmd.Context(), os.Stdin)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&p.perGroup, "group-frames", 1, "frames per group (a new group starts every N lines)")
	fl.IntVar(&p.maxFrame, "max-frame", 1<<20, "longest line accepted, in bytes")
	fl.DurationVar(&p.linger, "linger", time.Second, "keep the session open this long after stdin ends")
	fl.BoolVar(&p.reconnect, "reconnect", true, "reconnect when the connection is lost or the relay is unreachable")
	fl.DurationVar(&p.reconnectMax, "reconnect-max", 10*time.Second, "longest wait between reconnect attempts")
	addMediaFlags(fl, p)
	return cmd
}

// publisher is one `moq pub` run: stdin feeds a track that outlives any one
// session to the relay.
type publisher struct {
	f                         *clientFlags
	url, broadcast, trackName string
	perGroup, maxFrame        int
	linger, reconnectMax      time.Duration
	reconnect                 bool
	media                     string  // --media: H.264 input instead of lines
	fps                       float64 // --fps
	log                       *zap.Logger
	stderr                    io.Writer
}

func (p *publisher) run(ctx context.Context, in io.Reader) error {
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	defer b.Close()
	feed := p.publishMedia
	if p.media == "" {
		track, err := b.CreateTrack(p.trackName)
		if err != nil {
			return err
		}
		feed = func(ctx context.Context, in io.Reader, _ *moqt.Broadcast) error {
			return publishLines(ctx, in, track, p.perGroup, p.maxFrame)
		}
	}
	origin.Publish(p.broadcast, b, moqt.PublishOptions{})

	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	inputDone := make(chan error, 1)
	go func() { inputDone <- feed(feedCtx, in, b) }() // ends with stdin or feedCtx

	bo := backoff{first: 500 * time.Millisecond, max: max(p.reconnectMax, 500*time.Millisecond)}
	var lostAt time.Time
	for {
		goaway := newGoawayNotice()
		sess, err := p.f.connect(ctx, p.url, moqt.SessionConfig{Origin: origin, Logger: p.log, OnGoaway: goaway.note})
		if err == nil {
			err = p.serve(ctx, sess, goaway, inputDone, lostAt)
			if err == nil {
				return nil
			}
			bo.reset()
		}
		if ctx.Err() != nil {
			return nil
		}
		if lostAt.IsZero() {
			lostAt = time.Now()
		}
		var ga *goawayError
		if errors.As(err, &ga) {
			if next := redirectURL(p.url, ga.uri); next != "" {
				p.url = next
			}
			fmt.Fprintf(p.stderr, "moq: the relay sent GOAWAY; reconnecting to %s\n", redact(p.url))
			continue
		}
		var fl *failure
		if !errors.As(err, &fl) || !fl.retry || !p.reconnect {
			return naming(err, fmt.Sprintf("publish broadcast %q track %q", p.broadcast, p.trackName))
		}
		d := bo.next()
		fmt.Fprintf(p.stderr, "moq: %v; reconnecting in %s\n", fl, d.Round(time.Millisecond))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil
		case err := <-inputDone:
			return err // stdin ended while disconnected: nothing left to deliver
		}
	}
}

// serve runs one session until stdin ends (nil after --linger), ctx ends
// (nil), or the session ends or is redirected (the error saying so).
func (p *publisher) serve(ctx context.Context, sess moqt.Session, goaway goawayNotice, inputDone <-chan error, lostAt time.Time) error {
	defer closeSession(sess)
	what := fmt.Sprintf("broadcast %q track %q", p.broadcast, p.trackName)
	verb := "connected to"
	if !lostAt.IsZero() {
		verb = fmt.Sprintf("reconnected after %s to", time.Since(lostAt).Round(time.Millisecond))
	}
	if err := confirmPublished(ctx, sess, p.broadcast); err != nil {
		if f := sessionFailure(err); f != nil {
			return f
		}
		if ctx.Err() != nil {
			return nil
		}
		settle(sess)
		select {
		case <-sess.Done():
			return sessionEnded(sess)
		default:
		}
		fmt.Fprintf(p.stderr, "moq: %s %s (%s); offering %s (the relay did not confirm it: %v)\n", verb, redact(p.url), sess.Version(), what, err)
	} else {
		fmt.Fprintf(p.stderr, "moq: %s %s (%s); publishing %s\n", verb, redact(p.url), sess.Version(), what)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-inputDone:
		// Give subscribers a moment to drain before the session closes.
		select {
		case <-ctx.Done():
		case <-sess.Done():
		case <-time.After(p.linger):
		}
		return err
	case <-sess.Done():
		return sessionEnded(sess)
	case uri := <-goaway:
		return &goawayError{uri: uri}
	}
}

// sessionEnded says why a session ended.
func sessionEnded(sess moqt.Session) error {
	err := sess.Err()
	if f := sessionFailure(err); f != nil {
		return f
	}
	if err == nil {
		err = errors.New("session ended")
	}
	return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("connection lost: %w", err)}
}

// confirmPublished waits (at most 2 s) for the relay to announce our own
// broadcast back: proof that it accepted the session and has the broadcast.
func confirmPublished(ctx context.Context, sess moqt.Session, path string) error {
	ctx, cancel := context.WithTimeoutCause(ctx, 2*time.Second, errors.New("no announcement within 2s"))
	defer cancel()
	return waitForBroadcast(ctx, sess, path)
}

// publishLines writes each line of r as a frame, perGroup frames per group,
// until r ends (the track is then closed) or ctx ends.
func publishLines(ctx context.Context, r io.Reader, track *moqt.TrackWriter, perGroup, maxFrame int) error {
	lines := make(chan []byte)
	scanErr := make(chan error, 1)
	go func() { // ends when r does; the process exits right after
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxFrame)
		for sc.Scan() {
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-ctx.Done():
				return
			}
		}
		scanErr <- sc.Err()
	}()
	var g *moqt.GroupWriter
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				if g != nil {
					_ = g.Close()
				}
				_ = track.Close()
				select {
				case err := <-scanErr:
					if err != nil {
						return fmt.Errorf("read stdin: %w", err)
					}
				default:
				}
				return nil
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
