package moqt

// notifier wakes every goroutine waiting for a change of some mutex-guarded
// state. All methods must be called with that mutex held. The channel is made
// lazily so a producer that nobody waits on allocates nothing per change.
type notifier struct {
	ch chan struct{}
}

// wait returns a channel that is closed at the next broadcast.
func (n *notifier) wait() <-chan struct{} {
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// broadcast wakes all current waiters.
func (n *notifier) broadcast() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
