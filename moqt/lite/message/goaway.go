package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Goaway starts a graceful shutdown, optionally redirecting the peer. It
// exists from lite-04 on (check Version.HasGoaway before opening the stream).
type Goaway struct {
	// URI to reconnect to; empty means just close. Receivers must validate it
	// before following it.
	URI string
}

// AppendTo panics for a version without GOAWAY.
func (m *Goaway) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "GOAWAY")
	if !v.HasGoaway() {
		panic(fmt.Sprintf("lite: GOAWAY is not defined in %s", v))
	}
	return appendFramed(b, func(b []byte) []byte {
		return wire.AppendString(b, m.URI)
	})
}

func (m *Goaway) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	if !v.HasGoaway() {
		return fmt.Errorf("%w: GOAWAY in %s", ErrVersion, v)
	}
	d := wire.NewDecoder(body)
	out := Goaway{URI: d.String(MaxURILen)}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("goaway: %w", err)
	}
	*m = out
	return nil
}
