package cluster

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func ticketKeys(t testing.TB) (ed25519.PrivateKey, func(string) ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv, func(root string) ed25519.PublicKey {
		if root == "root" {
			return pub
		}
		return nil
	}
}

func TestTicketRoundTripAndRejections(t *testing.T) {
	priv, keyOf := ticketKeys(t)
	now := time.Now()
	tk := ticket{ID: 42, Root: "root", Nodes: []string{"a", "b"}, Broadcast: "room/alice", Expires: now.Add(time.Minute).Truncate(time.Millisecond)}
	s := tk.sign(priv)
	got, err := parseTicket(s, keyOf, now)
	if err != nil || got.ID != 42 || got.Root != "root" || !got.names("b") || got.names("c") || got.Broadcast != "room/alice" ||
		!got.Expires.Equal(tk.Expires) {
		t.Fatalf("parse(sign(t)) = %+v, %v", got, err)
	}
	_, otherKey := ticketKeys(t)
	other := ticket{ID: 1, Root: "elsewhere", Nodes: []string{"a"}, Expires: now.Add(time.Minute)}.sign(priv)
	payload, sig, _ := strings.Cut(strings.TrimPrefix(s, ticketPrefix), ".")
	tampered := ticket{ID: 43, Root: "root", Nodes: []string{"a", "b"}, Broadcast: "room/alice", Expires: tk.Expires}.sign(priv)
	tamperedPayload, _, _ := strings.Cut(strings.TrimPrefix(tampered, ticketPrefix), ".")
	for _, tc := range []struct {
		name  string
		s     string
		keyOf func(string) ed25519.PublicKey
		at    time.Time
		want  error
	}{
		{"empty", "", keyOf, now, errTicketMalformed},
		{"no prefix", strings.TrimPrefix(s, ticketPrefix), keyOf, now, errTicketMalformed},
		{"no signature", ticketPrefix + payload, keyOf, now, errTicketMalformed},
		{"bad base64", ticketPrefix + payload + ".!!", keyOf, now, errTicketMalformed},
		{"short signature", ticketPrefix + payload + "." + sig[:10], keyOf, now, errTicketMalformed},
		{"garbage payload", ticketPrefix + "AAAA." + sig, keyOf, now, errTicketMalformed},
		{"payload swapped", ticketPrefix + tamperedPayload + "." + sig, keyOf, now, errTicketSignature},
		{"wrong key", s, otherKey, now, errTicketSignature},
		{"unknown root", other, keyOf, now, errTicketRoot},
		{"expired", s, keyOf, now.Add(2 * time.Minute), errTicketExpired},
		{"too long", s + strings.Repeat("A", 5000), keyOf, now, errTicketMalformed},
	} {
		if _, err := parseTicket(tc.s, tc.keyOf, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzParseTicket: any string is rejected or parsed, never a panic, and a
// parsed ticket re-signs to a valid one.
func FuzzParseTicket(f *testing.F) {
	priv, keyOf := ticketKeys(f)
	now := time.Now()
	f.Add(ticket{ID: 1, Root: "root", Nodes: []string{"a"}, Expires: now.Add(time.Hour)}.sign(priv))
	f.Add("t1.AAAA.BBBB")
	f.Add("t1..")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := parseTicket(s, keyOf, now)
		if err != nil {
			return
		}
		if _, err := parseTicket(tk.sign(priv), keyOf, now); err != nil {
			t.Fatalf("re-signed ticket %+v does not parse: %v", tk, err)
		}
	})
}
