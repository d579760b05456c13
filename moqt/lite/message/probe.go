package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Probe travels both ways on a Probe stream: the subscriber sends a target
// bitrate, the publisher replies with its estimates.
type Probe struct {
	// Bitrate in bits per second; 0 means unknown.
	Bitrate uint64
	// RTTMs is the smoothed round-trip time in milliseconds; 0 means unknown.
	// lite-04 only: ignored when encoding lite-03 and 0 after decoding it.
	// (The JS clients round a measured 0 up to 1 before sending.)
	RTTMs uint64
}

func (m *Probe) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "PROBE")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendVarint(b, m.Bitrate)
		if v.HasProbeRTT() {
			b = wire.AppendVarint(b, m.RTTMs)
		}
		return b
	})
}

func (m *Probe) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := Probe{Bitrate: d.Varint()}
	if v.HasProbeRTT() {
		out.RTTMs = d.Varint()
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	*m = out
	return nil
}
