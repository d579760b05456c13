package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	_ "github.com/moq-cluster/moq-relay/moqt/lite" // registers moq-lite
)

// connectGo opens an in-process Go client session to r over WebTransport
// (http:// URL: the certificate hash is fetched and pinned, as browsers do)
// and closes it when the test ends.
func connectGo(t *testing.T, r *relayProc) moqt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sess, err := moqt.Connect(ctx, r.url(), moqt.ConnectOptions{})
	if err != nil {
		t.Fatalf("Go client: connect to %s (%s): %v", r.name, r.url(), err)
	}
	t.Cleanup(func() {
		sess.CloseWithError(0, "test done")
		select {
		case <-sess.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("Go client session to %s did not end within 10 s of closing", r.name)
		}
	})
	return sess
}

// waitAnnounced blocks until sess sees path announced as active.
func waitAnnounced(ctx context.Context, sess moqt.Session, path string) error {
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		return fmt.Errorf("announced: %w", err)
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %q to be announced: %w", path, err)
		}
		if a.Path == path && a.Active {
			return nil
		}
	}
}

// received is what a Go subscriber got: frames and when each arrived.
type received struct {
	frames []string
	at     []time.Time
}

// receive subscribes to broadcast/track on sess and reads frames until it
// has n. It returns the reader (when subscribed; the caller closes it).
func receive(ctx context.Context, sess moqt.Session, broadcast, track string, n int) (*moqt.TrackReader, received, error) {
	var got received
	r, err := sess.Consume(broadcast).Subscribe(track, moqt.ReaderOptions{})
	if err != nil {
		return nil, got, fmt.Errorf("subscribe: %w", err)
	}
	for len(got.frames) < n {
		g, err := r.NextGroup(ctx)
		if err != nil {
			return r, got, fmt.Errorf("next group after %d frames: %w", len(got.frames), err)
		}
		for len(got.frames) < n {
			f, err := g.ReadFrame(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return r, got, fmt.Errorf("group %d after %d frames: %w", g.Sequence(), len(got.frames), err)
			}
			got.frames = append(got.frames, string(f))
			got.at = append(got.at, time.Now())
		}
	}
	return r, got, nil
}

// uniquePrefix makes frames of different runs and cases distinguishable.
func uniquePrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "p" + hex.EncodeToString(b[:])
}
