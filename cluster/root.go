package cluster

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/transport"
)

// rootServer is the directory side of a root node: it serves leaves'
// control connections and is itself a member of its directory.
type rootServer struct {
	n   *Node
	dir *Directory

	ticketKey ed25519.PrivateKey // signs allocation tickets

	mu        sync.Mutex
	conns     map[string]*memberConn // by node id
	selfEpoch uint64
	pending   map[uint64]pendingTicket // issued tickets by id
	pendingBy map[string]int           // of them, per first candidate
}

// memberConn is one leaf's live control connection.
type memberConn struct {
	id    string
	epoch uint64
	conn  transport.Session
}

func newRootServer(n *Node) *rootServer {
	r := &rootServer{
		n: n,
		dir: NewDirectory(DirectoryOptions{
			HeartbeatInterval: n.opts.HeartbeatInterval,
			SuspectThreshold:  n.opts.SuspectThreshold,
			OfflineThreshold:  n.opts.OfflineThreshold,

			MaxMembers:                n.opts.Limits.MaxMembers,
			ForgetOfflineAfter:        n.opts.Limits.ForgetOfflineAfter,
			MaxAnnouncementsPerMember: n.opts.Limits.MaxAnnouncements,
		}),
		conns:     make(map[string]*memberConn),
		pending:   make(map[uint64]pendingTicket),
		pendingBy: make(map[string]int),
	}
	_, r.ticketKey, _ = ed25519.GenerateKey(nil) // crypto/rand; cannot fail
	if n.opts.URL != "" {
		r.selfEpoch, _ = r.dir.Join(n.opts.ID, n.opts.URL, n.incarnation) // the first member: within any bound
	}
	return r
}

// run drives liveness: the root's own heartbeat and the failure detector.
// It ticks four times per interval so states change close to their
// thresholds.
func (r *rootServer) run() {
	t := time.NewTicker(r.n.opts.HeartbeatInterval / 4)
	defer t.Stop()
	states := make(map[string]proto.State)
	for {
		select {
		case <-r.n.ctx.Done():
			return
		case <-t.C:
		}
		if r.selfEpoch != 0 {
			r.dir.Heartbeat(r.n.opts.ID, r.selfEpoch, r.n.load())
		}
		r.expireTickets(time.Now())
		for _, d := range r.dir.Tick() {
			r.mu.Lock()
			mc := r.conns[d.ID]
			if mc != nil && mc.epoch == d.Epoch {
				delete(r.conns, d.ID)
			} else {
				mc = nil
			}
			r.mu.Unlock()
			if mc != nil {
				_ = mc.conn.CloseWithError(proto.CodeOffline, fmt.Sprintf("missed %d heartbeats", r.n.opts.OfflineThreshold))
			}
		}
		r.logTransitions(states)
	}
}

// logTransitions logs members whose state changed since the last call.
func (r *rootServer) logTransitions(last map[string]proto.State) {
	for _, m := range r.dir.Members() {
		if prev, ok := last[m.ID]; ok && prev == m.State {
			continue
		}
		last[m.ID] = m.State
		log := r.n.log.With(transport.LogString("member", m.ID), transport.LogString("url", m.URL), zap.Stringer("state", m.State))
		if m.State == proto.StateHealthy {
			log.Info("cluster member healthy")
		} else {
			log.Warn("cluster member "+m.State.String(), zap.Time("last_heard", m.LastHeard))
		}
	}
}

// announceSelf records the root's own local broadcasts. A root without an
// advertised URL cannot be pulled from, so it lists none.
func (r *rootServer) announceSelf(path string, active bool) {
	if r.selfEpoch == 0 {
		return
	}
	if active {
		r.dir.Announce(r.n.opts.ID, r.selfEpoch, path)
	} else {
		r.dir.Unannounce(r.n.opts.ID, r.selfEpoch, path)
	}
}

// serve runs one leaf's control connection until it ends.
func (r *rootServer) serve(ctx context.Context, a *accepted, log *zap.Logger) {
	id := a.hello.NodeID
	if id == r.n.opts.ID {
		_ = a.conn.CloseWithError(proto.CodeProtocolViolation, "node id "+id+" is the root's own")
		log.Warn("cluster registration refused: node id clashes with the root's")
		return
	}
	if r.selfEpoch == 0 {
		log.Warn("leaf registered with a root that has no --cluster-node: broadcasts published on the root cannot be pulled by leaves")
	}
	epoch, err := r.dir.Join(id, a.hello.URL, a.hello.Incarnation)
	if err != nil {
		_ = a.conn.CloseWithError(proto.CodeLimit, err.Error())
		log.Warn("cluster registration refused", transport.LogError(err))
		return
	}
	if r.n.opts.Insecure {
		log.Warn("insecure cluster: member joined without its URL being verified", transport.LogString("url", a.hello.URL))
	}
	mc := &memberConn{id: id, epoch: epoch, conn: a.conn}
	r.mu.Lock()
	old := r.conns[id]
	r.conns[id] = mc
	r.mu.Unlock()
	if old != nil {
		_ = old.conn.CloseWithError(proto.CodeReplaced, "node registered again on a newer connection")
	}
	defer func() {
		r.mu.Lock()
		if r.conns[id] == mc {
			delete(r.conns, id)
		}
		r.mu.Unlock()
		r.dir.Leave(id, epoch)
	}()

	snd := newSender(a.str, log, &r.n.controlSent, r.n.opts.Limits, func(err error) {
		_ = a.conn.CloseWithError(proto.CodeLimit, "send queue full: not reading")
		log.Warn("closing cluster connection", transport.LogError(err))
	})
	snd.send(r.n.welcome())
	log.Info("cluster member registered", transport.LogString("url", a.hello.URL), zap.Uint64("epoch", epoch),
		zap.Uint64("incarnation", a.hello.Incarnation))

	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := snd.run(connCtx); err != nil {
			log.Debug("control stream write failed", transport.LogError(err))
			_ = a.conn.CloseWithError(proto.CodeNone, "write failed")
		}
	}()
	watches := make(map[uint64]func())
	defer func() {
		for _, stop := range watches {
			stop()
		}
		cancel()
		wg.Wait()
	}()

	err = r.readLoop(a, snd, epoch, watches)
	switch {
	case errors.Is(err, io.EOF):
		log.Info("cluster member left")
	case errors.Is(err, ErrLimit):
		log.Warn("closing cluster connection: limit exceeded", transport.LogError(err))
		_ = a.conn.CloseWithError(proto.CodeLimit, err.Error())
	case err != nil && errors.Is(err, proto.ErrMalformed):
		log.Warn("closing cluster connection: protocol violation", transport.LogError(err))
		_ = a.conn.CloseWithError(proto.CodeProtocolViolation, err.Error())
	default:
		log.Info("cluster member disconnected", transport.LogError(err))
	}
}

// readLoop handles a member's messages; it returns why the stream ended.
func (r *rootServer) readLoop(a *accepted, snd *sender, epoch uint64, watches map[uint64]func()) error {
	id := a.hello.NodeID
	lim := r.n.opts.Limits
	var ordered sync.Mutex
	for {
		m, err := proto.Read(a.r)
		if err != nil {
			return err
		}
		if watching(m) && lim.MaxWatches > 0 && len(watches) >= lim.MaxWatches {
			return fmt.Errorf("%w: %d watches on one connection (cluster.limits.max_watches_per_connection)", ErrLimit, len(watches))
		}
		switch m := m.(type) {
		case proto.Announce:
			if len(m.Path) > lim.MaxPathLength {
				return fmt.Errorf("%w: announced path of %d bytes > %d (cluster.limits.max_path_length)", ErrLimit, len(m.Path), lim.MaxPathLength)
			}
			if err := r.dir.Announce(id, epoch, m.Path); errors.Is(err, ErrLimit) {
				return fmt.Errorf("%w (cluster.limits.max_announcements_per_member)", err)
			}
		case proto.Unannounce:
			r.dir.Unannounce(id, epoch, m.Path)
		case proto.Heartbeat:
			r.dir.Heartbeat(id, epoch, m.Load)
			snd.send(proto.HeartbeatAck{Seq: m.Seq})
		case proto.Lookup:
			if len(m.Path) > lim.MaxPathLength { // never announced: nothing to find or watch
				snd.send(proto.Result{RequestID: m.RequestID})
				continue
			}
			// The watch starts before the lookup so no change is missed, and
			// queueing is ordered so an Update never precedes an older Result.
			ordered.Lock()
			if m.Watch {
				if _, dup := watches[m.RequestID]; dup {
					ordered.Unlock()
					return fmt.Errorf("%w: lookup request id %d reused", proto.ErrMalformed, m.RequestID)
				}
				reqID := m.RequestID
				watches[reqID] = r.dir.Watch(m.Path, func(c []proto.Candidate) {
					ordered.Lock()
					defer ordered.Unlock()
					snd.send(proto.Update{RequestID: reqID, Candidates: proto.FitCandidates(c)})
				})
			}
			answer := r.dir.Lookup
			if m.Watch {
				answer = r.dir.Watched // the watch's baseline: suspects included, last
			}
			snd.send(proto.Result{RequestID: m.RequestID, Candidates: proto.FitCandidates(answer(m.Path))})
			ordered.Unlock()
		case proto.WatchPaths:
			if _, dup := watches[m.RequestID]; dup {
				return fmt.Errorf("%w: watch request id %d reused", proto.ErrMalformed, m.RequestID)
			}
			reqID := m.RequestID
			watches[reqID] = r.dir.WatchPrefix(m.Prefix, id, func(entries []proto.PathEntry) {
				sendPaths(snd, reqID, entries)
			})
		case proto.Unwatch:
			if stop, ok := watches[m.RequestID]; ok {
				stop()
				delete(watches, m.RequestID)
			}
		case proto.Allocate:
			if len(m.Broadcast) > lim.MaxPathLength {
				m.Broadcast = "" // never announced: allocate as for an unknown broadcast
			}
			a := r.allocate(m.Broadcast, m.Exclude, int(min(m.Limit, uint64(proto.MaxCandidates))))
			a.RequestID = m.RequestID
			snd.send(a)
		case proto.Redeem:
			r.redeem(m.TicketID)
		default:
			return fmt.Errorf("%w: unexpected message type 0x%x from a leaf", proto.ErrMalformed, uint64(m.Type()))
		}
	}
}

// watching reports whether m starts a watch (a lookup with watch, a
// listing), which Limits.MaxWatches bounds.
func watching(m proto.Message) bool {
	switch m := m.(type) {
	case proto.Lookup:
		return m.Watch
	case proto.WatchPaths:
		return true
	}
	return false
}

// sendPaths sends entries as one or more Paths messages for reqID, the last
// one marked complete (a listing's first answer is whole once it arrives;
// changes are whole anyway).
func sendPaths(snd *sender, reqID uint64, entries []proto.PathEntry) {
	for {
		n := max(proto.FitPaths(entries), 1) // a path never exceeds a message; never stall on one
		last := n >= len(entries)
		n = min(n, len(entries))
		snd.send(proto.Paths{RequestID: reqID, Complete: last, Entries: entries[:n]})
		if last {
			return
		}
		entries = entries[n:]
	}
}
