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
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultGeneratedValidity is how long a generated development certificate
// lasts. Browsers accept serverCertificateHashes only for certificates valid
// for less than 14 days.
const DefaultGeneratedValidity = 10 * 24 * time.Hour

// maxHashPinnedValidity is Chrome's bound for serverCertificateHashes.
const maxHashPinnedValidity = 14 * 24 * time.Hour

// Certificate is a TLS certificate with its parsed leaf.
type Certificate struct {
	TLS  tls.Certificate
	Leaf *x509.Certificate
}

// Fingerprint is the SHA-256 of the leaf certificate's DER, the value
// WebTransport's serverCertificateHashes pins.
func (c *Certificate) Fingerprint() [32]byte { return sha256.Sum256(c.Leaf.Raw) }

// FingerprintHex is Fingerprint as lower-case hex.
func (c *Certificate) FingerprintHex() string {
	fp := c.Fingerprint()
	return hex.EncodeToString(fp[:])
}

// LoadCertificate reads a PEM certificate chain and key.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("transport: parse certificate %s: %w", certFile, err)
	}
	pair.Leaf = leaf
	return &Certificate{TLS: pair, Leaf: leaf}, nil
}

// GenerateCertificate makes a self-signed ECDSA P-256 certificate for hosts
// (DNS names or IP addresses), valid from a minute ago for validity.
func GenerateCertificate(hosts []string, validity time.Duration) (*Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("transport: generate certificate: no host names")
	}
	if validity <= 0 {
		validity = DefaultGeneratedValidity
	}
	if validity >= maxHashPinnedValidity {
		return nil, fmt.Errorf("transport: generate certificate: validity %s must be under 14 days for browser certificate pinning", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("transport: generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity - time.Minute),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("transport: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("transport: parse generated certificate: %w", err)
	}
	return &Certificate{
		TLS:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Leaf: leaf,
	}, nil
}

// CertStore holds the certificates the listener serves: a default, and
// optionally named ones chosen by the name the client asks for (SNI), so
// one node can answer both a public GeoDNS name and its own name. Set and
// SetNamed replace them for new handshakes without a restart.
type CertStore struct {
	cur   atomic.Pointer[Certificate]
	named atomic.Pointer[[]*Certificate]
}

// NewCertStore returns a store serving c for every name.
func NewCertStore(c *Certificate) *CertStore {
	s := &CertStore{}
	s.cur.Store(c)
	return s
}

// Current is the default certificate, served to clients whose name no
// named certificate covers.
func (s *CertStore) Current() *Certificate { return s.cur.Load() }

// Set replaces the default certificate.
func (s *CertStore) Set(c *Certificate) { s.cur.Store(c) }

// Reload replaces the default certificate with the one in the given files.
func (s *CertStore) Reload(certFile, keyFile string) error {
	c, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		return err
	}
	s.Set(c)
	return nil
}

// Named is the certificates chosen by name, in selection order.
func (s *CertStore) Named() []*Certificate {
	if p := s.named.Load(); p != nil {
		return *p
	}
	return nil
}

// SetNamed replaces the certificates chosen by name.
func (s *CertStore) SetNamed(certs []*Certificate) {
	certs = slices.Clone(certs)
	s.named.Store(&certs)
}

// ReloadDir replaces the named certificates with those in dir (see
// LoadCertificateDir); on error the served ones stay.
func (s *CertStore) ReloadDir(dir string) error {
	certs, err := LoadCertificateDir(dir)
	if err != nil {
		return err
	}
	s.SetNamed(certs)
	return nil
}

// ForName is the certificate served to a client asking for name (its SNI):
// the first named certificate whose DNS names cover it exactly, else the
// first that covers it by a wildcard, else the default. An empty name or an
// IP address (clients send no SNI for those) gets the default.
func (s *CertStore) ForName(name string) *Certificate {
	return s.choose(name, nil)
}

// ForHost is ForName for an HTTP Host header (host or host:port), so
// /certificate.sha256 answers for the certificate a TLS client asking for
// the same name gets.
func (s *CertStore) ForHost(host string) *Certificate {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return s.ForName(host)
}

// choose picks by name; with hello, a certificate the client cannot use
// (its signature algorithms) is passed over for another that covers the
// name, as crypto/tls does with Config.Certificates.
func (s *CertStore) choose(name string, hello *tls.ClientHelloInfo) *Certificate {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	named := s.Named()
	if name == "" || len(named) == 0 || net.ParseIP(strings.Trim(name, "[]")) != nil {
		return s.cur.Load()
	}
	var exact, wildcard []*Certificate
	for _, c := range named {
		switch {
		case coversExactly(c.Leaf, name):
			exact = append(exact, c)
		case c.Leaf.VerifyHostname(name) == nil:
			wildcard = append(wildcard, c)
		}
	}
	for _, group := range [][]*Certificate{exact, wildcard} {
		for _, c := range group {
			if hello == nil || hello.SupportsCertificate(&c.TLS) == nil {
				return c
			}
		}
	}
	if len(exact) > 0 {
		return exact[0]
	}
	if len(wildcard) > 0 {
		return wildcard[0]
	}
	return s.cur.Load()
}

func coversExactly(leaf *x509.Certificate, name string) bool {
	for _, n := range leaf.DNSNames {
		if strings.EqualFold(strings.TrimSuffix(n, "."), name) {
			return true
		}
	}
	return false
}

// getDefaultCertificate serves the default whatever the name. Under mTLS
// between cluster nodes the default is the certificate from the cluster CA,
// the one peers verify, while a named one may be from a public CA.
func (s *CertStore) getDefaultCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &s.cur.Load().TLS, nil
}

func (s *CertStore) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello == nil {
		return &s.cur.Load().TLS, nil
	}
	return &s.choose(hello.ServerName, hello).TLS, nil
}

// LoadCertificateDir reads every NAME.crt (PEM chain) in dir with its
// NAME.key, sorted by file name. Other files and sub-directories are
// ignored; a .crt without its .key, a .key without its .crt, a pair that
// does not load or a certificate that names no DNS host is an error naming
// the file, as is a directory with no pair at all.
func LoadCertificateDir(dir string) ([]*Certificate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("transport: certificate directory: %w", err)
	}
	files := make(map[string]bool)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // hidden, and Kubernetes' ..data links of mounted secrets
		}
		info, err := os.Stat(filepath.Join(dir, name)) // follows links
		if err != nil {
			return nil, fmt.Errorf("transport: certificate directory: %w", err)
		}
		if info.Mode().IsRegular() {
			files[name] = true
		}
	}
	var certs []*Certificate
	for _, name := range slices.Sorted(maps.Keys(files)) {
		base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		switch ext {
		case ".key":
			if !files[base+".crt"] {
				return nil, fmt.Errorf("transport: certificate directory: key %s has no certificate %s.crt beside it", filepath.Join(dir, name), base)
			}
			continue
		case ".crt":
		default:
			continue
		}
		certFile, keyFile := filepath.Join(dir, name), filepath.Join(dir, base+".key")
		if !files[base+".key"] {
			return nil, fmt.Errorf("transport: certificate directory: certificate %s has no key %s beside it", certFile, keyFile)
		}
		c, err := LoadCertificate(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		if len(c.Leaf.DNSNames) == 0 {
			return nil, fmt.Errorf("transport: certificate %s names no DNS host, so no client name can select it", certFile)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("transport: certificate directory %s has no certificate (NAME.crt with NAME.key)", dir)
	}
	return certs, nil
}

// pinnedVerifier accepts a server whose leaf certificate hashes to one of
// the fingerprints, as browsers do with serverCertificateHashes.
func pinnedVerifier(fps [][32]byte) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("transport: server sent no certificate")
		}
		got := sha256.Sum256(raw[0])
		for _, fp := range fps {
			if fp == got {
				return nil
			}
		}
		return fmt.Errorf("transport: server certificate %s does not match the pinned fingerprint", hex.EncodeToString(got[:]))
	}
}
