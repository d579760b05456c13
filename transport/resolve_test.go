package transport

import (
	"crypto/x509"
	"net"
	"strconv"
	"testing"
)

// With Resolve a client reaches a listener by a name that no resolver
// knows (.test), keeping the name for SNI, verification and the
// WebTransport URL; the fingerprint fetch goes to the same address and
// answers for that name's certificate.
func TestDialResolve(t *testing.T) {
	def, public := testCert(t), newCert(t, "cdn.example.test")
	store := NewCertStore(def)
	store.SetNamed([]*Certificate{public})
	l := listen(t, ListenOptions{Certs: store})
	port := strconv.Itoa(l.UDPAddr().Port)
	hostport := net.JoinHostPort("cdn.example.test", port)
	roots := x509.NewCertPool()
	roots.AddCert(public.Leaf)
	opts := DialOptions{
		Protocols: serverProtocols,
		RootCAs:   roots,
		Resolve:   map[string]string{hostport: net.JoinHostPort("127.0.0.1", port)},
	}

	q, err := DialQUIC(testCtx(t), hostport, "cdn.example.test", opts)
	if err != nil {
		t.Fatalf("DialQUIC %s: %v", hostport, err)
	}
	accepted, err := l.Accept(testCtx(t))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	_ = q.CloseWithError(0, "")
	_ = accepted.CloseWithError(0, "")

	wt, err := DialWebTransport(testCtx(t), "https://"+hostport+"/room?jwt=x", opts)
	if err != nil {
		t.Fatalf("DialWebTransport %s: %v", hostport, err)
	}
	accepted, err = l.Accept(testCtx(t))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if accepted.Path() != "room" || accepted.Query() != "jwt=x" {
		t.Errorf("server saw path %q query %q, want room and jwt=x", accepted.Path(), accepted.Query())
	}
	_ = wt.CloseWithError(0, "")
	_ = accepted.CloseWithError(0, "")
	<-wt.(*wtSession).connClosed

	fp, err := opts.FetchFingerprint(testCtx(t), "http://"+hostport+"/room")
	if err != nil {
		t.Fatalf("FetchFingerprint %s: %v", hostport, err)
	}
	if fp != public.Fingerprint() {
		t.Errorf("fetched %x, want the public name's certificate %s", fp, public.FingerprintHex())
	}
	// Upper case in the URL still matches (host names are case-blind).
	if fp, err := opts.FetchFingerprint(testCtx(t), "http://CDN.example.test:"+port+"/"); err != nil || fp != public.Fingerprint() {
		t.Errorf("FetchFingerprint with an upper-case host: %x, %v", fp, err)
	}
}

func TestDialAddr(t *testing.T) {
	o := DialOptions{Resolve: map[string]string{"cdn.example.test:4443": "127.0.0.1:4443", "[::1]:443": "127.0.0.1:443"}}
	for in, want := range map[string]string{
		"cdn.example.test:4443": "127.0.0.1:4443",
		"CDN.EXAMPLE.TEST:4443": "127.0.0.1:4443",
		"cdn.example.test:443":  "cdn.example.test:443", // the port is part of the key, as in curl
		"[::1]:443":             "127.0.0.1:443",
		"127.0.0.1:4443":        "127.0.0.1:4443",
	} {
		if got := o.dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (DialOptions{}).dialAddr("a:1"); got != "a:1" {
		t.Errorf("without Resolve dialAddr = %q", got)
	}
}
