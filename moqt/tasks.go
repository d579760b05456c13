package moqt

import (
	"runtime/debug"
	"sync"

	"go.uber.org/zap"
)

// Tasks owns a session's goroutines: the session waits for all of them
// before it is done, none starts once it is closing, and a panic in one is
// logged and ends the session instead of crashing the process.
type Tasks struct {
	log      *zap.Logger
	failed   func(task string, err error)
	panicked func()

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewTasks returns the task set of a session. failed gets the error a task
// returned (the dialect decides whether it ends the session); panicked,
// called after the panic is logged to log, ends the session.
func NewTasks(log *zap.Logger, failed func(task string, err error), panicked func()) *Tasks {
	return &Tasks{log: log, failed: failed, panicked: panicked}
}

// Go runs f in a goroutine owned by the session. It reports false, and
// runs nothing, once Close was called.
func (t *Tasks) Go(name string, f func() error) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				t.log.Error("session task panicked", zap.String("task", name), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
				t.panicked()
			}
		}()
		if err := f(); err != nil {
			t.failed(name, err)
		}
	}()
	return true
}

// Close refuses new tasks; those running go on.
func (t *Tasks) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// Wait returns once every task started returned; call it after Close.
func (t *Tasks) Wait() { t.wg.Wait() }
