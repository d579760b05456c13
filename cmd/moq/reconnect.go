package main

import (
	"math/rand/v2"
	"net/url"
	"time"
)

// backoff is capped exponential backoff with jitter: the n-th wait is drawn
// from [d/2, d] where d = first·2ⁿ, capped at max.
type backoff struct {
	first, max time.Duration
	n          int
}

func (b *backoff) next() time.Duration {
	d := b.first << min(b.n, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// redirectURL is where a GOAWAY sends the client: the peer's URI, with the
// original query (the token) when the URI carries none. It returns "" for a
// URI that is not a MoQ URL, which is then not followed.
func redirectURL(current, uri string) string {
	if uri == "" {
		return ""
	}
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.Port() == "" {
		return ""
	}
	switch u.Scheme {
	case "moqt", "moql", "quic", "https", "http":
	default:
		return ""
	}
	if u.RawQuery == "" {
		if cur, err := url.Parse(current); err == nil {
			u.RawQuery = cur.RawQuery
		}
	}
	return u.String()
}

// goawayNotice delivers the latest GOAWAY redirect of a session.
type goawayNotice chan string

func newGoawayNotice() goawayNotice { return make(goawayNotice, 1) }

// note records uri, replacing one not yet taken.
func (g goawayNotice) note(uri string) {
	select {
	case <-g:
	default:
	}
	select {
	case g <- uri:
	default:
	}
}
