package moqt

import (
	"context"
	"io"
	"reflect"
	"testing"
)

// Frames keep their properties through the cache, readers get each frame's
// own (nil for frames written without), and the budget is charged for them
// and gets all of it back when the track ends.
func TestFramePropertiesKeptAndCharged(t *testing.T) {
	b := NewCacheBudget(1 << 20)
	w := NewTrack("t", TrackOptions{Budget: b})
	g, err := w.CreateGroup(0)
	if err != nil {
		t.Fatal(err)
	}
	stamp := []Property{{Key: 0x06, Int: 1234}, {Key: 0x0b, Bytes: []byte("loc")}}
	if err := g.WriteFrame([]byte("plain")); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFrameWithProperties([]byte("stamped"), stamp); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFrame([]byte("plain again")); err != nil {
		t.Fatal(err)
	}
	_ = g.Close()
	want := int64(len("plain") + len("stamped") + len("plain again") + propertiesSize(stamp))
	if got := b.Used(); got != want {
		t.Fatalf("budget used %d, want %d (payload and properties)", got, want)
	}

	r := g.Group().Reader()
	ctx := context.Background()
	for i, want := range []struct {
		frame string
		props []Property
	}{{"plain", nil}, {"stamped", stamp}, {"plain again", nil}} {
		p, props, err := r.ReadFrameWithProperties(ctx)
		if err != nil || string(p) != want.frame || !reflect.DeepEqual(props, want.props) {
			t.Fatalf("frame %d: %q %v %v, want %q %v", i, p, props, err, want.frame, want.props)
		}
	}
	if _, _, err := r.ReadFrameWithProperties(ctx); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
	// ReadFrame, as moq-lite sessions use it, reads the same frames.
	if p, err := g.Group().Reader().ReadFrame(ctx); err != nil || string(p) != "plain" {
		t.Fatalf("ReadFrame: %q %v", p, err)
	}
	w.Close()
	if got := b.Used(); got != 0 {
		t.Fatalf("budget used %d after the track ended, want 0", got)
	}
}
