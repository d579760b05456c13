package cluster

import (
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// What another node may claim, and what vouches for it:
//
//   - membership: its credential (checkToken) or, under mTLS, a certificate
//     that chains to the cluster CA (checked by TLS);
//   - its node id: under mTLS the certificate must name it (certificateNames);
//     a cluster JWT with a node claim binds it;
//   - its URL, where a root sends other nodes' pulls (vouchURL): a JWT's
//     node_url claim, else a certificate naming the URL's host, else the
//     NodeHosts allow-list. A shared token vouches for no URL.
//
// Insecure waives the URL check (and lets a node run without credentials).

// checkToken accepts another node's credential: AcceptToken's verdict, or
// a constant-time comparison with the shared secret (which binds nothing).
func (n *Node) checkToken(token string) (Identity, error) {
	if n.opts.AcceptToken != nil {
		return n.opts.AcceptToken(token)
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(n.opts.Token)) != 1 {
		if token == "" {
			return Identity{}, errors.New("missing cluster token")
		}
		return Identity{}, errors.New("wrong cluster token")
	}
	return Identity{}, nil
}

// checkIdentity checks the node id a Hello claims against what vouches for
// it: the credential's binding and, under mTLS, the certificate.
func (n *Node) checkIdentity(id string, ident Identity, certs []*x509.Certificate) error {
	if ident.NodeID != "" && ident.NodeID != id {
		return fmt.Errorf("credential is for node %q, not %q", ident.NodeID, id)
	}
	if n.opts.RootCAs != nil {
		return certificateNames(certs, id)
	}
	return nil
}

// certificateNames checks that the verified client certificate of an mTLS
// connection names the node id its Hello claims.
func certificateNames(certs []*x509.Certificate, id string) error {
	if len(certs) == 0 {
		return errors.New("no client certificate")
	}
	leaf := certs[0]
	if leaf.Subject.CommonName == id || slices.Contains(leaf.DNSNames, id) {
		return nil
	}
	return fmt.Errorf("certificate (CN %q, DNS %v) does not name node %q", leaf.Subject.CommonName, leaf.DNSNames, id)
}

// vouchURL checks the URL a member registers: the root hands it to every
// node that pulls the member's broadcasts, so an unchecked one would let a
// member send other nodes (and their subscribers' pulls) anywhere.
func (n *Node) vouchURL(rawURL string, ident Identity, certs []*x509.Certificate) error {
	if ident.URL != "" {
		if ident.URL != rawURL {
			return fmt.Errorf("credential is for URL %q, not %q", ident.URL, rawURL)
		}
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("node URL %q has no host", rawURL)
	}
	host := u.Hostname()
	if n.opts.RootCAs != nil && len(certs) > 0 && certs[0].VerifyHostname(host) == nil {
		return nil
	}
	if n.nodeHosts.match(host) {
		return nil
	}
	if n.opts.Insecure {
		return nil
	}
	return fmt.Errorf("node URL %q: host %q is not vouched for (not named by the node's certificate or JWT node_url claim, "+
		"not in the root's node_hosts)", rawURL, host)
}

// hostPatterns is the NodeHosts allow-list.
type hostPatterns struct {
	names    []string // exact, lower case
	suffixes []string // ".example.com" from "*.example.com"
	prefixes []netip.Prefix
}

// parseHostPatterns reads host names, "*.suffix" wildcards, IP addresses
// and CIDR prefixes.
func parseHostPatterns(list []string) (hostPatterns, error) {
	var hp hostPatterns
	for _, h := range list {
		switch {
		case strings.Contains(h, "/"):
			p, err := netip.ParsePrefix(h)
			if err != nil {
				return hostPatterns{}, fmt.Errorf("%q: %w", h, err)
			}
			hp.prefixes = append(hp.prefixes, p.Masked())
		case strings.HasPrefix(h, "*."):
			hp.suffixes = append(hp.suffixes, strings.ToLower(h[1:]))
		case h == "" || strings.Contains(h, "*"):
			return hostPatterns{}, fmt.Errorf("%q is not a host name, *.suffix, IP address or CIDR prefix", h)
		default:
			if a, err := netip.ParseAddr(h); err == nil {
				hp.prefixes = append(hp.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			hp.names = append(hp.names, strings.ToLower(h))
		}
	}
	return hp, nil
}

// match reports whether host (a URL's hostname) is allowed.
func (hp hostPatterns) match(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		return slices.ContainsFunc(hp.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if slices.Contains(hp.names, host) {
		return true
	}
	return slices.ContainsFunc(hp.suffixes, func(s string) bool { return strings.HasSuffix(host, s) && len(host) > len(s) })
}

// remoteIP is the address connections are counted by.
func remoteIP(a net.Addr) netip.Addr {
	if ua, ok := a.(*net.UDPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ua.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
