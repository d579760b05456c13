package transporttest

import (
	"net"
	"strconv"
	"testing"
)

// FreePort returns a loopback port that was just free on both UDP (QUIC,
// WebTransport) and TCP (the HTTP side endpoints), for a process under test
// to bind: a relay listens on the same port number for both.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return port
		}
	}
	t.Fatal("no loopback port free on both UDP and TCP")
	return 0
}
