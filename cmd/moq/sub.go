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
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

func newSubCmd(f *clientFlags) *cobra.Command {
	s := &subscriber{f: f}
	cmd := &cobra.Command{
		Use:   "sub URL BROADCAST TRACK",
		Short: "Print a track, one frame per line",
		Long: `sub prints each frame of a track as a line on stdout.

It waits for the broadcast to be announced, then subscribes (--no-wait
subscribes by name at once). When the connection is lost, the relay is
unreachable, or the relay loses the track's source, it reconnects with
backoff and resubscribes; frames of a group it already printed are not
printed again (groups carry sequence numbers; a publisher that restarted
numbers from 0 again, which is printed). Why a track ended goes to stderr.

` + exitCodesHelp,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			s.url, s.broadcast, s.track = args[0], moqt.CleanPath(args[1]), args[2]
			s.log = f.logger()
			s.stderr = cmd.ErrOrStderr()
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			s.p = &printer{out: out, count: s.count}
			return s.run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&s.count, "count", 0, "exit after this many frames (0: until the track ends)")
	fl.BoolVar(&s.noWait, "no-wait", false, "subscribe by name at once instead of waiting for the broadcast to be announced (for a broadcast not announced yet)")
	fl.DurationVar(&s.waitTimeout, "wait-timeout", 0, "give up (exit 3) when the broadcast is not announced within this long (0: wait forever)")
	fl.BoolVar(&s.reconnect, "reconnect", true, "reconnect and resubscribe when the connection or the track's source is lost")
	fl.DurationVar(&s.reconnectMax, "reconnect-max", 10*time.Second, "longest wait between reconnect attempts")
	return cmd
}

// subscriber is one `moq sub` run: a subscription kept alive across
// reconnects.
type subscriber struct {
	f                         *clientFlags
	url, broadcast, track     string
	count                     int
	noWait, reconnect         bool
	waitTimeout, reconnectMax time.Duration
	log                       *zap.Logger
	stderr                    io.Writer
	p                         *printer

	lostAt time.Time // when the subscription was lost; zero while it runs
}

// goawayError ends an attempt whose session the relay asked us to leave.
type goawayError struct{ uri string }

func (e *goawayError) Error() string { return "relay sent GOAWAY" }

// errCountReached ends a subscription that printed --count frames.
var errCountReached = errors.New("count reached")

func (s *subscriber) run(ctx context.Context) error {
	bo := backoff{first: 500 * time.Millisecond, max: max(s.reconnectMax, 500*time.Millisecond)}
	for {
		printed := s.p.printed
		err := s.attempt(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		var ga *goawayError
		if errors.As(err, &ga) {
			if next := redirectURL(s.url, ga.uri); next != "" {
				s.url = next
			}
			fmt.Fprintf(s.stderr, "moq: the relay sent GOAWAY; reconnecting to %s\n", redact(s.url))
			s.markLost()
			bo.reset()
			continue
		}
		var fl *failure
		if !errors.As(err, &fl) || !fl.retry || !s.reconnect {
			return naming(err, fmt.Sprintf("subscribe to broadcast %q track %q", s.broadcast, s.track))
		}
		s.markLost()
		if s.p.printed > printed {
			bo.reset() // it worked for a while: start the backoff afresh
		}
		d := bo.next()
		fmt.Fprintf(s.stderr, "moq: %v; reconnecting in %s\n", fl, d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return nil
		}
	}
}

func (s *subscriber) markLost() {
	if s.lostAt.IsZero() {
		s.lostAt = time.Now()
	}
}

// attempt connects, subscribes and prints until the track or the session
// ends. nil means done: the track ended cleanly or --count was reached.
func (s *subscriber) attempt(parent context.Context) error {
	goaway := newGoawayNotice()
	sess, err := s.f.connect(parent, s.url, moqt.SessionConfig{Logger: s.log, OnGoaway: goaway.note})
	if err != nil {
		return err
	}
	defer closeSession(sess)
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	go func() { // ends with the attempt (cancel above)
		select {
		case uri := <-goaway:
			cancel(&goawayError{uri: uri})
		case <-ctx.Done():
		}
	}()

	if !s.noWait {
		if err := s.waitAnnounced(ctx, sess); err != nil {
			return s.why(ctx, sess, err)
		}
	}
	reader, err := sess.Consume(s.broadcast).Subscribe(s.track, moqt.ReaderOptions{})
	if err != nil {
		return s.why(ctx, sess, err)
	}
	defer reader.Close()
	err = s.p.track(ctx, reader, s.resumed)
	switch {
	case err == nil:
		fmt.Fprintf(s.stderr, "moq: track %q of broadcast %q ended: its publisher ended it\n", s.track, s.broadcast)
		return nil
	case errors.Is(err, errCountReached):
		return nil
	}
	return s.why(ctx, sess, err)
}

// resumed reports, once, how long printing was interrupted.
func (s *subscriber) resumed() {
	if !s.lostAt.IsZero() {
		fmt.Fprintf(s.stderr, "moq: resumed %q after %s\n", s.broadcast, time.Since(s.lostAt).Round(time.Millisecond))
		s.lostAt = time.Time{}
	}
}

// waitAnnounced blocks until the relay announces the broadcast.
func (s *subscriber) waitAnnounced(ctx context.Context, sess moqt.Session) error {
	if s.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.waitTimeout, errNotAnnounced)
		defer cancel()
	}
	return waitForBroadcast(ctx, sess, s.broadcast)
}

var errNotAnnounced = errors.New("not announced in time")

// waitForBroadcast blocks until the relay announces path.
func waitForBroadcast(ctx context.Context, sess moqt.Session, path string) error {
	path = moqt.CleanPath(path)
	ar, err := sess.Announced(ctx, path)
	if err != nil {
		return err
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			return err
		}
		if a.Active && a.Path == path {
			return nil
		}
	}
}

// why turns the error that ended an attempt into a failure saying why, in
// terms of the broadcast and track asked for.
func (s *subscriber) why(ctx context.Context, sess moqt.Session, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		var ga *goawayError
		if errors.As(cause, &ga) {
			return cause
		}
		if ctx.Err() != nil {
			return nil // interrupted
		}
	}
	if errors.Is(err, errNotAnnounced) {
		return &failure{exit: exitNotFound, err: fmt.Errorf("not found: broadcast %q was not announced within %s", s.broadcast, s.waitTimeout),
			hint: "`moq announced URL` lists what the relay announces; --no-wait subscribes without waiting"}
	}
	if f := sessionFailure(err); f != nil {
		return f
	}
	if !moqt.IsCode(err, wire.CodeNotFound) && !moqt.IsCode(err, wire.CodeUnauthorized) {
		settle(sess)
	}
	select {
	case <-sess.Done():
		if f := sessionFailure(sess.Err()); f != nil {
			return f
		}
		return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("connection lost: %w", sess.Err())}
	default:
	}
	switch {
	case moqt.IsCode(err, wire.CodeNotFound):
		return &failure{exit: exitNotFound, retry: s.p.any, err: fmt.Errorf("not found: broadcast %q track %q is not published at the relay", s.broadcast, s.track),
			hint: "names are case-sensitive and relative to the URL's path; `moq announced URL` lists the broadcasts"}
	case moqt.IsCode(err, wire.CodeUnauthorized):
		return &failure{exit: exitRefused, err: fmt.Errorf("refused: not allowed to subscribe to broadcast %q: %w", s.broadcast, err),
			hint: "the token's get prefixes do not cover this broadcast"}
	}
	return &failure{exit: exitSourceLost, retry: true,
		err: fmt.Errorf("source lost: the relay ended track %q of broadcast %q before its publisher did (%v)", s.track, s.broadcast, err)}
}

// printer writes frames as lines, remembering where it got to so a
// resubscription does not print a frame twice.
type printer struct {
	out     *bufio.Writer
	count   int
	printed int
	any     bool   // a frame was printed
	lastSeq uint64 // group of the last printed frame
	inLast  int    // frames printed of that group
	skipped int    // frames not printed again after a resubscribe
}

// track prints the reader's groups until the track ends (nil), --count is
// reached (errCountReached) or it fails. onFirst runs before the first frame.
func (p *printer) track(ctx context.Context, reader *moqt.TrackReader, onFirst func()) error {
	first := true
	for {
		g, err := reader.NextGroup(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// A subscription starts at the latest group: if that is the one
		// printed last, skip what was printed of it. A lower sequence means
		// the publisher restarted and numbers afresh: print it all.
		skip := 0
		if first && p.any && g.Sequence() == p.lastSeq {
			skip = p.inLast
		}
		first = false
		for n := 1; ; n++ {
			frame, err := g.ReadFrame(ctx)
			if err != nil {
				break // group ended or was dropped: go to the next one
			}
			if n <= skip {
				p.skipped++
				continue
			}
			if onFirst != nil {
				onFirst()
				onFirst = nil
			}
			p.out.Write(frame)
			p.out.WriteByte('\n')
			if err := p.out.Flush(); err != nil {
				return &failure{exit: exitError, err: fmt.Errorf("write stdout: %w", err)}
			}
			p.any, p.lastSeq, p.inLast = true, g.Sequence(), n
			if p.printed++; p.count > 0 && p.printed >= p.count {
				return errCountReached
			}
		}
	}
}
