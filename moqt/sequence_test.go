package moqt

import (
	"sync"
	"testing"
	"time"
)

// sequence runs Await then Created for each group in its own goroutine,
// started in the order given, and returns the order the groups got created.
func sequence(q *GroupSequencer, seqs []uint64, max, hold time.Duration, gap time.Duration) []uint64 {
	var (
		mu      sync.Mutex
		created []uint64
		wg      sync.WaitGroup
	)
	for _, seq := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.Await(nil, seq, max, hold)
			mu.Lock()
			created = append(created, seq)
			mu.Unlock()
			q.Created(seq)
		}()
		time.Sleep(gap)
	}
	wg.Wait()
	return created
}

// Groups arriving out of order after a known start are created in order.
func TestGroupSequencerOrdersAfterStart(t *testing.T) {
	var q GroupSequencer
	q.Start(10)
	got := sequence(&q, []uint64{13, 12, 11, 10}, time.Minute, 0, 5*time.Millisecond)
	t.Logf("arrived 13,12,11,10; created %v", got)
	for i, seq := range got {
		if seq != uint64(10+i) {
			t.Fatalf("created %v, want 10..13 in order", got)
		}
	}
}

// A missing group delays its successor by max at most.
func TestGroupSequencerGivesUpOnMissingGroup(t *testing.T) {
	var q GroupSequencer
	q.Start(0)
	const max = 30 * time.Millisecond
	start := time.Now()
	q.Await(nil, 1, max, 0) // group 0 never arrives
	waited := time.Since(start)
	q.Created(1)
	t.Logf("group 1 waited %v for a lost group 0 (bound %v)", waited, max)
	if waited < max {
		t.Fatalf("waited %v, less than the bound %v", waited, max)
	}
	start = time.Now()
	q.Await(nil, 2, time.Minute, 0)
	t.Logf("group 2 after group 1 waited %v", time.Since(start))

	stop := make(chan struct{})
	close(stop)
	q.Await(stop, 9, time.Minute, 0) // stop releases a waiter at once
}

// Start does not move a start a group already decided; a created group
// moves it only forward.
func TestGroupSequencerStartAfterGroup(t *testing.T) {
	var q GroupSequencer
	q.Created(5)
	q.Start(2) // SUBSCRIBE_OK overtaken by group 5
	q.Created(3)
	start := time.Now()
	q.Await(nil, 6, time.Minute, 0)
	t.Logf("group 6 after 5 (late start 2, late group 3) waited %v", time.Since(start))
}

// With an unknown start and a hold, the lowest group among the first
// arrivals goes first, whatever their arrival order.
func TestGroupSequencerHoldFindsLowest(t *testing.T) {
	var q GroupSequencer
	got := sequence(&q, []uint64{7, 5, 6}, time.Minute, 200*time.Millisecond, 2*time.Millisecond)
	t.Logf("arrived 7,5,6 with an unknown start; created %v", got)
	want := []uint64{5, 6, 7}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("created %v, want %v", got, want)
		}
	}

	// Without a hold, the start is whatever group comes first.
	var plain GroupSequencer
	start := time.Now()
	plain.Await(nil, 7, time.Minute, 0)
	t.Logf("no hold: first group 7 went after %v", time.Since(start))
}

// Start ends the hold early: the groups go as soon as the publisher says
// where the subscription starts.
func TestGroupSequencerStartEndsHold(t *testing.T) {
	var q GroupSequencer
	done := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		q.Await(nil, 3, time.Minute, time.Minute)
		done <- time.Since(start)
	}()
	time.Sleep(10 * time.Millisecond)
	q.Start(3)
	select {
	case d := <-done:
		t.Logf("held first group went %v after arriving, on Start", d)
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not end the hold")
	}
}
