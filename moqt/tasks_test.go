package moqt

import (
	"errors"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A task's error reaches failed, a panic is logged and reaches panicked,
// Close refuses new tasks, and Wait returns once the running ones did.
func TestTasks(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	var (
		mu       sync.Mutex
		failures []string
		panics   int
	)
	tasks := NewTasks(zap.New(core),
		func(task string, err error) {
			mu.Lock()
			failures = append(failures, task+": "+err.Error())
			mu.Unlock()
		},
		func() {
			mu.Lock()
			panics++
			mu.Unlock()
		})

	release := make(chan struct{})
	var ran sync.WaitGroup
	ran.Add(3)
	started := []bool{
		tasks.Go("fine", func() error { ran.Done(); return nil }),
		tasks.Go("broken", func() error { ran.Done(); return errors.New("peer misbehaved") }),
		tasks.Go("panics", func() error { ran.Done(); <-release; panic("bug") }),
	}
	ran.Wait()
	tasks.Close()
	late := tasks.Go("late", func() error { t.Error("a task ran after Close"); return nil })
	close(release)
	tasks.Wait()

	t.Logf("started %v, after Close %v; failures %q; panics %d; logged %d", started, late, failures, panics, logs.Len())
	for i, ok := range started {
		if !ok {
			t.Errorf("task %d was refused before Close", i)
		}
	}
	if late {
		t.Error("Go reported true after Close")
	}
	if len(failures) != 1 || failures[0] != "broken: peer misbehaved" {
		t.Errorf("failures %q, want the one task error", failures)
	}
	if panics != 1 {
		t.Errorf("panicked called %d times, want 1", panics)
	}
	if e := logs.FilterMessage("session task panicked").All(); len(e) != 1 || e[0].ContextMap()["task"] != "panics" {
		t.Errorf("panic log entries %v, want one for task \"panics\"", e)
	}
}
