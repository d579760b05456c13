package web_test

import (
	"fmt"
	"testing"
)

// ietfDrafts are the moq-transport drafts @moq/net 0.3.4 offers over
// WebTransport: its protocol name and the version name the page reports.
var ietfDrafts = []struct{ alpn, want string }{
	{"moqt-15", "moq-transport-15"},
	{"moqt-16", "moq-transport-16"},
	{"moqt-17", "moq-transport-17"},
	{"moqt-18", "moq-transport-18"},
	{"moqt-19", "moq-transport-19"},
	{"moqt-20", "moq-transport-20"},
}

// TestBrowserIETF runs @moq/net in Chromium with its WebTransport protocols
// forced to one moq-transport draft at a time, against moq-relay processes:
//
//   - subscribes: the page subscribes to the examples/clock binary's clock,
//     published over moq-lite (moq-lite → moqt);
//   - publishes: the page publishes; a Go moq-lite client sees it announced
//     and gets every frame (moqt → moq-lite);
//   - page-to-page: one page publishes and another subscribes, both on the
//     draft, through one relay;
//   - cluster: a moqt page on leaf a is watched by a moq-lite-04 page on leaf
//     b, and the other way round.
func TestBrowserIETF(t *testing.T) {
	requireHarness(t)
	relay := startRelay(t, "relay", func(int) []string { return nil })
	startClock(t, relay, clockInterval)
	br := startBrowser(t)
	for _, d := range ietfDrafts {
		t.Run("subscribes/"+d.alpn, func(t *testing.T) {
			t.Parallel()
			br.slot(t)
			browserSubscribesClock(t, br, relay, "net", d.alpn, d.want)
		})
		t.Run("publishes/"+d.alpn, func(t *testing.T) {
			t.Parallel()
			br.slot(t)
			browserPublishes(t, br, relay, "net", d.alpn, d.alpn, d.want)
		})
		t.Run("page-to-page/"+d.alpn, func(t *testing.T) {
			t.Parallel()
			br.slot(t)
			side := pageSide{pkg: "net", alpn: d.alpn, want: d.want}
			crossNode(t, br, relay, relay, d.alpn, side, side)
		})
	}
}

// TestBrowserIETFCluster: across a root and two leaves, a moqt-18 page and a
// moq-lite-04 page watch each other's broadcasts, and a moqt-18 page on
// one leaf watches a moqt-16 page (the control-stream family) on the other.
func TestBrowserIETFCluster(t *testing.T) {
	requireHarness(t)
	c := startCluster(t)
	br := startBrowser(t)
	moqt18 := pageSide{pkg: "net", alpn: "moqt-18", want: "moq-transport-18"}
	moqt16 := pageSide{pkg: "net", alpn: "moqt-16", want: "moq-transport-16"}
	lite04 := pageSide{pkg: "net", alpn: "moq-lite-04", want: "moq-lite-04"}
	cases := []struct {
		name     string
		from, to *relayProc
		pub, sub pageSide
	}{
		{"a-to-b/moqt-18-to-lite-04", c.a, c.b, moqt18, lite04},
		{"b-to-a/lite-04-to-moqt-18", c.b, c.a, lite04, moqt18},
		{"a-to-b/moqt-16-to-moqt-18", c.a, c.b, moqt16, moqt18},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			br.slot(t)
			crossNode(t, br, tc.from, tc.to, fmt.Sprintf("ietf-%s", tc.pub.alpn), tc.pub, tc.sub)
		})
	}
}
