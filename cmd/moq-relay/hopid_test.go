package main

import (
	"testing"

	"github.com/moq-cluster/moq-relay/config"
)

// Browsers' @moq/lite reads hop ids as JavaScript numbers: a drawn id over
// 2^53-1 broke every announce stream from `serve` while the in-process test
// relay, using 0, hid it.
func TestHopIDFitsJavaScriptNumbers(t *testing.T) {
	var high uint64
	for range 10000 {
		id := hopID(0)
		if id == 0 || id > config.MaxHopID {
			t.Fatalf("drawn hop id %d: want 1..%d", id, uint64(config.MaxHopID))
		}
		high |= id
	}
	if high < 1<<52 {
		t.Errorf("10,000 draws never set bit 52 (OR of all: %#x): the range is narrower than it should be", high)
	}
	if got := hopID(42); got != 42 {
		t.Errorf("configured hop id 42: got %d", got)
	}
}
