// Command clock publishes the current time to a MoQ relay and/or prints it
// back: broadcast "clock", track "seconds", one group per tick holding one
// frame, the time as text ("2006-01-02 15:04:05.000", UTC).
//
//	clock --mode pub  --url moqt://127.0.0.1:4443/ --fingerprint HEX
//	clock --mode sub  --url http://127.0.0.1:4443/ --count 5
//	clock --mode sub  --url http://127.0.0.1:4445/ --no-wait   (before it is published)
//	clock                                     (both: publish and print it back)
//
// Frames go to stdout, one per line; logs go to stderr. SIGINT/SIGTERM end it
// cleanly (exit 0).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/moq-cluster/moq-relay/moqt"
	_ "github.com/moq-cluster/moq-relay/moqt/lite" // registers moq-lite
	"github.com/moq-cluster/moq-relay/transport"
)

// TimeFormat is the layout of every frame (UTC).
const TimeFormat = "2006-01-02 15:04:05.000"

type config struct {
	url          string
	mode         string
	broadcast    string
	track        string
	interval     time.Duration
	fingerprints []string
	quic         bool
	count        int
	noWait       bool
	logLevel     string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code: 0 on success (also
// when ctx ends, i.e. on SIGINT/SIGTERM), 1 on failure, 2 on bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := pflag.NewFlagSet("clock", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:4443/", "relay URL: moqt:// (raw QUIC), https:// (WebTransport; raw QUIC with --quic) or http:// (fetch the certificate hash, then WebTransport)")
	fs.StringVar(&c.mode, "mode", "both", "pub, sub or both")
	fs.StringVar(&c.broadcast, "broadcast", "clock", "broadcast path")
	fs.StringVar(&c.track, "track", "seconds", "track name")
	fs.DurationVar(&c.interval, "interval", time.Second, "pub: time between groups")
	fs.StringSliceVar(&c.fingerprints, "fingerprint", nil, "pin the relay certificate by its SHA-256 (hex), repeatable")
	fs.BoolVar(&c.quic, "quic", false, "use raw QUIC for https:// URLs")
	fs.IntVar(&c.count, "count", 0, "sub: exit after this many frames (0: forever)")
	fs.BoolVar(&c.noWait, "no-wait", false, "sub: subscribe by name at once, retrying until the track is served, instead of waiting for an announcement (for a broadcast that is not published yet)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clock [flags]\n\nPublishes the time to a MoQ relay and/or prints it back.\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "clock: unexpected arguments %q\n", fs.Args())
		return 2
	}

	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "clock: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	if err := c.validate(); err != nil {
		log.Error("bad flags", zap.Error(err))
		return 2
	}
	opts, err := c.connectOptions()
	if err != nil {
		log.Error("bad flags", zap.Error(err))
		return 2
	}

	if err := c.run(ctx, opts, stdout, log); err != nil {
		log.Error("clock failed", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core).Named("clock"), nil
}

func (c *config) validate() error {
	switch c.mode {
	case "pub", "sub", "both":
	default:
		return fmt.Errorf("--mode %q: want pub, sub or both", c.mode)
	}
	if moqt.CleanPath(c.broadcast) == "" {
		return errors.New("--broadcast must not be empty")
	}
	if c.track == "" {
		return errors.New("--track must not be empty")
	}
	if c.interval <= 0 {
		return fmt.Errorf("--interval %v: must be positive", c.interval)
	}
	if c.count < 0 {
		return fmt.Errorf("--count %d: must not be negative", c.count)
	}
	return nil
}

func (c *config) connectOptions() (moqt.ConnectOptions, error) {
	opts := moqt.ConnectOptions{QUIC: c.quic}
	for _, s := range c.fingerprints {
		fp, err := transport.ParseFingerprint(s)
		if err != nil {
			return opts, fmt.Errorf("--fingerprint: %w", err)
		}
		opts.Fingerprints = append(opts.Fingerprints, fp)
	}
	return opts, nil
}

// run connects one session per role and runs until ctx ends, a role fails,
// or (sub) --count frames were printed.
func (c *config) run(ctx context.Context, opts moqt.ConnectOptions, stdout io.Writer, log *zap.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err })
		cancel()
	}
	if c.mode == "pub" || c.mode == "both" {
		wg.Go(func() {
			if err := c.publish(ctx, opts, log.Named("pub")); err != nil {
				fail(fmt.Errorf("pub: %w", err))
			}
		})
	}
	if c.mode == "sub" || c.mode == "both" {
		wg.Go(func() {
			err := c.subscribe(ctx, opts, stdout, log.Named("sub"))
			if err != nil {
				fail(fmt.Errorf("sub: %w", err))
				return
			}
			cancel() // --count reached: stop the publisher too
		})
	}
	wg.Wait()
	return first
}

func (c *config) connect(ctx context.Context, opts moqt.ConnectOptions, cfg moqt.SessionConfig) (moqt.Session, error) {
	opts.SessionConfig = cfg
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sess, err := moqt.Connect(dialCtx, c.url, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil // interrupted while connecting: not a failure
		}
		return nil, err
	}
	cfg.Logger.Info("connected", zap.String("url", c.url), zap.String("protocol", sess.Version()),
		zap.Stringer("remote", sess.RemoteAddr()))
	return sess, nil
}

func closeSession(sess moqt.Session) {
	sess.CloseWithError(0, "bye")
	select {
	case <-sess.Done():
	case <-time.After(2 * time.Second):
	}
}

// publish writes one group with one frame, the current time, per interval.
func (c *config) publish(ctx context.Context, opts moqt.ConnectOptions, log *zap.Logger) error {
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	defer b.Close()
	tw, err := b.CreateTrack(c.track)
	if err != nil {
		return err
	}
	origin.Publish(moqt.CleanPath(c.broadcast), b, moqt.PublishOptions{})

	sess, err := c.connect(ctx, opts, moqt.SessionConfig{Origin: origin, Logger: log})
	if err != nil || sess == nil {
		return err
	}
	defer closeSession(sess)
	log.Info("publishing", zap.String("broadcast", c.broadcast), zap.String("track", c.track),
		zap.Duration("interval", c.interval))

	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		text := time.Now().UTC().Format(TimeFormat)
		g, err := tw.AppendGroup()
		if err != nil {
			return err
		}
		if err := g.WriteFrame([]byte(text)); err != nil {
			g.Abort(err)
			return err
		}
		_ = g.Close()
		log.Debug("group written", zap.Uint64("group", g.Sequence()), zap.String("frame", text))

		select {
		case <-ctx.Done():
			_ = tw.Close()
			return nil
		case <-sess.Done():
			return fmt.Errorf("session ended: %w", sess.Err())
		case <-tick.C:
		}
	}
}

// announcements tracks whether one broadcast is announced, fed by a
// goroutine reading the session's announcements.
type announcements struct {
	mu      sync.Mutex
	active  bool
	ends    uint64 // how many times the broadcast was unannounced
	err     error
	changed chan struct{} // closed and replaced on every change
}

type annState struct {
	active  bool
	ends    uint64
	err     error
	changed <-chan struct{}
}

func (a *announcements) state() annState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return annState{active: a.active, ends: a.ends, err: a.err, changed: a.changed}
}

func (a *announcements) set(active bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active && !active {
		a.ends++
	}
	a.active, a.err = active, err
	close(a.changed)
	a.changed = make(chan struct{})
}

// watch follows the announcements of path until ctx ends or the reader fails.
func (a *announcements) watch(ctx context.Context, ar moqt.AnnouncementReader, path string, log *zap.Logger) {
	for {
		ann, err := ar.Next(ctx)
		if err != nil {
			a.set(false, err)
			return
		}
		if ann.Path != path {
			continue
		}
		log.Info("announcement", zap.String("broadcast", ann.Path), zap.Bool("active", ann.Active))
		a.set(ann.Active, nil)
	}
}

// subscribe prints the track's frames, one per line. It waits for the
// broadcast to be announced, subscribes, and starts over whenever the track
// ends or the broadcast is unannounced (a publisher that replaces another
// one on the same path shows as unannounced, then announced). It returns
// nil on ctx's end or after --count frames.
func (c *config) subscribe(ctx context.Context, opts moqt.ConnectOptions, stdout io.Writer, log *zap.Logger) error {
	sess, err := c.connect(ctx, opts, moqt.SessionConfig{Logger: log})
	if err != nil || sess == nil {
		return err
	}
	defer closeSession(sess)
	if c.noWait {
		return c.subscribeNoWait(ctx, sess, stdout, log)
	}

	path := moqt.CleanPath(c.broadcast)
	watchCtx, stopWatch := context.WithCancel(ctx)
	ar, err := sess.Announced(watchCtx, "")
	if err != nil {
		stopWatch()
		return err
	}
	ann := &announcements{changed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() { ann.watch(watchCtx, ar, path, log) })
	defer func() {
		stopWatch()
		ar.Close()
		wg.Wait()
	}()

	out := bufio.NewWriter(stdout)
	printed := 0
	for {
		// Wait until the broadcast is announced.
		st := ann.state()
		for !st.active {
			if st.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("announcements: %w", st.err)
			}
			log.Info("waiting for broadcast", zap.String("broadcast", c.broadcast))
			select {
			case <-ctx.Done():
				return nil
			case <-sess.Done():
				return fmt.Errorf("session ended: %w", sess.Err())
			case <-st.changed:
			}
			st = ann.state()
		}

		// Read until the track ends or the broadcast is unannounced.
		trackCtx, stopTrack := context.WithCancelCause(ctx)
		var follow sync.WaitGroup
		follow.Go(func() {
			for cur := st; ; cur = ann.state() {
				if cur.ends != st.ends || cur.err != nil {
					stopTrack(errUnannounced)
					return
				}
				select {
				case <-cur.changed:
				case <-trackCtx.Done():
					return
				}
			}
		})
		track, done, err := c.readTrack(trackCtx, sess, out, &printed, log)
		unannounced := errors.Is(context.Cause(trackCtx), errUnannounced)
		stopTrack(nil)
		follow.Wait()
		if track != nil && unannounced && ctx.Err() == nil {
			// Our reader is gone; wait for the session to drop its
			// subscription for it (at once: ReleaseDelay is 0), so that the
			// next Subscribe asks the relay afresh instead of reattaching to
			// the subscription that served the publisher that left.
			waitClosed(ctx, track)
		}

		if done || ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errStdout) {
			return err
		}
		select {
		case <-sess.Done():
			return fmt.Errorf("session ended: %w", sess.Err())
		default:
		}
		if unannounced {
			log.Info("broadcast ended", zap.String("broadcast", c.broadcast))
			continue
		}
		log.Info("track ended; subscribing again", zap.Error(err))
		// Back off a little unless the announcement changes meanwhile.
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-ann.state().changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// subscribeNoWait is subscribe without announcements (--no-wait): it
// subscribes by name at once and again, after retryDelay, whenever the track
// ends or is not found (yet). A cluster leaf serves a broadcast published on
// another node this way, though it never announces it.
func (c *config) subscribeNoWait(ctx context.Context, sess moqt.Session, stdout io.Writer, log *zap.Logger) error {
	out := bufio.NewWriter(stdout)
	printed := 0
	for {
		_, done, err := c.readTrack(ctx, sess, out, &printed, log)
		if done || ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errStdout) {
			return err
		}
		select {
		case <-sess.Done():
			return fmt.Errorf("session ended: %w", sess.Err())
		default:
		}
		log.Info("track ended or not available; subscribing again", zap.Error(err), zap.Duration("in", retryDelay))
		t := time.NewTimer(retryDelay)
		select {
		case <-ctx.Done():
		case <-sess.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// retryDelay is the pause before subscribing again after a track ended.
const retryDelay = 500 * time.Millisecond

var (
	errStdout      = errors.New("write stdout")
	errUnannounced = errors.New("broadcast unannounced")
)

// waitClosed waits, at most 2 s, for t to end.
func waitClosed(ctx context.Context, t *moqt.Track) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		if closed, _ := t.Closed(); closed {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// readTrack subscribes once and prints frames until the track ends. done
// reports that --count frames were printed.
func (c *config) readTrack(ctx context.Context, sess moqt.Session, out *bufio.Writer, printed *int, log *zap.Logger) (track *moqt.Track, done bool, err error) {
	r, err := sess.Consume(c.broadcast).Subscribe(c.track, moqt.ReaderOptions{})
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	track = r.Track()
	log.Info("subscribed", zap.String("broadcast", c.broadcast), zap.String("track", c.track))
	for {
		g, err := r.NextGroup(ctx)
		if err != nil {
			return track, false, err
		}
		for {
			f, err := g.ReadFrame(ctx)
			if err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					log.Debug("group ended early", zap.Uint64("group", g.Sequence()), zap.Error(err))
				}
				break // next group
			}
			_, _ = out.Write(f)
			_ = out.WriteByte('\n')
			if err := out.Flush(); err != nil {
				return track, false, fmt.Errorf("%w: %w", errStdout, err)
			}
			*printed++
			if c.count > 0 && *printed >= c.count {
				return track, true, nil
			}
		}
	}
}
