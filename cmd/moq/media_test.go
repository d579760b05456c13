package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/hang"
	"github.com/moq-cluster/moq-relay/moqt/hang/h264"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// ffmpegOrSkip returns ffmpeg's path; without it the test is skipped, except
// under CI=true, where .ci/run installs it.
func ffmpegOrSkip(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is not installed (Debian package ffmpeg); CI=true requires it")
		}
		t.Skip("NOTICE: ffmpeg is not installed (Debian package ffmpeg): live video publishing is not tested")
	}
	return path
}

// TestPubMediaTestPattern: two seconds of ffmpeg's test pattern through
// `pub --media -` and a relay reach a subscriber as @moq/watch reads them:
// catalog.json names the codec and size, and the video track is groups
// that each open with an IDR, with increasing timestamps, 30 frames a
// second.
func TestPubMediaTestPattern(t *testing.T) {
	ffmpeg := ffmpegOrSkip(t)
	r := relaytest.Start(t, relaytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const broadcast = "testpattern.hang"
	enc := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "2",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "15", "-bf", "0",
		"-pix_fmt", "yuv420p", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "-")
	var encErr syncBuffer
	enc.Stderr = &encErr
	video, err := enc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}

	var stderr syncBuffer
	p := &publisher{f: &clientFlags{idleTimeout: 6 * time.Second}, url: r.HTTPURL(""), broadcast: broadcast,
		trackName: hang.VideoTrack, media: "-", linger: 500 * time.Millisecond, reconnectMax: time.Second,
		log: zap.NewNop(), stderr: &stderr}

	sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	if err := enc.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pubDone := make(chan error, 1)
	go func() { pubDone <- p.run(ctx, video) }()
	defer func() {
		if err := <-pubDone; err != nil {
			t.Errorf("pub: %v\n%s", err, stderr.String())
		}
		if err := enc.Wait(); err != nil {
			t.Errorf("ffmpeg: %v\n%s", err, encErr.String())
		}
	}()

	if err := waitForBroadcast(ctx, sub, broadcast); err != nil {
		t.Fatal(err)
	}
	announced := time.Since(start)
	catalogR, err := sub.Consume(broadcast).Subscribe(hang.CatalogTrack, moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer catalogR.Close()
	videoR, err := sub.Consume(broadcast).Subscribe(hang.VideoTrack, moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer videoR.Close()

	g, err := catalogR.NextGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := g.ReadFrame(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("announced after %s; catalog.json: %s", announced.Round(time.Millisecond), raw)
	var cat hang.Catalog
	if err := json.Unmarshal(raw, &cat); err != nil {
		t.Fatalf("catalog is not JSON: %v", err)
	}
	if cat.Video == nil || len(cat.Video.Renditions) != 1 {
		t.Fatalf("catalog video section: %+v", cat.Video)
	}
	cfg := cat.Video.Renditions[hang.VideoTrack]
	if !regexp.MustCompile(`^avc1\.64[0-9a-f]{4}$`).MatchString(cfg.Codec) || cfg.CodedWidth != 640 || cfg.CodedHeight != 360 ||
		cfg.Container.Kind != "legacy" || cfg.Framerate != 30 || cfg.Description != "" {
		t.Fatalf("rendition %+v, want High profile avc1.64…, 640x360, legacy container, 30 fps, no description", cfg)
	}

	var frames, groups int
	var last uint64
	var firstAt, lastAt time.Duration
	for {
		g, err := videoR.NextGroup(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("video track: %v after %d frames", err, frames)
		}
		for i := 0; ; i++ {
			f, err := g.ReadFrame(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("group %d: %v", g.Sequence(), err)
			}
			ts, payload, err := hang.DecodeFrame(f)
			if err != nil {
				t.Fatal(err)
			}
			idr := false
			for _, n := range h264.SplitAnnexB(payload) {
				idr = idr || h264.NALType(n) == h264.TypeIDR
			}
			if idr != (i == 0) {
				t.Fatalf("group %d frame %d (ts %d µs): IDR %v; want an IDR exactly at the start of each group", g.Sequence(), i, ts, idr)
			}
			if frames > 0 && ts <= last {
				t.Fatalf("group %d frame %d: timestamp %d µs after %d", g.Sequence(), i, ts, last)
			}
			if frames == 0 {
				firstAt = time.Since(start)
			}
			lastAt = time.Since(start)
			last = ts
			frames++
		}
		groups++
	}
	t.Logf("received %d frames in %d groups; timestamps up to %d µs; first frame at %s, last at %s; pub said: %q",
		frames, groups, last, firstAt.Round(time.Millisecond), lastAt.Round(time.Millisecond), stderr.String())
	if frames < 45 {
		t.Fatalf("received %d frames of 2 s at 30 fps, want at least 45", frames)
	}
}
