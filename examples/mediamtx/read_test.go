package mediamtx_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/hang/h264"
)

// readGaps are the known reasons this repository's moq-transport client
// cannot read from MediaMTX v1.20.1's MoQ server.
var readGaps = []knownGap{
	{
		drafts:   []int{16},
		evidence: regexp.MustCompile(`closed: not enough bytes for setup option`),
		side:     "MediaMTX",
		cause: "MediaMTX parses a draft-16 CLIENT_SETUP as draft-17's SETUP options (delta-coded, no count); draft-16 " +
			"§9.3 CLIENT_SETUP is \"Number of Parameters (i), Setup Parameters (..)\", which the relay's client sends.",
	},
	{
		drafts:   []int{17},
		evidence: regexp.MustCompile(`closed: unsupported parameter type: 46`),
		side:     "MediaMTX",
		cause: "MediaMTX's SUBSCRIBE has draft-18's layout on draft-17 too (controlmessage/subscribe.go); draft-17 " +
			"§SUBSCRIBE has a Required Request ID Delta after the Request ID, so MediaMTX reads the namespace from it, " +
			"the track name length from the namespace count and the parameters from \".catalog\" ('.' = 46).",
	},
	{
		drafts:   []int{18, 19},
		evidence: regexp.MustCompile(`closed: unsupported parameter type: (16|32|33)\b`),
		side:     "MediaMTX",
		cause: "MediaMTX knows only the AUTHORIZATION_TOKEN message parameter and closes the session on any other; the " +
			"relay's client leaves out FORWARD and SUBSCRIBER_PRIORITY at their defaults but sends SUBSCRIPTION_FILTER " +
			"(0x21, largest object: without it a draft-18 subscription is unfiltered), which draft-18/19 define " +
			"(§Message Parameters), and a receiver must understand every parameter its version defines.",
	},
}

// TestRelayClientReadsMediaMTX: the other direction. ffmpeg publishes the
// test pattern to MediaMTX over RTSP; this repository's moq-transport client
// (moqt with moqt/ietf, as in bin/moq) subscribes to MediaMTX's MoQ server on
// each draft both speak and must get the MSF catalog and H.264 frames.
func TestRelayClientReadsMediaMTX(t *testing.T) {
	tl := requireTools(t)
	const name = "feed"
	m := startMediaMTX(t, tl.mediamtx, true, fmt.Sprintf("  %s:\n", name))
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feed := exec.CommandContext(feedCtx, tl.ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", "120",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
		"-f", "rtsp", "-rtsp_transport", "tcp", fmt.Sprintf("rtsp://127.0.0.1:%d/%s", m.rtsp, name))
	if err := feed.Start(); err != nil {
		stopFeed()
		t.Fatalf("ffmpeg feed: %v", err)
	}
	t.Cleanup(func() {
		stopFeed()
		_ = feed.Wait()
	})
	if _, took, ok := m.waitReady(name, 15*time.Second); !ok {
		t.Fatalf("MediaMTX path %q not ready from the RTSP feed in %v:\n%s", name, took, tail(m.log(), 20))
	} else {
		t.Logf("RTSP feed ready in MediaMTX after %v", took.Round(time.Millisecond))
	}

	for _, draft := range drafts {
		t.Run(fmt.Sprintf("moqt-%d", draft), func(t *testing.T) {
			readFromMediaMTX(t, m, name, draft)
		})
	}
}

func readFromMediaMTX(t *testing.T, m *mediamtx, name string, draft int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logFrom := len(m.log())
	start := time.Now()
	// MediaMTX generates a self-signed certificate and publishes no hash
	// of it: skip verification (loopback only).
	sess, err := moqt.Connect(ctx, fmt.Sprintf("moqt://127.0.0.1:%d/%s", m.moq, name), moqt.ConnectOptions{
		InsecureSkipVerify: true,
		Protocols:          []string{fmt.Sprintf("moqt-%d", draft)},
	})
	if err != nil {
		explainReadFailure(t, m, logFrom, draft, fmt.Sprintf("connect: %v", err))
		return
	}
	defer func() {
		sess.CloseWithError(0, "")
		<-sess.Done()
	}()
	// The session's path is the MediaMTX path: the broadcast is the scope
	// itself (the empty namespace tuple), which is what MediaMTX reads.
	b := sess.Consume("")

	// The catalog subscription must stay open: MediaMTX ends the session
	// when its request stream closes, and serves media tracks only after it.
	cat, err := b.Subscribe(".catalog", moqt.ReaderOptions{})
	if err != nil {
		t.Fatalf("subscribe .catalog: %v", err)
	}
	defer cat.Close()
	js, err := firstFrame(ctx, cat)
	if err != nil {
		explainReadFailure(t, m, logFrom, draft, fmt.Sprintf("catalog: %v", err))
		return
	}
	var c msfCatalog
	if err := json.Unmarshal(js, &c); err != nil {
		t.Fatalf("catalog is not MSF JSON: %v: %s", err, js)
	}
	if len(c.Tracks) == 0 || !strings.HasPrefix(c.Tracks[0].Codec, "avc") {
		t.Fatalf("catalog has no H.264 track: %s", js)
	}
	catalogAfter := time.Since(start)

	video, err := b.Subscribe(c.Tracks[0].Name, moqt.ReaderOptions{})
	if err != nil {
		t.Fatalf("subscribe %s: %v", c.Tracks[0].Name, err)
	}
	defer video.Close()
	const want = 50
	frames, keyframes := 0, 0
	var firstAfter time.Duration
	for frames < want {
		au, err := firstFrame(ctx, video)
		if err != nil {
			explainReadFailure(t, m, logFrom, draft, fmt.Sprintf("video after %d frames: %v", frames, err))
			return
		}
		nals, err := splitAVCC(au)
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		if frames == 0 {
			firstAfter = time.Since(start)
		}
		for _, n := range nals {
			if h264.NALType(n) == h264.TypeIDR {
				keyframes++
				break
			}
		}
		frames++
	}
	if keyframes == 0 {
		t.Errorf("%d frames and no IDR among them", frames)
	}
	t.Logf("moqt-%d: catalog %s after %v; first video frame after %v; %d AVCC frames (%d keyframes) read",
		draft, js, catalogAfter.Round(time.Millisecond), firstAfter.Round(time.Millisecond), frames, keyframes)
}

// firstFrame reads the first frame of the next group (MediaMTX puts one
// object in each group).
func firstFrame(ctx context.Context, r *moqt.TrackReader) ([]byte, error) {
	g, err := r.NextGroup(ctx)
	if err != nil {
		return nil, err
	}
	return g.ReadFrame(ctx)
}

// splitAVCC splits 4-byte length-prefixed NAL units.
func splitAVCC(b []byte) ([][]byte, error) {
	var nals [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("AVCC: %d trailing bytes", len(b))
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, fmt.Errorf("AVCC: NAL unit of %d bytes, %d left", n, len(b))
		}
		nals = append(nals, b[:n])
		b = b[n:]
	}
	return nals, nil
}

// explainReadFailure waits a moment for MediaMTX to log why it closed the
// session, then looks only at what it logged since this subtest began.
func explainReadFailure(t *testing.T, m *mediamtx, logFrom int, draft int, what string) {
	t.Helper()
	closed := regexp.MustCompile(`\[MoQ\] \[session \w+\] closed:`)
	deadline := time.Now().Add(3 * time.Second)
	for !closed.MatchString(m.log()[logFrom:]) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	explainFailure(t, draft, readGaps, what, namedLog{m.name, m.log()[logFrom:]})
}
