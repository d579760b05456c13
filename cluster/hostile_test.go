package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/clustertest"
	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/transport"
)

// Malformed or refused cluster connections are closed with the protocol's
// code and reason, and the root keeps serving its healthy leaves.
func TestHostileControlConnections(t *testing.T) {
	c := pullAcross(t)
	root, pub, r := c.root, c.pub, c.r

	hello := proto.Append(nil, proto.Hello{Version: proto.Version, Purpose: proto.PurposeControl, NodeID: "intruder", URL: "https://127.0.0.1:1",
		Token: clustertest.DefaultToken})
	cases := []struct {
		name     string
		send     []byte
		wantCode uint32
	}{
		{"garbage instead of hello", []byte{0xff, 0xff, 0xff}, proto.CodeProtocolViolation},
		{"truncated hello", hello[:len(hello)-3], proto.CodeProtocolViolation},
		{"not a hello first", proto.Append(nil, proto.Announce{Path: "x"}), proto.CodeProtocolViolation},
		{"future version", proto.Append(nil, proto.Hello{Version: 99, NodeID: "x"}), proto.CodeVersion},
		{"peer link in no moq protocol the node speaks", proto.Append(nil, proto.Hello{Version: proto.Version, Purpose: proto.PurposePeer, NodeID: "alien",
			URL: "https://127.0.0.1:1", Token: clustertest.DefaultToken, Protocols: []string{"moq-lite-99", "moqt-99"}}), proto.CodeVersion},
		{"unknown message after welcome", append(append([]byte{}, hello...), 0x3f, 0x00), proto.CodeProtocolViolation},
		{"oversized message after welcome", append(append([]byte{}, hello...), 0x10, 0x80, 0x20, 0x00, 0x00), proto.CodeProtocolViolation},
		{"leaf-only message after welcome", append(append([]byte{}, hello...), proto.Append(nil, proto.HeartbeatAck{Seq: 1})...), proto.CodeProtocolViolation},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := transport.DialQUIC(ctx, root.Listener.UDPAddr().String(), "localhost", transport.DialOptions{
				Protocols:    []string{proto.ALPN},
				Fingerprints: [][32]byte{root.Cert.Fingerprint()},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseWithError(0, "")
			str, err := conn.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := str.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.name == "truncated hello" {
				_ = str.Close()
			}
			select {
			case <-conn.Context().Done():
			case <-ctx.Done():
				t.Fatal("connection not closed")
			}
			var se *transport.SessionError
			if !errors.As(conn.Err(), &se) || se.Code != tc.wantCode || !se.Remote || se.Reason == "" {
				t.Fatalf("closed with %v, want remote code 0x%x with a reason", conn.Err(), tc.wantCode)
			}
			// The healthy leaves are undisturbed.
			pub.writeGroup(t, i)
			if f, err := nextFrame(ctx, r); err != nil {
				t.Fatalf("healthy subscriber after %s: %q, %v", tc.name, f, err)
			}
			for _, m := range root.Cluster.Status().Members {
				if m.ID != "intruder" && m.State != "healthy" {
					t.Fatalf("member %s is %s after the hostile connection", m.ID, m.State)
				}
			}
		})
	}
}
