package moqt

import (
	"sync"
)

// TrackHandler serves a track that a reader asked for and that the broadcast
// does not have yet. It gets the writer of a fresh track, already registered
// so that concurrent readers of the same name share it, and must not block:
// a handler that forwards from elsewhere starts its own goroutine and ends
// the track (Close or Abort) when the source ends or the track goes idle.
type TrackHandler func(w *TrackWriter)

// Broadcast is a named collection of tracks from one publisher. Tracks are
// either created up front by the publisher (CreateTrack) or produced on
// demand by a TrackHandler when the first reader asks for them; either way
// there is exactly one Track per name however many readers attach.
type Broadcast struct {
	opts TrackOptions

	mu      sync.Mutex
	tracks  map[string]*Track
	handler TrackHandler
	closed  bool
	err     error
	done    chan struct{}
	onClose []func()
}

// NewBroadcast returns an empty broadcast whose tracks use opts.
func NewBroadcast(opts TrackOptions) *Broadcast {
	return &Broadcast{opts: opts, tracks: make(map[string]*Track), done: make(chan struct{})}
}

// HandleTracks installs the handler for tracks requested but not created.
func (b *Broadcast) HandleTracks(h TrackHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
}

// CreateTrack adds a track that the caller produces. The name must not be
// in use by a live track.
func (b *Broadcast) CreateTrack(name string) (*TrackWriter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if _, ok := b.tracks[name]; ok {
		return nil, ErrDuplicate
	}
	return b.addTrackLocked(name), nil
}

func (b *Broadcast) addTrackLocked(name string) *TrackWriter {
	w := NewTrack(name, b.opts)
	t := w.t
	b.tracks[name] = t
	t.whenClosed(func() {
		b.mu.Lock()
		if b.tracks[name] == t {
			delete(b.tracks, name)
		}
		b.mu.Unlock()
	})
	return w
}

// Track returns a live track by name without requesting it.
func (b *Broadcast) Track(name string) (*Track, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tracks[name]
	return t, ok
}

// TrackNames returns the names of the live tracks.
func (b *Broadcast) TrackNames() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.tracks))
	for n := range b.tracks {
		names = append(names, n)
	}
	return names
}

// Subscribe attaches a reader to the named track, asking the handler to
// produce it if it is not live yet. It fails with ErrNotFound when there is no
// such track and no handler, and with ErrClosed once the broadcast ended.
func (b *Broadcast) Subscribe(name string, opts ReaderOptions) (*TrackReader, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if t, ok := b.tracks[name]; ok {
		t.mu.Lock()
		if !t.closed {
			r := t.readerLocked(opts)
			t.mu.Unlock()
			b.mu.Unlock()
			return r, nil
		}
		t.mu.Unlock()
	}
	h := b.handler
	if h == nil {
		b.mu.Unlock()
		return nil, ErrNotFound
	}
	w := b.addTrackLocked(name)
	w.t.mu.Lock()
	r := w.t.readerLocked(opts)
	w.t.mu.Unlock()
	b.mu.Unlock()
	h(w)
	return r, nil
}

// ReleaseIfIdle ends a handler-produced track if it has no readers, atomically
// with respect to Subscribe, so a reader that attaches concurrently either
// keeps the track alive or gets a fresh one. It reports whether the track ended.
func (b *Broadcast) ReleaseIfIdle(w *TrackWriter) bool {
	b.mu.Lock()
	t := w.t
	t.mu.Lock()
	if t.readers > 0 || t.closed {
		t.mu.Unlock()
		b.mu.Unlock()
		return false
	}
	if b.tracks[t.name] == t {
		delete(b.tracks, t.name)
	}
	t.mu.Unlock()
	b.mu.Unlock()
	w.Close()
	return true
}

// Done is closed when the broadcast ends.
func (b *Broadcast) Done() <-chan struct{} { return b.done }

// Err returns the error the broadcast was aborted with, if any.
func (b *Broadcast) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Close ends the broadcast and all its tracks; readers drain and see io.EOF.
func (b *Broadcast) Close() { b.finish(nil) }

// Abort ends the broadcast and its tracks with err.
func (b *Broadcast) Abort(err error) {
	if err == nil {
		err = ErrClosed
	}
	b.finish(err)
}

func (b *Broadcast) finish(err error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed, b.err = true, err
	tracks := make([]*Track, 0, len(b.tracks))
	for _, t := range b.tracks {
		tracks = append(tracks, t)
	}
	callbacks := b.onClose
	b.onClose = nil
	close(b.done)
	b.mu.Unlock()
	for _, t := range tracks {
		t.finish(err)
	}
	for _, f := range callbacks {
		f()
	}
}

// OnClose runs f once the broadcast ends (at once if it already has).
func (b *Broadcast) OnClose(f func()) { b.whenClosed(f) }

// whenClosed runs f once the broadcast ends (at once if it already has).
func (b *Broadcast) whenClosed(f func()) {
	b.mu.Lock()
	if !b.closed {
		b.onClose = append(b.onClose, f)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	f()
}
