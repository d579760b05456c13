package hang

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/hang/h264"
)

// DefaultFrameRate is assumed when neither the options nor the stream's
// SPS timing info give one.
const DefaultFrameRate = 30

// H264Options configure PublishH264.
type H264Options struct {
	// Track is the video track name (default VideoTrack).
	Track string
	// FrameRate stamps frame n at n/FrameRate seconds. Zero takes it from
	// the SPS timing info, else DefaultFrameRate.
	FrameRate float64
	// MaxNAL bounds one NAL unit in bytes (default 8 MiB).
	MaxNAL int
	// Log, when set, notes catalog changes and dropped frames.
	Log *zap.Logger
	// OnCatalog, when set, is called with each video configuration
	// published (the first, and any after the SPS changes).
	OnCatalog func(VideoConfig)
}

// H264Stats counts what PublishH264 did.
type H264Stats struct {
	Frames, Groups, Dropped int
	Catalog                 VideoConfig
}

// PublishH264 reads an H.264 Annex-B stream from in (ffmpeg's `-f h264`
// output) and publishes it on b as a hang broadcast: the catalog track and
// one video track, one group per GOP, frames stamped from the frame rate
// in microseconds. Frames go out as soon as in delivers them: the input
// sets the pace. It returns when in ends (the tracks are then closed) or
// fails, or when ctx ends; ctx is checked between frames, so a caller that
// must stop a blocked read closes in.
func PublishH264(ctx context.Context, in io.Reader, b *moqt.Broadcast, opts H264Options) (H264Stats, error) {
	if opts.Track == "" {
		opts.Track = VideoTrack
	}
	if opts.MaxNAL <= 0 {
		opts.MaxNAL = 8 << 20
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	catalogTrack, err := b.CreateTrack(CatalogTrack)
	if err != nil {
		return H264Stats{}, fmt.Errorf("create %s: %w", CatalogTrack, err)
	}
	defer catalogTrack.Close()
	videoTrack, err := b.CreateTrack(opts.Track)
	if err != nil {
		return H264Stats{}, fmt.Errorf("create %s: %w", opts.Track, err)
	}
	p := &h264Publisher{opts: opts, catalog: catalogTrack, video: NewFrameWriter(videoTrack)}
	defer p.video.Close()

	nals := h264.NewNALReader(in, opts.MaxNAL)
	var grouper h264.Grouper
	for ctx.Err() == nil {
		nal, err := nals.Next()
		if err == io.EOF {
			if au, ok := grouper.Flush(); ok {
				if err := p.accessUnit(au); err != nil {
					return p.stats, err
				}
			}
			return p.stats, nil
		}
		if err != nil {
			return p.stats, err
		}
		if au, ok := grouper.Push(nal); ok {
			if err := p.accessUnit(au); err != nil {
				return p.stats, err
			}
		}
	}
	return p.stats, nil
}

type h264Publisher struct {
	opts     H264Options
	catalog  *moqt.TrackWriter
	video    *FrameWriter
	sps, pps []byte // the latest parameter sets, for keyframes without them
	fps      float64
	stats    H264Stats
}

// accessUnit publishes one picture.
func (p *h264Publisher) accessUnit(au h264.AccessUnit) error {
	for _, n := range au.NALUs {
		switch h264.NALType(n) {
		case h264.TypeSPS:
			if !bytes.Equal(n, p.sps) {
				if err := p.newSPS(n); err != nil {
					return err
				}
			}
		case h264.TypePPS:
			p.pps = n
		}
	}
	key := au.Keyframe()
	if p.sps == nil || p.pps == nil || (!key && p.stats.Groups == 0) {
		// Nothing a player can decode yet: wait for parameter sets and an IDR.
		p.stats.Dropped++
		if p.stats.Dropped == 1 {
			p.opts.Log.Info("dropping pictures until a keyframe with SPS and PPS")
		}
		return nil
	}
	payload := make([]byte, 0, 256)
	if key && !au.Has(h264.TypeSPS) {
		payload = h264.AppendAnnexB(payload, p.sps)
	}
	if key && !au.Has(h264.TypePPS) {
		payload = h264.AppendAnnexB(payload, p.pps)
	}
	for _, n := range au.NALUs {
		if h264.NALType(n) != h264.TypeAUD { // the frame boundary is the MoQ frame
			payload = h264.AppendAnnexB(payload, n)
		}
	}
	ts := uint64(math.Round(float64(p.stats.Frames) * 1e6 / p.fps))
	if err := p.video.WriteFrame(ts, payload, key); err != nil {
		return fmt.Errorf("publish H.264 frame %d: %w", p.stats.Frames, err)
	}
	p.stats.Frames++
	if key {
		p.stats.Groups++
	}
	return nil
}

// newSPS takes a changed SPS and publishes the catalog for it.
func (p *h264Publisher) newSPS(nal []byte) error {
	sps, err := h264.ParseSPS(nal)
	if err != nil {
		return fmt.Errorf("publish H.264: %w", err)
	}
	p.sps = nal
	if p.fps == 0 {
		p.fps = p.opts.FrameRate
		if p.fps <= 0 {
			p.fps = sps.FrameRate()
		}
		if p.fps <= 0 || p.fps > 1000 {
			p.fps = DefaultFrameRate
		}
	}
	latency := true
	cfg := VideoConfig{
		Codec:              sps.Codec(),
		Container:          Legacy,
		CodedWidth:         sps.Width,
		CodedHeight:        sps.Height,
		Framerate:          p.fps,
		OptimizeForLatency: &latency,
		Jitter:             int(math.Ceil(1000 / p.fps)),
	}
	c := Catalog{Video: &Video{
		Renditions: map[string]VideoConfig{p.opts.Track: cfg},
		Display:    &Display{Width: sps.Width, Height: sps.Height},
	}}
	if err := WriteCatalog(p.catalog, c); err != nil {
		return err
	}
	p.stats.Catalog = cfg
	if p.opts.OnCatalog != nil {
		p.opts.OnCatalog(cfg)
	}
	p.opts.Log.Info("catalog", zap.String("codec", cfg.Codec), zap.Int("width", cfg.CodedWidth),
		zap.Int("height", cfg.CodedHeight), zap.Float64("framerate", cfg.Framerate))
	return nil
}
