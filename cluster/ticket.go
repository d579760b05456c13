package cluster

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// A ticket is an allocation's proof: the root that chose the candidates
// signs them with its own Ed25519 key (sent to its members in WELCOME), so
// any member verifies a ticket without a round trip and without a shared
// secret, whichever credential the cluster uses. Until a session redeems it
// or it expires, the issuing root counts it as pending load on the first
// candidate, so a burst of allocations spreads.
//
// On the wire (a URL query value): "t1." base64url(payload) "." base64url(signature),
// payload = id varint | root string | count varint | count x node string |
// broadcast string | expires varint (Unix ms).
type ticket struct {
	ID        uint64
	Root      string
	Nodes     []string
	Broadcast string
	Expires   time.Time
}

const (
	ticketPrefix   = "t1."
	maxTicketNodes = 64
)

// Errors of parseTicket, for the metrics and the log.
var (
	errTicketMalformed = errors.New("malformed ticket")
	errTicketSignature = errors.New("ticket signature does not verify")
	errTicketExpired   = errors.New("ticket expired")
	errTicketRoot      = errors.New("ticket from an unknown root")
)

func (t ticket) payload() []byte {
	b := wire.AppendVarint(nil, t.ID)
	b = wire.AppendString(b, t.Root)
	b = wire.AppendVarint(b, uint64(len(t.Nodes)))
	for _, n := range t.Nodes {
		b = wire.AppendString(b, n)
	}
	b = wire.AppendString(b, t.Broadcast)
	return wire.AppendVarint(b, uint64(t.Expires.UnixMilli()))
}

// sign returns the ticket string.
func (t ticket) sign(key ed25519.PrivateKey) string {
	p := t.payload()
	enc := base64.RawURLEncoding
	return ticketPrefix + enc.EncodeToString(p) + "." + enc.EncodeToString(ed25519.Sign(key, p))
}

// parseTicket decodes s and verifies it with the key of the root it names
// (keyOf returns nil for a root it does not know) and that it has not
// expired at now.
func parseTicket(s string, keyOf func(root string) ed25519.PublicKey, now time.Time) (ticket, error) {
	if len(s) > proto.MaxTicketLen || !strings.HasPrefix(s, ticketPrefix) {
		return ticket{}, errTicketMalformed
	}
	payloadText, sigText, ok := strings.Cut(s[len(ticketPrefix):], ".")
	if !ok {
		return ticket{}, errTicketMalformed
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(payloadText)
	sig, err2 := enc.DecodeString(sigText)
	if err1 != nil || err2 != nil || len(sig) != ed25519.SignatureSize {
		return ticket{}, errTicketMalformed
	}
	t, err := decodeTicket(payload)
	if err != nil {
		return ticket{}, err
	}
	key := keyOf(t.Root)
	if key == nil {
		return ticket{}, fmt.Errorf("%w %q", errTicketRoot, t.Root)
	}
	if !ed25519.Verify(key, payload, sig) {
		return ticket{}, errTicketSignature
	}
	if !now.Before(t.Expires) {
		return ticket{}, errTicketExpired
	}
	return t, nil
}

func decodeTicket(p []byte) (ticket, error) {
	d := wire.NewDecoder(p)
	t := ticket{ID: d.Varint(), Root: d.String(proto.MaxNodeIDLen)}
	n := int(d.BoundedVarint(maxTicketNodes))
	for range n {
		if d.Err() != nil {
			break
		}
		t.Nodes = append(t.Nodes, d.String(proto.MaxNodeIDLen))
	}
	t.Broadcast = d.String(proto.MaxPathLen)
	ms := d.BoundedVarint(1<<53 - 1)
	if err := d.Finish(); err != nil {
		return ticket{}, fmt.Errorf("%w: %v", errTicketMalformed, err)
	}
	t.Expires = time.UnixMilli(int64(ms))
	return t, nil
}

// names reports whether the ticket was issued for node id.
func (t ticket) names(id string) bool { return slices.Contains(t.Nodes, id) }
