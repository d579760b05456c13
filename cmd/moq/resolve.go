package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// parseResolve reads curl-style --resolve entries, HOST:PORT:ADDR, into the
// dialer's map "host:port" → "addr:port": connecting to HOST:PORT dials ADDR
// while HOST stays the name for TLS and the URL. ADDR must be an IP address
// (in brackets or not for IPv6), so no name is ever looked up.
func parseResolve(entries []string) (map[string]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		host, port, addr, err := splitResolve(e)
		if err != nil {
			return nil, fmt.Errorf("--resolve %q: %w (want HOST:PORT:ADDR, e.g. cdn.example.com:4443:192.0.2.10)", e, err)
		}
		m[net.JoinHostPort(strings.ToLower(host), port)] = net.JoinHostPort(addr, port)
	}
	return m, nil
}

func splitResolve(e string) (host, port, addr string, err error) {
	rest := e
	if strings.HasPrefix(rest, "[") { // an IPv6 literal as the host
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", "", "", fmt.Errorf("unclosed [ in the host")
		}
		host, rest = rest[1:end], rest[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return "", "", "", fmt.Errorf("no port after the host")
		}
		rest = rest[1:]
	} else {
		var ok bool
		if host, rest, ok = strings.Cut(rest, ":"); !ok {
			return "", "", "", fmt.Errorf("no port")
		}
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return "", "", "", fmt.Errorf("bad host %q", host)
	}
	port, addr, ok := strings.Cut(rest, ":")
	if !ok {
		return "", "", "", fmt.Errorf("no address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", "", fmt.Errorf("bad port %q", port)
	}
	if strings.Contains(addr, ",") {
		return "", "", "", fmt.Errorf("one address only")
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if net.ParseIP(addr) == nil {
		return "", "", "", fmt.Errorf("address %q is not an IP address", addr)
	}
	return host, port, addr, nil
}
