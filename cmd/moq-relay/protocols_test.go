package main

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/transport"
)

// --protocol restricts what clients may negotiate, in the order given: a
// client offering only a protocol left out gets no application protocol,
// one offering several gets the relay's first choice among them.
func TestServeProtocolsFlag(t *testing.T) {
	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json"},
		"--bind", "127.0.0.1:0", "--tls-generate", "localhost", "--protocol", "moq-lite-03,moq-lite-04")
	listening := p.waitLog(t, "relay listening", nil)
	if got, _ := listening["protocols"].([]any); len(got) != 2 || got[0] != "moq-lite-03" || got[1] != "moq-lite-04" {
		t.Fatalf("relay listening with protocols %v, want [moq-lite-03 moq-lite-04]", listening["protocols"])
	}
	udp, _ := listening["udp"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(offer ...string) (string, error) {
		conn, err := transport.DialQUIC(ctx, udp, "localhost", transport.DialOptions{Protocols: offer, InsecureSkipVerify: true})
		if err != nil {
			return "", err
		}
		defer conn.CloseWithError(0, "")
		return conn.Protocol(), nil
	}
	if got, err := dial("moq-lite-04", "moq-lite-03"); err != nil || got != "moq-lite-03" {
		t.Errorf("offering moq-lite-04, moq-lite-03: negotiated %q, %v; want the relay's first choice moq-lite-03", got, err)
	}
	if got, err := dial("moql"); err == nil {
		t.Errorf("offering only moql, which --protocol leaves out: negotiated %q, want a refusal", got)
	} else {
		t.Logf("offering only moql: refused: %v", err)
	}
}
