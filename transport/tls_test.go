package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func TestGenerateCertificate(t *testing.T) {
	tests := []struct {
		name      string
		hosts     []string
		validity  time.Duration
		want      time.Duration // expected NotAfter-NotBefore
		wantDNS   []string
		wantIPs   []string
		wantError bool
	}{
		{name: "default validity", hosts: []string{"localhost"}, validity: 0, want: DefaultGeneratedValidity, wantDNS: []string{"localhost"}},
		{name: "negative is default", hosts: []string{"localhost"}, validity: -time.Hour, want: DefaultGeneratedValidity, wantDNS: []string{"localhost"}},
		{name: "one hour", hosts: []string{"relay.example.com"}, validity: time.Hour, want: time.Hour, wantDNS: []string{"relay.example.com"}},
		{name: "just under 14 days", hosts: []string{"a.example"}, validity: 14*24*time.Hour - time.Minute, want: 14*24*time.Hour - time.Minute, wantDNS: []string{"a.example"}},
		{
			name:     "mixed hosts",
			hosts:    []string{"localhost", "127.0.0.1", "::1", "relay.example.com"},
			validity: 24 * time.Hour, want: 24 * time.Hour,
			wantDNS: []string{"localhost", "relay.example.com"},
			wantIPs: []string{"127.0.0.1", "::1"},
		},
		{name: "only an IP", hosts: []string{"10.1.2.3"}, want: DefaultGeneratedValidity, wantIPs: []string{"10.1.2.3"}},
		{name: "14 days rejected", hosts: []string{"localhost"}, validity: 14 * 24 * time.Hour, wantError: true},
		{name: "a year rejected", hosts: []string{"localhost"}, validity: 365 * 24 * time.Hour, wantError: true},
		{name: "no hosts", hosts: nil, wantError: true},
		{name: "empty hosts", hosts: []string{}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			c, err := GenerateCertificate(tt.hosts, tt.validity)
			if tt.wantError {
				if err == nil {
					t.Fatalf("GenerateCertificate(%v, %s) succeeded, want an error", tt.hosts, tt.validity)
				}
				if !strings.HasPrefix(err.Error(), "transport: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GenerateCertificate: %v", err)
			}
			leaf := c.Leaf
			if leaf == nil || c.TLS.Leaf != leaf {
				t.Fatalf("Leaf %p and TLS.Leaf %p should be the same parsed leaf", leaf, c.TLS.Leaf)
			}
			if len(c.TLS.Certificate) != 1 || string(c.TLS.Certificate[0]) != string(leaf.Raw) {
				t.Fatalf("TLS chain should be exactly the leaf DER")
			}

			// Key: ECDSA P-256, and the private key matches the leaf.
			key, ok := c.TLS.PrivateKey.(*ecdsa.PrivateKey)
			if !ok {
				t.Fatalf("private key is %T, want *ecdsa.PrivateKey", c.TLS.PrivateKey)
			}
			if key.Curve != elliptic.P256() {
				t.Errorf("curve %s, want P-256", key.Curve.Params().Name)
			}
			pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			if !ok || !pub.Equal(&key.PublicKey) {
				t.Errorf("leaf public key does not match the private key")
			}
			if leaf.PublicKeyAlgorithm != x509.ECDSA || leaf.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Errorf("algorithms %s/%s, want ECDSA/ECDSA-SHA256", leaf.PublicKeyAlgorithm, leaf.SignatureAlgorithm)
			}

			// Self-signed leaf (not a CA: it signs nothing else).
			if leaf.IsCA {
				t.Errorf("generated certificate is a CA")
			}
			if string(leaf.RawIssuer) != string(leaf.RawSubject) {
				t.Errorf("issuer %s differs from subject %s", leaf.Issuer, leaf.Subject)
			}
			if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
				t.Errorf("not self-signed: %v", err)
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("ExtKeyUsage %v, want [ServerAuth]", leaf.ExtKeyUsage)
			}
			if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
				t.Errorf("KeyUsage %v lacks DigitalSignature", leaf.KeyUsage)
			}
			if leaf.Subject.CommonName != tt.hosts[0] {
				t.Errorf("CommonName %q, want %q", leaf.Subject.CommonName, tt.hosts[0])
			}
			if leaf.SerialNumber.Sign() <= 0 {
				t.Errorf("serial %v should be positive", leaf.SerialNumber)
			}

			// Validity: as asked, always under the 14-day browser bound, and
			// current now (certificate times have one-second resolution).
			got := leaf.NotAfter.Sub(leaf.NotBefore)
			if d := got - tt.want; d < -time.Second || d > time.Second {
				t.Errorf("validity %s, want %s", got, tt.want)
			}
			if got >= 14*24*time.Hour {
				t.Errorf("validity %s is not under 14 days", got)
			}
			if !leaf.NotBefore.Before(before) || !leaf.NotAfter.After(time.Now()) {
				t.Errorf("certificate [%s, %s] is not valid now", leaf.NotBefore, leaf.NotAfter)
			}

			// SANs.
			if !equalStrings(leaf.DNSNames, tt.wantDNS) {
				t.Errorf("DNSNames %v, want %v", leaf.DNSNames, tt.wantDNS)
			}
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !equalStrings(ips, tt.wantIPs) {
				t.Errorf("IPAddresses %v, want %v", ips, tt.wantIPs)
			}
			for _, h := range tt.hosts {
				if err := leaf.VerifyHostname(h); err != nil {
					t.Errorf("VerifyHostname(%q): %v", h, err)
				}
			}

			// The certificate verifies against itself as a root for its names.
			roots := x509.NewCertPool()
			roots.AddCert(leaf)
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tt.hosts[0], Roots: roots}); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGenerateCertificateUnique(t *testing.T) {
	a, b := newCert(t, "localhost"), newCert(t, "localhost")
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("two generated certificates share a fingerprint")
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two generated certificates share a serial number")
	}
}

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestFingerprint(t *testing.T) {
	c := testCert(t)
	want := sha256.Sum256(c.Leaf.Raw)
	if got := c.Fingerprint(); got != want {
		t.Fatalf("Fingerprint %x, want sha256 of the leaf DER %x", got, want)
	}
	if got := sha256.Sum256(c.TLS.Certificate[0]); got != want {
		t.Fatalf("leaf DER and served chain differ")
	}
	h := c.FingerprintHex()
	if !lowerHex64.MatchString(h) {
		t.Fatalf("FingerprintHex %q is not 64 lower-case hex characters", h)
	}
	if h != hex.EncodeToString(want[:]) {
		t.Fatalf("FingerprintHex %q, want %x", h, want)
	}
	back, err := ParseFingerprint(h)
	if err != nil || back != want {
		t.Fatalf("ParseFingerprint(FingerprintHex) = %x, %v; want %x", back, err, want)
	}
}

func TestParseFingerprint(t *testing.T) {
	var want [32]byte
	for i := range want {
		want[i] = byte(0xa0 + i)
	}
	lower := hex.EncodeToString(want[:])
	upper := strings.ToUpper(lower)
	var colonParts []string
	for i := 0; i < len(upper); i += 2 {
		colonParts = append(colonParts, upper[i:i+2])
	}
	colons := strings.Join(colonParts, ":")

	good := []struct{ name, in string }{
		{"lower", lower},
		{"upper", upper},
		{"mixed case", lower[:32] + upper[32:]},
		{"colon separated", colons},
		{"colon separated lower", strings.ToLower(colons)},
		{"trailing newline", lower + "\n"},
		{"surrounding space", " \t" + lower + "\r\n "},
		{"colons and space", "  " + colons + "\n"},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if err != nil {
				t.Fatalf("ParseFingerprint(%q): %v", tt.in, err)
			}
			if got != want {
				t.Fatalf("ParseFingerprint(%q) = %x, want %x", tt.in, got, want)
			}
		})
	}

	bad := []struct{ name, in string }{
		{"empty", ""},
		{"space only", "   "},
		{"too short", lower[:62]},
		{"odd length", lower[:63]},
		{"too long", lower + "00"},
		{"sha1 length", lower[:40]},
		{"non-hex", "zz" + lower[2:]},
		{"inner space", lower[:32] + " " + lower[32:]},
		{"dash separated", strings.ReplaceAll(colons, ":", "-")},
		{"sha256 prefix", "sha-256 " + lower},
		{"base64", "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8="},
	}
	for _, tt := range bad {
		t.Run("reject "+tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if err == nil {
				t.Fatalf("ParseFingerprint(%q) = %x, want an error", tt.in, got)
			}
			if got != ([32]byte{}) {
				t.Errorf("ParseFingerprint(%q) returned %x with its error, want zero", tt.in, got)
			}
		})
	}
}

// writePEM writes c's chain and key as PEM files in dir.
func writePEM(t testing.TB, dir string, c *Certificate) (certFile, keyFile string) {
	t.Helper()
	return writePair(t, dir, "cert.pem", "key.pem", c)
}

// writePair writes c's chain to dir/certName and its key to dir/keyName.
func writePair(t testing.TB, dir, certName, keyName string, c *Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, certName), filepath.Join(dir, keyName)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.TLS.Certificate[0]})
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.TLS.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestLoadCertificate(t *testing.T) {
	orig := newCert(t, "localhost", "127.0.0.1")
	certFile, keyFile := writePEM(t, t.TempDir(), orig)

	c, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadCertificate: %v", err)
	}
	if c.Fingerprint() != orig.Fingerprint() {
		t.Errorf("loaded fingerprint %s, want %s", c.FingerprintHex(), orig.FingerprintHex())
	}
	if c.Leaf == nil || c.TLS.Leaf != c.Leaf {
		t.Errorf("loaded certificate should carry its parsed leaf in both fields")
	}
	if !c.Leaf.Equal(orig.Leaf) {
		t.Errorf("loaded leaf differs from the written one")
	}
	if _, ok := c.TLS.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("loaded key is %T, want *ecdsa.PrivateKey", c.TLS.PrivateKey)
	}

	// SEC 1 "EC PRIVATE KEY" files (openssl ecparam -genkey) load too.
	dir := t.TempDir()
	ecDER, err := x509.MarshalECPrivateKey(orig.TLS.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	ecKeyFile := filepath.Join(dir, "ec.key")
	if err := os.WriteFile(ecKeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadCertificate(certFile, ecKeyFile); err != nil || c.Fingerprint() != orig.Fingerprint() {
		t.Errorf("LoadCertificate with an EC PRIVATE KEY file: %v", err)
	}
}

func TestLoadCertificateErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePEM(t, dir, newCert(t, "localhost"))
	otherDir := t.TempDir()
	_, otherKey := writePEM(t, otherDir, newCert(t, "localhost"))

	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("this is not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	badDER := filepath.Join(dir, "bad-der.pem")
	if err := os.WriteFile(badDER, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name, cert, key string
		notExist        bool
	}{
		{name: "missing cert", cert: missing, key: keyFile, notExist: true},
		{name: "missing key", cert: certFile, key: missing, notExist: true},
		{name: "garbage cert", cert: garbage, key: keyFile},
		{name: "garbage key", cert: certFile, key: garbage},
		{name: "empty cert", cert: empty, key: keyFile},
		{name: "cert and key swapped", cert: keyFile, key: certFile},
		{name: "key of another certificate", cert: certFile, key: otherKey},
		{name: "undecodable DER", cert: badDER, key: keyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadCertificate(tt.cert, tt.key)
			if err == nil {
				t.Fatalf("LoadCertificate(%s, %s) = %v, want an error", tt.cert, tt.key, c)
			}
			if c != nil {
				t.Errorf("LoadCertificate returned a certificate with its error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "transport: ") || !strings.Contains(msg, tt.cert) {
				t.Errorf("error %q should have the package prefix and name the certificate file", msg)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v (err %v)", got, tt.notExist, err)
			}
		})
	}
}

func TestCertStore(t *testing.T) {
	a, b := newCert(t, "localhost"), newCert(t, "localhost")
	s := NewCertStore(a)
	if s.Current() != a {
		t.Fatal("Current is not the certificate the store was made with")
	}
	got, err := s.getCertificate(nil)
	if err != nil || got != &a.TLS {
		t.Fatalf("getCertificate = %p, %v; want a's TLS certificate", got, err)
	}
	s.Set(b)
	if s.Current() != b {
		t.Fatal("Set did not replace the certificate")
	}
	if got, _ := s.getCertificate(nil); got != &b.TLS {
		t.Fatal("getCertificate does not serve the replaced certificate")
	}

	// Reload from files.
	c := newCert(t, "localhost")
	certFile, keyFile := writePEM(t, t.TempDir(), c)
	if err := s.Reload(certFile, keyFile); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if s.Current().Fingerprint() != c.Fingerprint() {
		t.Fatal("Reload did not install the certificate from the files")
	}

	// A failed reload keeps the current certificate.
	cur := s.Current()
	if err := s.Reload(filepath.Join(t.TempDir(), "nope.pem"), keyFile); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if s.Current() != cur {
		t.Fatal("a failed Reload replaced the certificate")
	}
}

func TestPinnedVerifier(t *testing.T) {
	a, b := testCert(t), newCert(t, "localhost")
	tests := []struct {
		name string
		pins [][32]byte
		raw  [][]byte
		ok   bool
	}{
		{"match", [][32]byte{a.Fingerprint()}, [][]byte{a.Leaf.Raw}, true},
		{"second pin matches", [][32]byte{b.Fingerprint(), a.Fingerprint()}, [][]byte{a.Leaf.Raw}, true},
		{"only the leaf counts", [][32]byte{b.Fingerprint()}, [][]byte{a.Leaf.Raw, b.Leaf.Raw}, false},
		{"mismatch", [][32]byte{b.Fingerprint()}, [][]byte{a.Leaf.Raw}, false},
		{"no certificate", [][32]byte{a.Fingerprint()}, nil, false},
		{"no pins", nil, [][]byte{a.Leaf.Raw}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pinnedVerifier(tt.pins)(tt.raw, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("verifier = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// writeNamed writes c as NAME.crt and NAME.key in dir.
func writeNamed(t testing.TB, dir, name string, c *Certificate) {
	t.Helper()
	writePair(t, dir, name+".crt", name+".key", c)
}

func TestLoadCertificateDir(t *testing.T) {
	public, node := newCert(t, "cdn.example.test"), newCert(t, "euc.cdn.example.test", "127.0.0.2")
	dir := t.TempDir()
	writeNamed(t, dir, "public", public)
	writeNamed(t, dir, "euc", node)
	// Ignored: other extensions, hidden files, sub-directories.
	for name, content := range map[string]string{"README": "notes", "ca.pem": "x", ".old.crt": "x", ".old.key": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "archive.crt"), 0o700); err != nil {
		t.Fatal(err)
	}
	certs, err := LoadCertificateDir(dir)
	if err != nil {
		t.Fatalf("LoadCertificateDir: %v", err)
	}
	if len(certs) != 2 || certs[0].Fingerprint() != node.Fingerprint() || certs[1].Fingerprint() != public.Fingerprint() {
		t.Fatalf("loaded %d certificates, want euc then public (sorted by file name)", len(certs))
	}
	if certs[0].Leaf == nil || certs[0].TLS.Leaf != certs[0].Leaf {
		t.Error("a loaded certificate should carry its parsed leaf")
	}
}

func TestLoadCertificateDirErrors(t *testing.T) {
	good := newCert(t, "cdn.example.test")
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // the file the error must name, relative to dir
	}{
		{"certificate without key", func(t *testing.T, dir string) {
			writeNamed(t, dir, "ok", good)
			writePair(t, dir, "lonely.crt", "lonely.pem", good)
		}, "lonely.crt"},
		{"key without certificate", func(t *testing.T, dir string) {
			writePair(t, dir, "orphan.pem", "orphan.key", good)
		}, "orphan.key"},
		{"key of another certificate", func(t *testing.T, dir string) {
			writeNamed(t, dir, "a", good)
			writePair(t, dir, "other.pem", "a.key", newCert(t, "cdn.example.test"))
		}, "a.crt"},
		{"garbage certificate", func(t *testing.T, dir string) {
			writeNamed(t, dir, "bad", good)
			if err := os.WriteFile(filepath.Join(dir, "bad.crt"), []byte("not PEM"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "bad.crt"},
		{"only an IP address", func(t *testing.T, dir string) {
			writeNamed(t, dir, "ip", newCert(t, "127.0.0.1"))
		}, "ip.crt"},
		{"no pair at all", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"missing directory", func(t *testing.T, dir string) {
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			certs, err := LoadCertificateDir(dir)
			if err == nil {
				t.Fatalf("LoadCertificateDir = %d certificates, want an error", len(certs))
			}
			t.Logf("error: %v", err)
			msg := err.Error()
			want := dir
			if tt.want != "" {
				want = filepath.Join(dir, tt.want)
			}
			if !strings.HasPrefix(msg, "transport: ") || !strings.Contains(msg, want) {
				t.Errorf("error %q should have the package prefix and name %s", msg, want)
			}
		})
	}
}

func TestCertStoreForName(t *testing.T) {
	def := newCert(t, "localhost", "127.0.0.1")
	public := newCert(t, "cdn.example.test")
	wildcard := newCert(t, "*.cdn.example.test")
	node := newCert(t, "euc.cdn.example.test", "euc.example.test")
	s := NewCertStore(def)
	if got := s.ForName("cdn.example.test"); got != def {
		t.Fatal("with no named certificates every name gets the default")
	}
	s.SetNamed([]*Certificate{public, wildcard, node})
	tests := []struct {
		name string
		want *Certificate
	}{
		{"cdn.example.test", public},
		{"CDN.Example.Test.", public},
		{"euc.cdn.example.test", node}, // exact beats an earlier wildcard
		{"euc.example.test", node},
		{"usw.cdn.example.test", wildcard},
		{"a.b.cdn.example.test", def}, // wildcards cover one label
		{"example.test", def},
		{"localhost", def},
		{"", def},
		{"127.0.0.1", def},
		{"::1", def},
		{"[::1]", def},
	}
	for _, tt := range tests {
		if got := s.ForName(tt.name); got != tt.want {
			t.Errorf("ForName(%q) = %v, want %v", tt.name, got.Leaf.DNSNames, tt.want.Leaf.DNSNames)
		}
	}
	for host, want := range map[string]*Certificate{
		"cdn.example.test:4443": public, "cdn.example.test": public,
		"127.0.0.1:4443": def, "[::1]:4443": def, "usw.cdn.example.test:1": wildcard,
	} {
		if got := s.ForHost(host); got != want {
			t.Errorf("ForHost(%q) = %v, want %v", host, got.Leaf.DNSNames, want.Leaf.DNSNames)
		}
	}

	// ReloadDir replaces the named set; a failed one keeps it.
	dir := t.TempDir()
	fresh := newCert(t, "cdn.example.test")
	writeNamed(t, dir, "cdn", fresh)
	if err := s.ReloadDir(dir); err != nil {
		t.Fatalf("ReloadDir: %v", err)
	}
	if got := s.ForName("cdn.example.test"); got.Fingerprint() != fresh.Fingerprint() {
		t.Error("ReloadDir did not install the directory's certificate")
	}
	if got := s.ForName("euc.cdn.example.test"); got != def {
		t.Error("ReloadDir kept a certificate the directory no longer has")
	}
	if err := s.ReloadDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("ReloadDir of a missing directory succeeded")
	}
	if len(s.Named()) != 1 {
		t.Errorf("a failed ReloadDir changed the named set to %d certificates", len(s.Named()))
	}
}

// A listener with named certificates serves each to the clients asking for
// its name, over raw QUIC and HTTP/3 alike, verified the way a client does
// (CA pool and server name); /certificate.sha256 answers by the Host header.
func TestListenerServesCertificateBySNI(t *testing.T) {
	def, public, node := testCert(t), newCert(t, "cdn.example.test"), newCert(t, "euc.cdn.example.test")
	store := NewCertStore(def)
	store.SetNamed([]*Certificate{public, node})
	l := listen(t, ListenOptions{Certs: store})
	roots := x509.NewCertPool()
	for _, c := range []*Certificate{def, public, node} {
		roots.AddCert(c.Leaf)
	}
	for _, tt := range []struct {
		serverName string
		want       *Certificate
	}{
		{"cdn.example.test", public},
		{"euc.cdn.example.test", node},
		{"localhost", def},
		{"", def}, // an IP dial sends no SNI
	} {
		for _, alpn := range []string{serverProtocols[0], http3.NextProtoH3} {
			conf := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: tt.serverName, NextProtos: []string{alpn}}
			if tt.serverName == "" {
				conf.ServerName = "127.0.0.1"
			}
			conn, err := quic.DialAddr(testCtx(t), l.UDPAddr().String(), conf, nil)
			if err != nil {
				t.Fatalf("dial %q over %s: %v", tt.serverName, alpn, err)
			}
			got := conn.ConnectionState().TLS.PeerCertificates[0]
			_ = conn.CloseWithError(0, "")
			if !got.Equal(tt.want.Leaf) {
				t.Errorf("SNI %q over %s: served %v, want %v", tt.serverName, alpn, got.DNSNames, tt.want.Leaf.DNSNames)
			}
		}
		host := tt.serverName
		if host == "" {
			host = "127.0.0.1"
		}
		req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, "http://"+l.TCPAddr().String()+"/certificate.sha256", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = net.JoinHostPort(host, strconv.Itoa(l.TCPAddr().Port))
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /certificate.sha256 for %s: %v", req.Host, err)
		}
		body, _ := io.ReadAll(rsp.Body)
		_ = rsp.Body.Close()
		if string(body) != tt.want.FingerprintHex() {
			t.Errorf("/certificate.sha256 with Host %s = %s, want %s", req.Host, body, tt.want.FingerprintHex())
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// Under mTLS between nodes (a protocol in ClientAuthALPNs) the default
// certificate, from the cluster CA, is served whatever the name asked for:
// a named certificate may be from a public CA that peers do not trust.
// Other protocols asking for the same name get the named one.
func TestMutualTLSServesTheDefault(t *testing.T) {
	const clusterALPN = "moq-cluster-test"
	def, named := testCert(t), newCert(t, "euc.cdn.example.test")
	client := clientCert(t)
	cas := x509.NewCertPool()
	cas.AddCert(client.Leaf)
	store := NewCertStore(def)
	store.SetNamed([]*Certificate{named})
	l := listen(t, ListenOptions{Certs: store, ClientCAs: cas, ClientAuthALPNs: []string{clusterALPN}})
	for _, tt := range []struct {
		alpn string
		want *Certificate
	}{
		{clusterALPN, def},
		{serverProtocols[0], named},
	} {
		conf := &tls.Config{
			MinVersion: tls.VersionTLS13, ServerName: "euc.cdn.example.test", NextProtos: []string{tt.alpn},
			InsecureSkipVerify: true, Certificates: []tls.Certificate{client.TLS},
		}
		conn, err := quic.DialAddr(testCtx(t), l.UDPAddr().String(), conf, nil)
		if err != nil {
			t.Fatalf("dial over %s: %v", tt.alpn, err)
		}
		got := conn.ConnectionState().TLS.PeerCertificates[0]
		_ = conn.CloseWithError(0, "")
		if !got.Equal(tt.want.Leaf) {
			t.Errorf("over %s asking for euc.cdn.example.test: served %v, want %v", tt.alpn, got.DNSNames, tt.want.Leaf.DNSNames)
		}
	}
}

// clientCert is a self-signed certificate usable for client auth.
func clientCert(t *testing.T) *Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "node-1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Certificate{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}
}
