package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// Sessions beyond a cap are refused with "limit exceeded"; the sessions
// already open keep working, and a freed slot is reused.
func TestSessionCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts relaytest.Options
	}{
		{"per node", relaytest.Options{MaxSessions: 2}},
		{"per address", relaytest.Options{MaxSessionsPerIP: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := relaytest.Start(t, tc.opts)
			pub := newPublisher(t, "clock", "seconds")
			r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
			sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
			waitAnnounced(t, sub, "clock")
			reader := subscribe(t, sub, "clock", "seconds")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, url := range []string{r.QUICURL(""), r.WebTransportURL("")} {
				extra, err := moqt.Connect(ctx, url, moqt.ConnectOptions{Fingerprints: [][32]byte{r.Cert.Fingerprint()}})
				if err == nil {
					// The refusal may land just after the handshake.
					<-extra.Done()
					err = extra.Err()
				}
				if !moqt.IsCode(err, wire.CodeLimit) {
					t.Fatalf("third session over %s: %v, want limit exceeded", url, err)
				}
			}
			for i := range 3 {
				pub.writeGroup(t, i, 1)
				if _, _, err := readGroup(ctx, reader); err != nil {
					t.Fatalf("subscriber after the refusals: %v", err)
				}
			}
			if st := r.Server.Stats(); st.Active != 2 || st.Rejected != 2 {
				t.Fatalf("stats %+v, want 2 active and 2 rejected", st)
			}

			sub.CloseWithError(0, "leaving")
			<-sub.Done()
			waitFor(t, 5*time.Second, "slot freed", func() bool { return r.Server.Stats().Active == 1 })
			again := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
			waitAnnounced(t, again, "clock")
		})
	}
}
