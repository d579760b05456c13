package ietf

import (
	"sync"
	"time"
)

// turn keeps group streams in order across the goroutines that write or
// read them: each waits (bounded) for its predecessor's order-sensitive
// step, then lets its successor go.
type turn struct {
	prev <-chan struct{}
	mine chan struct{}
	once sync.Once
}

// turnChain hands out turns in the order of calls to next.
type turnChain struct {
	last chan struct{}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *turnChain) next() *turn {
	prev := c.last
	if prev == nil {
		prev = closedChan
	}
	t := &turn{prev: prev, mine: make(chan struct{})}
	c.last = t.mine
	return t
}

// wait blocks until the predecessor is done, stop is closed, or max
// elapsed (max <= 0: no bound).
func (t *turn) wait(stop <-chan struct{}, max time.Duration) {
	var timeout <-chan time.Time
	if max > 0 {
		timer := time.NewTimer(max)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-t.prev:
	case <-stop:
	case <-timeout:
	}
}

// done lets the successor go; safe to call more than once.
func (t *turn) done() { t.once.Do(func() { close(t.mine) }) }
