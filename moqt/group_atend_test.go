package moqt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// AtEnd is true only once a finished group's every frame was read; never
// for an aborted one, and never while frames remain or more may come.
func TestGroupReaderAtEnd(t *testing.T) {
	g := newGroup(0, Limits{}, time.Now())
	w := &GroupWriter{g: g}
	r := g.Reader()
	if r.AtEnd() {
		t.Fatal("an empty open group is at its end")
	}
	_ = w.WriteFrame([]byte("a"))
	_ = w.WriteFrame([]byte("b"))
	_ = w.Close()
	for i, want := range []bool{false, true} {
		if _, err := r.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r.AtEnd() != want {
			t.Fatalf("after frame %d: AtEnd %v, want %v", i, !want, want)
		}
	}

	aborted := newGroup(1, Limits{}, time.Now())
	aw := &GroupWriter{g: aborted}
	ar := aborted.Reader()
	_ = aw.WriteFrame([]byte("a"))
	aw.Abort(errors.New("gone"))
	_, _ = ar.ReadFrame(context.Background())
	if ar.AtEnd() {
		t.Fatal("an aborted group is at its end")
	}
}
