package ietf_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
)

// errorCode extracts the code of a refusal in any draft's form.
func errorCode(m message.Message) (uint64, bool) {
	switch m := m.(type) {
	case *message.RequestError:
		return m.Code, true
	case *message.FetchError:
		return m.Code, true
	case *message.TrackStatusError:
		return m.Code, true
	case *message.PublishError:
		return m.Code, true
	}
	return 0, false
}

// A FETCH is served from the track's cache on every draft: a cached range
// whole, a range partly evicted from what is still held, a range wholly
// evicted with INVALID_RANGE, an unknown track with DOES_NOT_EXIST.
// A joining FETCH covers the groups before its subscription; PUBLISH is
// declined; TRACK_STATUS reports the largest location.
func TestFetchAndTrackStatusEveryDraft(t *testing.T) {
	for _, proto := range protocols() {
		t.Run(proto, func(t *testing.T) {
			origin := moqt.NewOrigin()
			srv := startServer(t, moqt.SessionConfig{Origin: origin})
			w := publishTrack(t, origin, "room/cam", "video")
			for seq := 0; seq < 20; seq++ {
				if err := w.WriteGroup([]byte(fmt.Sprintf("g%do0", seq)), []byte(fmt.Sprintf("g%do1", seq)), []byte(fmt.Sprintf("g%do2", seq))); err != nil {
					t.Fatal(err)
				}
			}
			p := dialRaw(t, srv, proto, message.Parameters{})
			v := p.v
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ns := []string{"room", "cam"}

			fetch := func(start, end message.Location, track string) (message.Message, []fetched) {
				t.Helper()
				id := p.requestID()
				read := p.send(&message.Fetch{RequestID: id, FetchType: message.FetchStandalone, Namespace: ns, TrackName: track, Start: start, End: end})
				reply, err := read()
				if err != nil {
					t.Fatalf("fetch reply: %v", err)
				}
				if _, ok := reply.(*message.FetchOK); !ok {
					return reply, nil
				}
				rid, objs, err := p.readFetch(ctx)
				if err != nil {
					t.Fatalf("fetch stream: %v", err)
				}
				if rid != id {
					t.Fatalf("fetch stream for request %d, want %d", rid, id)
				}
				return reply, objs
			}
			describe := func(objs []fetched) string {
				s := ""
				for _, o := range objs {
					if o.payload != fmt.Sprintf("g%do%d", o.group, o.object) {
						t.Fatalf("object %d/%d carries %q", o.group, o.object, o.payload)
					}
					s += fmt.Sprintf("%d/%d ", o.group, o.object)
				}
				return s
			}

			// Cached: from object 1 of group 13 through all of group 15.
			reply, objs := fetch(message.Location{Group: 13, Object: 1}, message.Location{Group: 15}, "video")
			ok, isOK := reply.(*message.FetchOK)
			if !isOK {
				t.Fatalf("cached range: %T %+v", reply, reply)
			}
			if got, want := describe(objs), "13/1 13/2 14/0 14/1 14/2 15/0 15/1 15/2 "; got != want {
				t.Fatalf("cached range served %q, want %q", got, want)
			}
			t.Logf("%s: cached range: FETCH_OK end %+v, objects %s", v, ok.End, describe(objs))

			// Partly evicted (8 groups cached: 12..19): served from 12.
			reply, objs = fetch(message.Location{Group: 10}, message.Location{Group: 13}, "video")
			if _, isOK := reply.(*message.FetchOK); !isOK {
				t.Fatalf("partly evicted range: %T %+v", reply, reply)
			}
			if got, want := describe(objs), "12/0 12/1 12/2 13/0 13/1 13/2 "; got != want {
				t.Fatalf("partly evicted range served %q, want %q", got, want)
			}

			// Wholly evicted.
			reply, _ = fetch(message.Location{Group: 2}, message.Location{Group: 4}, "video")
			if code, ok := errorCode(reply); !ok || code != message.InvalidRange(v) {
				t.Fatalf("evicted range: %T %+v, want INVALID_RANGE", reply, reply)
			}
			// Unknown track.
			reply, _ = fetch(message.Location{}, message.Location{Group: 1}, "nope")
			if code, ok := errorCode(reply); !ok || code != message.DoesNotExist(v) {
				t.Fatalf("unknown track: %T %+v, want DOES_NOT_EXIST", reply, reply)
			}

			// A joining FETCH: the two groups before the subscription's first
			// (the newest, 19, which it delivers whole).
			subID := p.requestID()
			readSub := p.send(&message.Subscribe{RequestID: subID, Namespace: ns, TrackName: "video"})
			if reply, err := readSub(); err != nil {
				t.Fatal(err)
			} else if _, ok := reply.(*message.SubscribeOK); !ok {
				t.Fatalf("SUBSCRIBE answered with %T %+v", reply, reply)
			}
			id := p.requestID()
			readJoin := p.send(&message.Fetch{RequestID: id, FetchType: message.FetchRelativeJoining, JoiningRequestID: subID, JoiningStart: 2})
			if reply, err := readJoin(); err != nil {
				t.Fatal(err)
			} else if _, ok := reply.(*message.FetchOK); !ok {
				t.Fatalf("joining FETCH answered with %T %+v", reply, reply)
			}
			if _, objs, err := p.readFetch(ctx); err != nil {
				t.Fatal(err)
			} else if got, want := describe(objs), "17/0 17/1 17/2 18/0 18/1 18/2 "; got != want {
				t.Fatalf("joining fetch served %q, want %q", got, want)
			}
			// PUBLISH is declined with NOT_SUPPORTED.
			readPub := p.send(&message.Publish{RequestID: p.requestID(), Namespace: ns, TrackName: "up", TrackAlias: 7})
			if reply, err := readPub(); err != nil {
				t.Fatal(err)
			} else if code, ok := errorCode(reply); !ok || code != message.ErrNotSupported {
				t.Fatalf("PUBLISH answered with %T %+v, want NOT_SUPPORTED", reply, reply)
			}

			// TRACK_STATUS.
			read := p.send(&message.TrackStatus{Subscribe: message.Subscribe{RequestID: p.requestID(), Namespace: ns, TrackName: "video"}})
			reply, err := read()
			if err != nil {
				t.Fatal(err)
			}
			var params message.Parameters
			switch m := reply.(type) {
			case *message.RequestOK:
				params = m.Params
			case *message.TrackStatusOK:
				params = m.Params
			default:
				t.Fatalf("TRACK_STATUS answered with %T %+v", reply, reply)
			}
			largest, ok2, err := params.Largest(v)
			if err != nil || !ok2 || largest != (message.Location{Group: 19, Object: 2}) {
				t.Fatalf("TRACK_STATUS largest %+v (%v, %v), want {19 2}", largest, ok2, err)
			}
			read = p.send(&message.TrackStatus{Subscribe: message.Subscribe{RequestID: p.requestID(), Namespace: []string{"room", "none"}, TrackName: "video"}})
			if reply, err = read(); err != nil {
				t.Fatal(err)
			}
			if code, ok := errorCode(reply); !ok || code != message.DoesNotExist(v) {
				t.Fatalf("TRACK_STATUS of a missing broadcast: %T %+v", reply, reply)
			}
			t.Logf("%s: TRACK_STATUS largest %+v; errors as the draft numbers them", v, largest)
		})
	}
}
