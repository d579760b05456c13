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
	"math/big"
	"net"
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
		return nil, fmt.Errorf("transport: load certificate %s: %w", certFile, err)
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

// CertStore holds the certificate the listener serves; Set replaces it for
// new handshakes without a restart.
type CertStore struct {
	cur atomic.Pointer[Certificate]
}

// NewCertStore returns a store serving c.
func NewCertStore(c *Certificate) *CertStore {
	s := &CertStore{}
	s.cur.Store(c)
	return s
}

// Current is the certificate served now.
func (s *CertStore) Current() *Certificate { return s.cur.Load() }

// Set replaces the served certificate.
func (s *CertStore) Set(c *Certificate) { s.cur.Store(c) }

// Reload replaces the certificate with the one in the given files.
func (s *CertStore) Reload(certFile, keyFile string) error {
	c, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		return err
	}
	s.Set(c)
	return nil
}

func (s *CertStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &s.cur.Load().TLS, nil
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
