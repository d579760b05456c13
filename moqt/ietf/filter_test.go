package ietf_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
)

// Subscription filters map onto the track's cache: an absolute start begins
// at that group and object, an absolute range also ends (PUBLISH_DONE
// SUBSCRIPTION_ENDED), NEXT_GROUP_START skips the newest group, and
// LARGEST_OBJECT starts with the newest group whole.
func TestSubscribeFilters(t *testing.T) {
	for _, proto := range []string{"moqt-20", "moqt-18", "moqt-16", "moq-00"} {
		t.Run(proto, func(t *testing.T) {
			origin := moqt.NewOrigin()
			srv := startServer(t, moqt.SessionConfig{Origin: origin})
			w := publishTrack(t, origin, "room/cam", "video")
			write := func(seq int) {
				if err := w.WriteGroup([]byte(fmt.Sprintf("g%do0", seq)), []byte(fmt.Sprintf("g%do1", seq)), []byte(fmt.Sprintf("g%do2", seq))); err != nil {
					t.Fatal(err)
				}
			}
			for seq := 0; seq < 5; seq++ {
				write(seq)
			}
			p := dialRaw(t, srv, proto, message.Parameters{})
			v := p.v
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			subscribe := func(f message.Filter) func() (message.Message, error) {
				t.Helper()
				m := &message.Subscribe{RequestID: p.requestID(), Namespace: []string{"room", "cam"}, TrackName: "video"}
				if err := m.Params.SetFilter(f, v); err != nil {
					t.Fatal(err)
				}
				read := p.send(m)
				if reply, err := read(); err != nil {
					t.Fatal(err)
				} else if _, ok := reply.(*message.SubscribeOK); !ok {
					t.Fatalf("SUBSCRIBE with %+v answered with %T %+v", f, reply, reply)
				}
				return read
			}
			collect := func(n int) []subgroup {
				t.Helper()
				var out []subgroup
				for len(out) < n {
					sg, err := p.readSubgroup(ctx)
					if err != nil {
						t.Fatalf("after %d subgroups: %v", len(out), err)
					}
					out = append(out, sg)
				}
				sort.Slice(out, func(i, j int) bool { return out[i].group < out[j].group })
				return out
			}
			describe := func(sgs []subgroup) string {
				s := ""
				for _, sg := range sgs {
					for _, o := range sg.objects {
						if o.payload != fmt.Sprintf("g%do%d", o.group, o.object) {
							t.Fatalf("object %d/%d carries %q", o.group, o.object, o.payload)
						}
						s += fmt.Sprintf("%d/%d ", o.group, o.object)
					}
				}
				return s
			}

			// A range wholly published already: SUBSCRIBE is for what comes
			// (FETCH serves the past), so INVALID_RANGE.
			m := &message.Subscribe{RequestID: p.requestID(), Namespace: []string{"room", "cam"}, TrackName: "video"}
			if err := m.Params.SetFilter(message.Filter{Kind: message.FilterAbsolute, Start: message.Location{Group: 1}, HasEnd: true, EndGroup: 2}, v); err != nil {
				t.Fatal(err)
			}
			if reply, err := p.send(m)(); err != nil {
				t.Fatal(err)
			} else if code, ok := errorCode(reply); !ok || code != message.InvalidRange(v) {
				t.Fatalf("past range: %T %+v, want INVALID_RANGE", reply, reply)
			}

			// Absolute range: group 5 from object 1 through group 6, then done.
			read := subscribe(message.Filter{Kind: message.FilterAbsolute, Start: message.Location{Group: 5, Object: 1}, HasEnd: true, EndGroup: 6})
			write(5)
			write(6)
			got := collect(2)
			if s, want := describe(got), "5/1 5/2 6/0 6/1 6/2 "; s != want {
				t.Fatalf("absolute range delivered %q, want %q", s, want)
			}
			if v >= message.Draft18 && (got[0].whole || !got[1].whole) {
				t.Fatalf("first-object flags %v %v, want false for the group joined at object 1", got[0].whole, got[1].whole)
			}
			if reply, err := read(); err != nil {
				t.Fatal(err)
			} else if done, ok := reply.(*message.PublishDone); !ok || done.Code != message.DoneSubscriptionEnded || done.StreamCount != 2 {
				t.Fatalf("after the range: %T %+v, want PUBLISH_DONE SUBSCRIPTION_ENDED with 2 streams", reply, reply)
			}
			rangeDesc := describe(got)

			// LARGEST_OBJECT: the newest group (6) whole.
			subscribe(message.Filter{Kind: message.FilterNextObject})
			first := collect(1)
			if s, want := describe(first), "6/0 6/1 6/2 "; s != want {
				t.Fatalf("LARGEST_OBJECT delivered %q first, want %q", s, want)
			}
			// NEXT_GROUP_START: nothing until group 7, which both get.
			subscribe(message.Filter{Kind: message.FilterRelative})
			write(7)
			if s, want := describe(collect(2)), "7/0 7/1 7/2 7/0 7/1 7/2 "; s != want {
				t.Fatalf("after group 7: %q, want it once per subscription", s)
			}
			// Absolute start in the past, still cached: from there on.
			subscribe(message.Filter{Kind: message.FilterAbsolute, Start: message.Location{Group: 3, Object: 1}})
			cached := describe(collect(5))
			if want := "3/1 3/2 4/0 4/1 4/2 5/0 5/1 5/2 6/0 6/1 6/2 7/0 7/1 7/2 "; cached != want {
				t.Fatalf("absolute start from the cache delivered %q, want %q", cached, want)
			}
			t.Logf("%s: past range INVALID_RANGE; absolute range %s+ PUBLISH_DONE; LARGEST_OBJECT %s; NEXT_GROUP_START waited for group 7; absolute start from cache %s", v, rangeDesc, describe(first), cached)
		})
	}
}
