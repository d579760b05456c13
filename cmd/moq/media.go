package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/hang"
)

// mediaHelp is the part of `moq pub --help` about --media.
const mediaHelp = `With --media, pub publishes live H.264 video instead of lines:
  moq pub --media - URL BROADCAST
reads an H.264 Annex-B stream (ffmpeg's -f h264 output) from stdin (or
from a file named instead of -) and publishes it in the hang format the
@moq/watch player reads: track catalog.json (the JSON catalog: codec,
size, frame rate) and track video/hd (one group per GOP, each frame a
microsecond timestamp varint and the Annex-B access unit, SPS and PPS
before every IDR). End BROADCAST in .hang. Frames go out as fast as the
input delivers them, so let ffmpeg pace it (-re). Timestamps count frames
at --fps, by default the rate the stream's SPS states, else 30. Use no
B-frames (-bf 0): frames are sent in decoding order with no separate
decode time. Audio is not published.

Test pattern:
  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -c:v libx264 \
    -preset veryfast -tune zerolatency -g 30 -bf 0 -pix_fmt yuv420p \
    -bsf:v h264_metadata=aud=insert -f h264 - \
    | moq pub --media - http://127.0.0.1:4444/ testpattern.hang
A file, looped (any video ffmpeg reads, re-encoded):
  ffmpeg -re -stream_loop -1 -i movie.mp4 -an -c:v libx264 -preset veryfast \
    -tune zerolatency -g 60 -bf 0 -pix_fmt yuv420p \
    -bsf:v h264_metadata=aud=insert -f h264 - \
    | moq pub --media - http://127.0.0.1:4444/ movie.hang

`

// addMediaFlags registers pub's --media and --fps.
func addMediaFlags(fl *pflag.FlagSet, p *publisher) {
	fl.StringVar(&p.media, "media", "", "publish H.264 Annex-B video read from `FILE` (- for stdin) as a hang broadcast (catalog.json, video/hd) instead of lines")
	fl.Float64Var(&p.fps, "fps", 0, "with --media: frame rate for the timestamps (0: the stream's SPS timing, else 30)")
}

// publishMedia feeds the broadcast from the H.264 input until it ends.
func (p *publisher) publishMedia(ctx context.Context, in io.Reader, b *moqt.Broadcast) error {
	if p.media != "-" {
		f, err := os.Open(p.media)
		if err != nil {
			return fmt.Errorf("--media: %w", err)
		}
		defer f.Close()
		in = f
	}
	reported := false
	stats, err := hang.PublishH264(ctx, in, b, hang.H264Options{
		FrameRate: p.fps,
		Log:       p.log,
		OnCatalog: func(c hang.VideoConfig) {
			if !reported {
				reported = true
				fmt.Fprintf(p.stderr, "moq: video %s %dx%d at %g fps\n", c.Codec, c.CodedWidth, c.CodedHeight, c.Framerate)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("--media: %w", err)
	}
	if ctx.Err() == nil {
		fmt.Fprintf(p.stderr, "moq: the video input ended after %d frames in %d groups\n", stats.Frames, stats.Groups)
	}
	return nil
}
