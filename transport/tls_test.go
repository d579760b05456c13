package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
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
