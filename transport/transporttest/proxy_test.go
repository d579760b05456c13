package transporttest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer answers every UDP datagram with itself and every TCP line with
// itself, on one port; it stops when the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	udp, tcp, err := listenPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := udp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = udp.WriteToUDP(buf[:n], from)
		}
	}()
	tcpDone := make(chan struct{})
	go func() {
		defer close(tcpDone)
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c) // one connection at a time is enough here
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = udp.Close()
		_ = tcp.Close()
		<-done
		<-tcpDone
	})
	return udp.LocalAddr().String()
}

// Datagrams come back after twice the delay, about the configured fraction
// is lost each way, and TCP passes through unchanged on the same port.
func TestProxyDelaysDropsAndForwardsTCP(t *testing.T) {
	const (
		delay = 20 * time.Millisecond
		loss  = 0.1
		sent  = 2000
	)
	p := Start(t, echoServer(t), PathOptions{Delay: delay, Loss: loss, Seed: 1})

	conn, err := net.Dial("udp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Read until the echoes stop coming, while sending.
	type result struct {
		got   int
		first time.Duration
	}
	start := time.Now()
	read := make(chan result, 1)
	go func() {
		var r result
		buf := make([]byte, 64)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := conn.Read(buf); err != nil {
				read <- r
				return
			}
			if r.got == 0 {
				r.first = time.Since(start)
			}
			r.got++
		}
	}()
	for i := range sent {
		if _, err := fmt.Fprintf(conn, "%d", i); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // stay within the socket buffers
		}
	}
	res := <-read
	got, first := res.got, res.first
	st := p.Stats()
	t.Logf("%d datagrams sent, %d echoed; first echo after %v; to server %+v, to client %+v",
		sent, got, first.Round(time.Millisecond), st.ToServer, st.ToClient)
	if first < 2*delay {
		t.Errorf("first echo after %v, want at least twice the %v delay", first, delay)
	}
	// The draw is seeded, but the kernel may drop a datagram too: judge
	// the loss on what reached the proxy, with wide bounds.
	for _, dir := range []struct {
		name string
		c    Counts
	}{{"to the server", st.ToServer}, {"to the client", st.ToClient}} {
		seen := dir.c.Lost + dir.c.Forwarded + dir.c.Overflow
		if frac := float64(dir.c.Lost) / float64(seen); seen < sent/2 || frac < loss*0.6 || frac > loss*1.4 {
			t.Errorf("%s: %d of %d datagrams lost (%.3f), want about %v", dir.name, dir.c.Lost, seen, frac, loss)
		}
	}
	if uint64(got) > st.ToClient.Forwarded {
		t.Errorf("%d echoes received, more than the %d forwarded", got, st.ToClient.Forwarded)
	}

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, "hello over tcp"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello over tcp\n" {
		t.Fatalf("tcp echo %q, %v", line, err)
	}
}

// A blackhole drops everything until it is lifted; a proxy without a target
// drops until it has one.
func TestProxyBlackholeAndLateTarget(t *testing.T) {
	server := echoServer(t)
	p := Start(t, "", PathOptions{})
	conn, err := net.Dial("udp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo := func() bool {
		if _, err := conn.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 16)
		_, err := conn.Read(buf)
		return err == nil
	}
	if echo() {
		t.Fatal("echo without a target")
	}
	p.SetTarget(server)
	if !echo() {
		t.Fatal("no echo once the target is set")
	}
	p.SetBlackhole(true)
	if echo() {
		t.Fatal("echo through the blackhole")
	}
	p.SetBlackhole(false)
	if !echo() {
		t.Fatal("no echo once the blackhole is lifted")
	}
	p.Close()
	p.Close() // twice is fine
}
