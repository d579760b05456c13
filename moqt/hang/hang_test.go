package hang

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/hang/h264"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCatalogJSON: the catalog is the shape @moq/hang's zod schema reads
// (see doc.go): renditions keyed by track, codec, legacy container, no
// description (Annex-B in band), integer sizes, jitter in ms.
func TestCatalogJSON(t *testing.T) {
	on := true
	c := Catalog{Video: &Video{
		Renditions: map[string]VideoConfig{VideoTrack: {
			Codec: "avc1.64001f", Container: Legacy, CodedWidth: 1280, CodedHeight: 720,
			Framerate: 30, OptimizeForLatency: &on, Jitter: 34,
		}},
		Display: &Display{Width: 1280, Height: 720},
	}}
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"video":{"renditions":{"video/hd":{"codec":"avc1.64001f","container":{"kind":"legacy"},"codedWidth":1280,"codedHeight":720,"framerate":30,"optimizeForLatency":true,"jitter":34}},"display":{"width":1280,"height":720}}}`
	if string(got) != want {
		t.Fatalf("catalog JSON\n got %s\nwant %s", got, want)
	}
	var back Catalog
	if err := json.Unmarshal(got, &back); err != nil || back.Video.Renditions[VideoTrack].Codec != "avc1.64001f" {
		t.Fatalf("decode: %+v, %v", back, err)
	}
	if !HasSuffix("testpattern.hang") || HasSuffix("testpattern") {
		t.Fatal("HasSuffix")
	}
}

// TestFrameContainer: the timestamp is a QUIC varint of microseconds before
// the payload, in each of its four sizes.
func TestFrameContainer(t *testing.T) {
	for _, c := range []struct {
		ts   uint64
		want []byte
	}{
		{0, []byte{0x00, 0xaa}},
		{63, []byte{0x3f, 0xaa}},
		{33333, []byte{0x80, 0x00, 0x82, 0x35, 0xaa}},
		{16383, []byte{0x7f, 0xff, 0xaa}},
		{1 << 30, []byte{0xc0, 0, 0, 0, 0x40, 0, 0, 0, 0xaa}},
	} {
		got := EncodeFrame(c.ts, []byte{0xaa})
		if !bytes.Equal(got, c.want) {
			t.Errorf("EncodeFrame(%d) = %x, want %x", c.ts, got, c.want)
		}
		ts, payload, err := DecodeFrame(got)
		if err != nil || ts != c.ts || !bytes.Equal(payload, []byte{0xaa}) {
			t.Errorf("DecodeFrame(%x) = %d %x %v", got, ts, payload, err)
		}
	}
	if _, _, err := DecodeFrame([]byte{0x80, 0x00}); err == nil {
		t.Error("a cut varint decoded")
	}
}

// TestFrameWriterGroups: each keyframe opens a group; deltas join it; a
// delta first is refused.
func TestFrameWriterGroups(t *testing.T) {
	track := moqt.NewTrack("video", moqt.TrackOptions{})
	zero := uint64(0)
	r, err := track.Track().Reader(moqt.ReaderOptions{Start: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := NewFrameWriter(track)
	if err := w.WriteFrame(0, []byte("p"), false); !errors.Is(err, ErrNoKeyframe) {
		t.Fatalf("delta first: %v", err)
	}
	pattern := "KddKdKdd"
	for i, c := range pattern {
		if err := w.WriteFrame(uint64(i), []byte{byte(c)}, c == 'K'); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	groups := readGroups(t, r)
	var got []string
	for _, g := range groups {
		var s string
		for _, f := range g {
			s += string(f.payload)
		}
		got = append(got, s)
	}
	if strings.Join(got, "|") != "Kdd|Kd|Kdd" {
		t.Fatalf("groups %q, want Kdd|Kd|Kdd", got)
	}
}

type frame struct {
	ts      uint64
	payload []byte
}

func readGroups(t *testing.T, r *moqt.TrackReader) [][]frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var groups [][]frame
	for {
		g, err := r.NextGroup(ctx)
		if err == io.EOF {
			return groups
		}
		if err != nil {
			t.Fatal(err)
		}
		var frames []frame
		for {
			f, err := g.ReadFrame(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ts, p, err := DecodeFrame(f)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, frame{ts, p})
		}
		groups = append(groups, frames)
	}
}

const clipPath = "h264/testdata/testsrc2-320x180-12f-gop6.h264"

// publish runs PublishH264 over stream and returns the catalog and the
// video groups a reader from the start sees.
func publish(t *testing.T, stream []byte, opts H264Options) (H264Stats, []Catalog, [][]frame) {
	t.Helper()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	defer b.Close()
	in, feed := io.Pipe()
	type result struct {
		stats H264Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		s, err := PublishH264(context.Background(), in, b, opts)
		done <- result{s, err}
	}()
	for range 500 { // the tracks exist once PublishH264 is reading
		if _, ok := b.Track(VideoTrack); ok {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	zero := uint64(0)
	catR, err := b.Subscribe(CatalogTrack, moqt.ReaderOptions{Start: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer catR.Close()
	vidR, err := b.Subscribe(VideoTrack, moqt.ReaderOptions{Start: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer vidR.Close()
	go func() { _, _ = feed.Write(stream); _ = feed.Close() }()
	res := <-done
	_ = in.Close() // unblocks the feeding goroutine if PublishH264 stopped early
	if res.err != nil {
		t.Fatal(res.err)
	}
	var cats []Catalog
	for _, g := range readGroupsRaw(t, catR) {
		if len(g) != 1 {
			t.Fatalf("catalog group of %d frames", len(g))
		}
		var c Catalog
		if err := json.Unmarshal(g[0], &c); err != nil {
			t.Fatalf("catalog %s: %v", g[0], err)
		}
		cats = append(cats, c)
	}
	return res.stats, cats, readGroups(t, vidR)
}

func readGroupsRaw(t *testing.T, r *moqt.TrackReader) [][][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var groups [][][]byte
	for {
		g, err := r.NextGroup(ctx)
		if err == io.EOF {
			return groups
		}
		if err != nil {
			t.Fatal(err)
		}
		var frames [][]byte
		for {
			f, err := g.ReadFrame(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f)
		}
		groups = append(groups, frames)
	}
}

func nalTypes(payload []byte) []int {
	var ts []int
	for _, n := range h264.SplitAnnexB(payload) {
		ts = append(ts, h264.NALType(n))
	}
	return ts
}

// TestPublishH264Clip: the 12-frame clip (IDR every 6) becomes one catalog
// and two groups of six frames, each group opening with SPS, PPS and the
// IDR, stamped every 1/30 s; the payloads, concatenated, decode in ffmpeg.
func TestPublishH264Clip(t *testing.T) {
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	stats, cats, groups := publish(t, clip, H264Options{})
	t.Logf("stats %+v", stats)
	if len(cats) != 1 {
		t.Fatalf("%d catalogs, want 1", len(cats))
	}
	got, _ := json.Marshal(cats[0])
	want := `{"video":{"renditions":{"video/hd":{"codec":"avc1.64000d","container":{"kind":"legacy"},"codedWidth":320,"codedHeight":180,"framerate":30,"optimizeForLatency":true,"jitter":34}},"display":{"width":320,"height":180}}}`
	if string(got) != want {
		t.Fatalf("catalog\n got %s\nwant %s", got, want)
	}
	if len(groups) != 2 || len(groups[0]) != 6 || len(groups[1]) != 6 {
		t.Fatalf("groups of %d frames, want 2 of 6", len(groups))
	}
	var stream []byte
	n := 0
	for gi, g := range groups {
		for fi, f := range g {
			wantTS := uint64((n*1000000 + 15) / 30)
			if f.ts != wantTS {
				t.Errorf("group %d frame %d: timestamp %d µs, want %d", gi, fi, f.ts, wantTS)
			}
			types := nalTypes(f.payload)
			if fi == 0 && (len(types) < 3 || types[0] != h264.TypeSPS || types[1] != h264.TypePPS || types[len(types)-1] != h264.TypeIDR) {
				t.Errorf("group %d starts with NAL types %v, want SPS, PPS, ..., IDR", gi, types)
			}
			if fi > 0 && types[0] != h264.TypeNonIDR {
				t.Errorf("group %d frame %d: NAL types %v, want non-IDR slices", gi, fi, types)
			}
			stream = append(stream, f.payload...)
			n++
		}
	}
	decodeWithFFmpeg(t, stream, 12)
}

// decodeWithFFmpeg checks that the published payloads, one after another,
// are an H.264 stream ffmpeg decodes into frames pictures.
func decodeWithFFmpeg(t *testing.T, stream []byte, frames int) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Log("ffmpeg not installed: the payloads are not decoded")
		return
	}
	path := filepath.Join(t.TempDir(), "published.h264")
	if err := os.WriteFile(path, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffmpeg, "-v", "error", "-f", "h264", "-i", path, "-f", "framemd5", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	decoded := 0
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			decoded++
		}
	}
	t.Logf("ffmpeg decoded %d of the published pictures", decoded)
	if decoded != frames {
		t.Fatalf("ffmpeg decoded %d pictures, want %d:\n%s", decoded, frames, out)
	}
}

// TestPublishH264Repairs: pictures before the first IDR are dropped; an IDR
// without parameter sets gets the last ones; an explicit frame rate wins
// over the SPS timing.
func TestPublishH264Repairs(t *testing.T) {
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	aus := h264.AccessUnits(clip)
	var stream []byte
	for _, n := range aus[1].NALUs { // a P picture first: undecodable
		stream = h264.AppendAnnexB(stream, n)
	}
	for i, au := range aus {
		for _, n := range au.NALUs {
			if typ := h264.NALType(n); i == 6 && (typ == h264.TypeSPS || typ == h264.TypePPS) {
				continue // the second IDR loses its parameter sets
			}
			stream = h264.AppendAnnexB(stream, n)
		}
	}
	stats, cats, groups := publish(t, stream, H264Options{FrameRate: 25})
	t.Logf("stats %+v", stats)
	if stats.Dropped != 1 || stats.Frames != 12 || stats.Groups != 2 || len(cats) != 1 || cats[0].Video.Renditions[VideoTrack].Framerate != 25 {
		t.Fatalf("stats %+v, %d catalogs", stats, len(cats))
	}
	if types := nalTypes(groups[1][0].payload); types[0] != h264.TypeSPS || types[1] != h264.TypePPS {
		t.Fatalf("second group starts with %v, want SPS and PPS put back", types)
	}
	if ts := groups[1][1].ts; ts != 7*40000 {
		t.Fatalf("frame 7 at %d µs, want 280000 at 25 fps", ts)
	}
	var all []byte
	for _, g := range groups {
		for _, f := range g {
			all = append(all, f.payload...)
		}
	}
	decodeWithFFmpeg(t, all, 12)
}
