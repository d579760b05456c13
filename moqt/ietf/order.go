package ietf

import (
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
)

// turnChain and turn are publisher.go's names for moqt.OrderChain and
// moqt.Turn (conversions, no extra allocation); they go once publisher.go
// uses moqt's names.
type (
	turnChain moqt.OrderChain
	turn      moqt.Turn
)

func (c *turnChain) next() *turn { return (*turn)((*moqt.OrderChain)(c).Next()) }

func (t *turn) wait(stop <-chan struct{}, max time.Duration) { (*moqt.Turn)(t).Wait(stop, max) }

func (t *turn) done() { (*moqt.Turn)(t).Done() }
