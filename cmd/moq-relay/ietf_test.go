package main

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"
)

// Malformed moq-transport input against the built relay: each hostile
// connection is closed with the draft's PROTOCOL_VIOLATION and a reason,
// while a healthy moq-transport subscriber (draft-18, raw QUIC) of a
// moq-lite publisher (WebTransport) on the same relay keeps receiving, its
// longest wait between groups printed per case.
func TestIETFMalformedInputClosesOnlyThatSession(t *testing.T) {
	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json"}, "--bind", "127.0.0.1:0", "--tls-generate", "localhost,127.0.0.1")
	listening := p.waitLog(t, "relay listening", nil)
	udp := listening["udp"].(string)
	_, port, _ := net.SplitHostPort(udp)
	var fp [32]byte
	if _, err := hex.Decode(fp[:], []byte(listening["certificate_sha256"].(string))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The healthy pair: a moq-lite publisher writing a group every 20 ms and
	// a draft-18 subscriber.
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	defer b.Close()
	w, _ := b.CreateTrack("t")
	origin.Publish("live", b, moqt.PublishOptions{})
	pub, err := moqt.Connect(ctx, "https://127.0.0.1:"+port+"/", moqt.ConnectOptions{
		SessionConfig: moqt.SessionConfig{Origin: origin}, Fingerprints: [][32]byte{fp}, Protocols: []string{"moq-lite-04"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.CloseWithError(0, "")
	sub, err := moqt.Connect(ctx, "moqt://127.0.0.1:"+port+"/", moqt.ConnectOptions{Fingerprints: [][32]byte{fp}, Protocols: []string{"moqt-18"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.CloseWithError(0, "")
	if sub.Version() != "moq-transport draft-18" {
		t.Fatalf("subscriber negotiated %q, want draft-18", sub.Version())
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	writeCtx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-writeCtx.Done():
				return
			case <-tick.C:
				_ = w.WriteGroup([]byte("frame"))
			}
		}
	}()
	var rd *moqt.TrackReader
	for rd == nil {
		r, err := sub.Consume("live").Subscribe("t", moqt.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first, cancelFirst := context.WithTimeout(ctx, 2*time.Second)
		_, err = r.NextGroup(first)
		cancelFirst()
		if err == nil {
			rd = r
			break
		}
		r.Close()
		if ctx.Err() != nil {
			t.Fatalf("healthy subscriber never got a group: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the publisher's announcement may still be on its way
	}
	defer rd.Close()
	// maxGap reads the healthy track for d and returns the longest wait.
	maxGap := func(d time.Duration) time.Duration {
		var longest time.Duration
		last := time.Now()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			gctx, gcancel := context.WithDeadline(ctx, end.Add(time.Second))
			_, err := rd.NextGroup(gctx)
			gcancel()
			if err != nil {
				t.Fatalf("healthy subscriber: %v", err)
			}
			now := time.Now()
			longest = max(longest, now.Sub(last))
			last = now
		}
		return longest
	}

	setup18 := func() []byte {
		var s message.Setup
		s.Options.SetBytes(message.OptionPath, []byte("/"))
		b, err := message.AppendControl(nil, &s, message.Draft18)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	clientSetup := func(v message.Version) []byte {
		s := message.ClientSetup{Versions: []message.Version{v}}
		s.Options.SetBytes(message.OptionPath, []byte("/"))
		b, err := message.AppendControl(nil, &s, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	subscribe := func(v message.Version) []byte {
		m := &message.Subscribe{RequestID: 0, Namespace: []string{"live"}, TrackName: "t"}
		m.Params.SetForward(true)
		b, err := message.AppendControl(nil, m, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name, alpn string
		uni        [][]byte // each on a unidirectional stream of its own
		bidi       []byte   // on one bidirectional stream
	}{
		{"draft-18 garbage instead of SETUP", "moqt-18", [][]byte{{0xff, 0xff, 0xff, 0xff}}, nil},
		{"draft-18 unknown request type", "moqt-18", [][]byte{setup18}, []byte{0x3f, 0x00, 0x00}},
		{"draft-18 SETUP twice", "moqt-18", [][]byte{append(append([]byte{}, setup18...), setup18...)}, nil},
		{"draft-16 unknown control message", "moqt-16", nil, append(clientSetup(message.Draft16), 0x3e, 0x00, 0x00)},
		{"draft-16 truncated SUBSCRIBE", "moqt-16", nil, func() []byte {
			s := subscribe(message.Draft16)
			return append(clientSetup(message.Draft16), s[:len(s)-2]...)
		}()},
		{"draft-14 truncated SUBSCRIBE, its length past the stream's end", "moq-00", nil, func() []byte {
			s := subscribe(message.Draft14)
			s[2] += 5 // the u16 length's low byte (type 0x03 is one byte)
			return append(clientSetup(message.Draft14), s...)
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := transport.DialQUIC(ctx, udp, "localhost", transport.DialOptions{Protocols: []string{tc.alpn}, Fingerprints: [][32]byte{fp}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseWithError(0, "")
			for _, u := range tc.uni {
				str, err := conn.OpenUniStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = str.Write(u)
				if strings.Contains(tc.name, "garbage") {
					_ = str.Close() // a type cut short, not one still arriving
				}
			}
			if tc.bidi != nil {
				str, err := conn.OpenStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = str.Write(tc.bidi)
				if strings.Contains(tc.name, "truncated") {
					_ = str.Close()
				}
			}
			start := time.Now()
			select {
			case <-conn.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("hostile session not closed within 5 s")
			}
			var se *transport.SessionError
			if !errors.As(conn.Err(), &se) || !se.Remote || se.Code != uint32(message.ProtocolViolation) || se.Reason == "" {
				t.Fatalf("hostile session ended with %v, want the relay's PROTOCOL_VIOLATION (0x3) with a reason", conn.Err())
			}
			closedIn := time.Since(start)
			gap := maxGap(500 * time.Millisecond)
			t.Logf("FIGURE %s: closed with 0x%x %q after %v; healthy subscriber's longest gap %v", tc.name, se.Code, se.Reason,
				closedIn.Round(time.Millisecond), gap.Round(time.Millisecond))
			if gap > maxHealthyGap {
				t.Errorf("healthy subscriber waited %v between groups, want < %v", gap, maxHealthyGap)
			}
		})
	}
}
