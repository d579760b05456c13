package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/transport"
)

// The floor rows of moq-bench proc: the raw quic-go forwarder of quic.go,
// served by this binary's hidden quic-forwarder subcommand in a process of
// its own, measured like the relay (CPU and RSS from /proc, latency from
// the frames' timestamps) in the same rounds. Its clients speak its own
// protocol but are otherwise those of the relay cases: one paced publisher
// of the same frames and groups, N subscribers reading every group stream
// into a reused buffer.

const forwarderCmd = "quic-forwarder"

func newForwarderCmd(out io.Writer) *cobra.Command {
	var bind string
	cmd := &cobra.Command{
		Use:   forwarderCmd,
		Short: "Serve the raw quic-go forwarder (moq-bench proc's floor) until a signal or stdin closes",
		Long: forwarderCmd + ` serves the raw quic-go forwarder with a generated certificate and prints
one line, "` + forwarderCmd + ` ADDR SHA256", the UDP address and the
certificate's hash in hex; it stops on SIGINT or SIGTERM or when stdin closes.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE:   func(cmd *cobra.Command, _ []string) error { return serveForwarder(bind, out, os.Stdin) },
	}
	cmd.Flags().StringVar(&bind, "bind", "127.0.0.1:0", "UDP address to listen on")
	return cmd
}

func serveForwarder(bind string, out io.Writer, stdin io.Reader) error {
	cert, err := transport.GenerateCertificate([]string{"localhost", "127.0.0.1"}, 0)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	f, err := startForwarder(bind, cert)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The parent holds stdin: when it goes, so does the forwarder. This
	// reader ends with stdin, at the latest when the process exits.
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		stop()
	}()
	fp := cert.Fingerprint()
	if _, err := fmt.Fprintf(out, "%s %s %s\n", forwarderCmd, f.addr(), hex.EncodeToString(fp[:])); err != nil {
		return errors.Join(err, f.close())
	}
	<-ctx.Done()
	return f.close()
}

// startForwarderProc runs this binary's quic-forwarder subcommand and waits
// for the line giving its address and certificate hash.
func startForwarderProc() (*relayProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", forwarderCmd, err)
	}
	cmd := exec.Command(exe, forwarderCmd, "--bind", "127.0.0.1:0")
	cmd.Env = benchEnv()
	p := &relayProc{name: forwarderCmd, cmd: cmd, exited: make(chan struct{})}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("%s: %w", forwarderCmd, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", forwarderCmd, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", forwarderCmd, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", forwarderCmd, exe, err)
	}
	first := make(chan string, 1)
	stdoutDone := make(chan struct{})
	go func() {
		defer close(stdoutDone)
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.keepTail(stderr)
		<-stdoutDone // Wait closes the pipes: read them to the end first
		p.err = cmd.Wait()
		close(p.exited)
	}()
	var line string
	select {
	case line = <-first:
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before serving (%v): %s", forwarderCmd, p.err, p.logTail())
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s: no address after 10s: %s", forwarderCmd, p.logTail())
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != forwarderCmd {
		p.stop()
		return nil, fmt.Errorf("%s: unexpected first line %q", forwarderCmd, line)
	}
	if k, err := hex.Decode(p.fp[:], []byte(f[2])); err != nil || k != len(p.fp) {
		p.stop()
		return nil, fmt.Errorf("%s: certificate hash %q is not 32 hex bytes", forwarderCmd, f[2])
	}
	p.addr = f[1]
	return p, nil
}

// runFloorCase measures c against a fresh forwarder process.
func runFloorCase(c procCase, o procOptions) (map[string]float64, error) {
	f, err := startForwarderProc()
	if err != nil {
		return nil, err
	}
	defer f.stop()
	if c.kind == "idle" {
		return measureIdle(f, openIdleQUIC, c, o)
	}
	connect := func(ctx context.Context) (fanoutClients, error) { return setupQUICClients(ctx, f, c.Subs) }
	return measureFanout(connect, f, []*relayProc{f}, c, o)
}

// quicClients is the publisher and the subscribers of one measurement on
// the forwarder.
type quicClients struct {
	clientStats

	pub   *quic.Conn
	conns []*quic.Conn // every connection, the publisher's included

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // subscribers' readers and the publisher's group writers
}

// setupQUICClients connects the publisher and n subscribers to the
// forwarder at p. Like the relay's subscribers, they do not wait to be
// registered: the warm-up finds out when every one receives groups.
func setupQUICClients(ctx context.Context, p *relayProc, n int) (*quicClients, error) {
	c := &quicClients{clientStats: clientStats{tr: newTracker(n)}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	dial := func(role byte) (*quic.Conn, error) {
		conn, err := dialForwarder(ctx, p.addr, p.fp)
		if err != nil {
			return nil, err
		}
		c.conns = append(c.conns, conn)
		return conn, sendRole(ctx, conn, role)
	}
	var err error
	if c.pub, err = dial(roleBytePub); err != nil {
		return c, fmt.Errorf("publisher: %w", err)
	}
	for i := range n {
		conn, err := dial(roleByteSub)
		if err != nil {
			return c, fmt.Errorf("subscriber %d: %w", i, err)
		}
		c.wg.Go(func() {
			for {
				str, err := conn.AcceptUniStream(c.ctx)
				if err != nil {
					return
				}
				c.wg.Go(func() { c.readGroup(i, str) })
			}
		})
	}
	return c, nil
}

func (c *quicClients) stats() *clientStats { return &c.clientStats }

func (c *quicClients) packetsReceived() uint64 {
	var n uint64
	for _, conn := range c.conns {
		if conn != c.pub {
			n += conn.ConnectionStats().PacketsReceived
		}
	}
	return n
}

// readGroup reads one group stream of the forwarder's protocol (8-byte
// sequence, then frames as 4-byte length and payload), timing every frame.
func (c *quicClients) readGroup(sub int, str *quic.ReceiveStream) {
	var hdr [8]byte
	if _, err := io.ReadFull(str, hdr[:]); err != nil {
		str.CancelRead(0)
		return
	}
	seq := binary.BigEndian.Uint64(hdr[:])
	measured := c.tr.measured(seq)
	var lenBuf [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(str, lenBuf[:]); err != nil {
			c.tr.group(sub, seq, err == io.EOF)
			return
		}
		size := int(binary.BigEndian.Uint32(lenBuf[:]))
		if size > maxForwardedFrame {
			str.CancelRead(0)
			c.tr.group(sub, seq, false)
			return
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		if _, err := io.ReadFull(str, buf[:size]); err != nil {
			c.tr.group(sub, seq, false)
			return
		}
		if measured && size >= 8 {
			c.lat.add(time.Duration(sinceEpoch() - int64(binary.BigEndian.Uint64(buf))))
			c.frames.Add(1)
		}
		c.tr.frame(sub, seq, size)
	}
}

// maxForwardedFrame bounds a frame's length as the moq-lite readers do.
const maxForwardedFrame = 16 << 20

// openGroup starts group seq on a new stream to the forwarder, written by
// its own goroutine as frames come, as the moqt publisher session writes
// each group: the publisher never waits on the network.
func (c *quicClients) openGroup(seq uint64) (groupWriter, error) {
	g := &quicGroup{frames: make(chan []byte, fwdBuffer)}
	c.wg.Go(func() { c.writeGroup(seq, g) })
	return g, nil
}

func (c *quicClients) writeGroup(seq uint64, g *quicGroup) {
	drain := func() {
		for range g.frames {
		}
	}
	str, err := c.pub.OpenUniStreamSync(c.ctx)
	if err != nil {
		drain()
		return
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], seq)
	if _, err := str.Write(hdr[:]); err != nil {
		drain()
		return
	}
	var lenBuf [4]byte
	for p := range g.frames {
		binary.BigEndian.PutUint32(lenBuf[:], uint32(len(p)))
		if _, err := str.Write(lenBuf[:]); err != nil {
			drain()
			return
		}
		if _, err := str.Write(p); err != nil {
			drain()
			return
		}
	}
	if g.aborted {
		str.CancelWrite(1)
		return
	}
	_ = str.Close()
}

// quicGroup is a group being published to the forwarder.
type quicGroup struct {
	frames  chan []byte
	aborted bool // set before frames closes, read after
}

func (g *quicGroup) WriteFrame(p []byte) error {
	g.frames <- p
	return nil
}

func (g *quicGroup) Close() error {
	close(g.frames)
	return nil
}

func (g *quicGroup) Abort(error) {
	g.aborted = true
	close(g.frames)
}

// close ends every connection and waits for the goroutines.
func (c *quicClients) close() error {
	c.cancel()
	for _, conn := range c.conns {
		_ = conn.CloseWithError(0, "bench done")
	}
	return waitTimeout(&c.wg, 5*time.Second)
}

// openIdleQUIC opens up to n connections to the forwarder at p that
// complete the handshake and then do nothing (the forwarder parks one
// goroutine per connection, waiting for a role that never comes), giving
// up on more after limit.
func openIdleQUIC(p *relayProc, n int, limit time.Duration) (int, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	conns := make([]*quic.Conn, 0, n)
	closeAll := func() error {
		for _, c := range conns {
			_ = c.CloseWithError(0, "bench done")
		}
		return nil
	}
	for range n {
		c, err := dialForwarder(ctx, p.addr, p.fp)
		if err != nil {
			if ctx.Err() != nil {
				return len(conns), closeAll, nil // the time bound, not a failure
			}
			return len(conns), closeAll, err
		}
		conns = append(conns, c)
	}
	return len(conns), closeAll, nil
}
