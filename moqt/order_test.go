package moqt

import (
	"sync"
	"testing"
	"time"
)

// Goroutines started in reverse order still do their ordered step in the
// order their turns were handed out.
func TestOrderChainKeepsOrder(t *testing.T) {
	const n = 20
	var chain OrderChain
	turns := make([]*Turn, n)
	for i := range turns {
		turns[i] = chain.Next()
	}
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := n - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			turns[i].Wait(nil, 0)
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			turns[i].Done()
			turns[i].Done() // a second Done is harmless
		}()
	}
	wg.Wait()
	t.Logf("steps ran in order %v", order)
	for i, got := range order {
		if got != i {
			t.Fatalf("step %d ran as number %d: %v", got, i, order)
		}
	}
}

// A predecessor that never finishes delays its successor by the bound
// only; stop releases a waiter at once.
func TestTurnWaitBoundAndStop(t *testing.T) {
	var chain OrderChain
	first := chain.Next() // never Done: a stalled stream
	second := chain.Next()

	const bound = 30 * time.Millisecond
	start := time.Now()
	second.Wait(nil, bound)
	waited := time.Since(start)
	t.Logf("successor of a stalled turn waited %v (bound %v)", waited, bound)
	if waited < bound {
		t.Fatalf("waited %v, less than the %v bound", waited, bound)
	}

	stop := make(chan struct{})
	close(stop)
	start = time.Now()
	second.Wait(stop, 0) // unbounded, but stopped
	t.Logf("stopped unbounded wait returned after %v", time.Since(start))

	first.Done()
	second.Wait(nil, 0) // the predecessor is done: returns at once
}
