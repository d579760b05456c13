package hang

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moq-cluster/moq-relay/moqt"
)

// Names the hang format fixes.
const (
	// CatalogTrack is the track holding the JSON catalog.
	CatalogTrack = "catalog.json"
	// Suffix ends a broadcast name to say its catalog is hang.
	Suffix = ".hang"
	// VideoTrack is the rendition track name @moq/publish uses for its
	// full-size video; this package uses it too.
	VideoTrack = "video/hd"
)

// HasSuffix reports whether a broadcast name says it is a hang broadcast.
func HasSuffix(broadcast string) bool { return strings.HasSuffix(broadcast, Suffix) }

// Catalog is the root of a hang catalog.
type Catalog struct {
	Video *Video `json:"video,omitempty"`
}

// Video is the catalog's video section.
type Video struct {
	// Renditions maps track names to their decoder configuration.
	Renditions map[string]VideoConfig `json:"renditions"`
	// Display is the size to render at, in pixels.
	Display *Display `json:"display,omitempty"`
}

// Display is a render size in pixels.
type Display struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// VideoConfig describes one rendition, mirroring WebCodecs
// VideoDecoderConfig.
type VideoConfig struct {
	Codec     string    `json:"codec"`
	Container Container `json:"container"`
	// Description is the hex decoder description; empty means the frames
	// carry their parameter sets in band (Annex-B for H.264).
	Description        string  `json:"description,omitempty"`
	CodedWidth         int     `json:"codedWidth,omitempty"`
	CodedHeight        int     `json:"codedHeight,omitempty"`
	Framerate          float64 `json:"framerate,omitempty"`
	Bitrate            int     `json:"bitrate,omitempty"`
	OptimizeForLatency *bool   `json:"optimizeForLatency,omitempty"`
	// Jitter is the most a frame may be late, in milliseconds.
	Jitter int `json:"jitter,omitempty"`
}

// Container names the per-frame container.
type Container struct {
	Kind string `json:"kind"`
}

// Legacy is the container this package writes: see EncodeFrame.
var Legacy = Container{Kind: "legacy"}

// WriteCatalog publishes c as a new group of one frame on the catalog
// track: a late reader needs only the newest group.
func WriteCatalog(track *moqt.TrackWriter, c Catalog) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	g, err := track.AppendGroup()
	if err != nil {
		return fmt.Errorf("catalog group: %w", err)
	}
	if err := g.WriteFrame(b); err != nil {
		g.Abort(err)
		return fmt.Errorf("catalog frame: %w", err)
	}
	return g.Close()
}
