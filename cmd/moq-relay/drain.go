package main

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/relay"
)

// errDraining is the readiness check's answer while the node drains.
var errDraining = errors.New("draining")

// drainer runs the relay until it is told to stop, and drains it first when
// asked by SIGTERM or POST /drain: not ready, out of the cluster's choices,
// new sessions redirected, open ones sent GOAWAY; it returns once they are
// gone or after the drain timeout. A second SIGTERM, or SIGINT, ends the
// wait at once: the caller then closes what is left (code 33, going away),
// and the process exits 0 either way, as a stop that was asked for.
type drainer struct {
	srv     *relay.Server
	node    *cluster.Node // nil without a cluster
	timeout time.Duration
	log     *zap.Logger

	draining  atomic.Bool
	requested chan struct{} // closed by request
	request   func()        // the POST /drain hook; safe to call more than once
}

func newDrainer(srv *relay.Server, node *cluster.Node, timeout time.Duration, log *zap.Logger) *drainer {
	d := &drainer{srv: srv, node: node, timeout: timeout, log: log, requested: make(chan struct{})}
	d.request = sync.OnceFunc(func() { close(d.requested) })
	return d
}

// ready is the listener's readiness check: failing from the start of a
// drain, so /ready answers 503 with reason "node: draining".
func (d *drainer) ready() error {
	if d.draining.Load() {
		return errDraining
	}
	return nil
}

// run waits for the relay to stop (served), for SIGINT (ctx), or for a drain
// request (sigterm, or request), which it then carries out.
func (d *drainer) run(ctx context.Context, served <-chan error, sigterm <-chan os.Signal) error {
	// SIGTERMs that end a drain at once: the second, or the first when the
	// drain began with POST /drain and a service manager's stop follows
	// (then the stop's own SIGTERM keeps the drain going).
	termsLeft := 1
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		d.log.Info("shutting down")
		return nil
	case <-sigterm:
		d.log.Info("SIGTERM: draining (a second SIGTERM exits at once)", zap.Duration("drain_timeout", d.timeout))
	case <-d.requested:
		d.log.Info("drain requested: draining", zap.Duration("drain_timeout", d.timeout))
		termsLeft = 2
	}
	start := time.Now()
	d.drain()
	timeout := time.NewTimer(d.timeout)
	defer timeout.Stop()
	for {
		select {
		case err := <-served:
			return err
		case <-d.srv.Drained():
			d.log.Info("drained: no sessions left", zap.Duration("took", time.Since(start)))
			d.log.Info("shutting down")
			return nil
		case <-timeout.C:
			d.log.Info("drain timeout: closing the sessions left", zap.Int("sessions", d.srv.Stats().Active))
			d.log.Info("shutting down")
			return nil
		case <-ctx.Done():
			d.log.Info("interrupted while draining", zap.Int("sessions", d.srv.Stats().Active))
			d.log.Info("shutting down")
			return nil
		case <-sigterm:
			if termsLeft--; termsLeft > 0 {
				d.log.Info("SIGTERM while draining: still draining (a second SIGTERM exits at once)")
				continue
			}
			d.log.Info("second SIGTERM: not waiting for the sessions left", zap.Int("sessions", d.srv.Stats().Active))
			d.log.Info("shutting down")
			return nil
		}
	}
}

// drain takes the node out of service: not ready, withdrawn from the
// cluster (whose Admit then redirects), and the relay's sessions sent to the
// best other node, or told to reconnect later without a cluster.
func (d *drainer) drain() {
	d.draining.Store(true)
	redirect := func(string, string) string { return "" }
	if d.node != nil {
		d.node.Drain()
		redirect = d.node.RedirectURL
	}
	d.srv.Drain(redirect)
}
