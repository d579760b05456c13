// Package h264 reads an H.264 elementary stream in Annex-B form (what
// `ffmpeg -f h264` writes): it splits the byte stream into NAL units at
// start codes, groups them into access units (one coded picture each), and
// parses the sequence parameter set far enough for a WebCodecs codec string,
// the picture size and the frame rate.
//
// References are to ITU-T H.264 (08/2021): Annex B for the byte stream,
// 7.3.2.1.1 for the SPS, 7.4.1.2.3 for access unit boundaries.
package h264

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// NAL unit types used here (Table 7-1).
const (
	TypeNonIDR = 1  // coded slice of a non-IDR picture
	TypeIDR    = 5  // coded slice of an IDR picture: a keyframe
	TypeSEI    = 6  // supplemental enhancement information
	TypeSPS    = 7  // sequence parameter set
	TypePPS    = 8  // picture parameter set
	TypeAUD    = 9  // access unit delimiter
	TypeEOSeq  = 10 // end of sequence
	TypeEOS    = 11 // end of stream
	TypeFiller = 12 // filler data
)

// NALType returns the nal_unit_type of a NAL unit (without start code), or
// -1 for an empty one.
func NALType(nal []byte) int {
	if len(nal) == 0 {
		return -1
	}
	return int(nal[0] & 0x1f)
}

// isVCL reports whether t is a coded slice of a primary picture (types 1-5).
func isVCL(t int) bool { return t >= 1 && t <= 5 }

// SplitAnnexB returns the NAL units of an Annex-B byte stream, without their
// start codes (00 00 01 or 00 00 00 01) and without trailing zero bytes.
// Bytes before the first start code are ignored; empty NAL units are dropped.
// The NAL units alias b.
func SplitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1 // first byte of the current NAL unit
	for i := 0; i+3 <= len(b); {
		if b[i+2] > 1 { // fast skip: no start code can end within the next 3 bytes here
			i += 3
			continue
		}
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = appendNAL(nals, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nals = appendNAL(nals, b[start:])
	}
	return nals
}

// appendNAL appends nal without its trailing zero bytes (which belong to the
// next start code or are trailing_zero_8bits), unless nothing is left.
func appendNAL(nals [][]byte, nal []byte) [][]byte {
	nal = bytes.TrimRight(nal, "\x00")
	if len(nal) == 0 {
		return nals
	}
	return append(nals, nal)
}

// AppendAnnexB appends nals to dst, each after a 4-byte start code.
func AppendAnnexB(dst []byte, nals ...[]byte) []byte {
	for _, n := range nals {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}

// ErrNALTooLarge reports a NAL unit longer than the reader's bound.
var ErrNALTooLarge = errors.New("h264: NAL unit too large")

// NALReader reads the NAL units of an Annex-B byte stream one at a time, as
// they arrive: a NAL unit is complete when the next start code (or the end
// of the stream) is seen.
type NALReader struct {
	r       *bufio.Reader
	max     int
	pending []byte // bytes after the last start code seen
	started bool   // a start code has been seen
	err     error
}

// NewNALReader reads from r, refusing NAL units over maxNAL bytes.
func NewNALReader(r io.Reader, maxNAL int) *NALReader {
	return &NALReader{r: bufio.NewReaderSize(r, 64<<10), max: maxNAL}
}

// Next returns the next NAL unit (without start code), or io.EOF at the end
// of the stream. The returned slice is the caller's.
func (n *NALReader) Next() ([]byte, error) {
	for {
		if n.err != nil {
			return nil, n.err
		}
		// Scan byte by byte through the buffered reader; zeros is the run of
		// 0x00 bytes just read.
		zeros := 0
		for {
			c, err := n.r.ReadByte()
			if err != nil {
				if err != io.EOF {
					n.err = fmt.Errorf("h264: read: %w", err)
					return nil, n.err
				}
				n.err = io.EOF
				nal := n.take(0)
				if n.started && len(nal) > 0 {
					return nal, nil
				}
				return nil, io.EOF
			}
			if c == 1 && zeros >= 2 {
				// A start code: the NAL unit before it ends before its zeros.
				wasStarted := n.started
				n.started = true
				nal := n.take(2)
				if wasStarted && len(nal) > 0 {
					return nal, nil
				}
				zeros = 0
				continue
			}
			if c == 0 {
				zeros++
			} else {
				zeros = 0
			}
			if n.started {
				n.pending = append(n.pending, c)
				if len(n.pending) > n.max {
					n.err = fmt.Errorf("%w: over %d bytes", ErrNALTooLarge, n.max)
					return nil, n.err
				}
			}
		}
	}
}

// take returns the pending NAL unit, dropping its last cut bytes (the zeros
// of the start code that ended it) and trailing zeros, and starts a new one.
func (n *NALReader) take(cut int) []byte {
	p := n.pending
	if len(p) >= cut {
		p = p[:len(p)-cut]
	} else {
		p = p[:0]
	}
	p = bytes.TrimRight(p, "\x00")
	out := append([]byte(nil), p...)
	n.pending = n.pending[:0]
	return out
}

// AccessUnit is the NAL units of one coded picture, in stream order.
type AccessUnit struct {
	NALUs [][]byte
}

// Keyframe reports whether the access unit holds an IDR picture, which a
// decoder can start from.
func (au *AccessUnit) Keyframe() bool {
	for _, n := range au.NALUs {
		if NALType(n) == TypeIDR {
			return true
		}
	}
	return false
}

// Has reports whether the access unit holds a NAL unit of type t.
func (au *AccessUnit) Has(t int) bool {
	for _, n := range au.NALUs {
		if NALType(n) == t {
			return true
		}
	}
	return false
}

// startsAccessUnit reports whether nal, arriving after a VCL NAL unit of the
// current access unit, begins the next one (7.4.1.2.3): an AUD, SPS, PPS,
// SEI or types 14-18, or the first slice of a new picture. A new picture is
// recognised by first_mb_in_slice == 0, which holds for ffmpeg's encoders
// (no arbitrary slice order).
func startsAccessUnit(nal []byte) bool {
	t := NALType(nal)
	switch {
	case t == TypeAUD, t == TypeSPS, t == TypePPS, t == TypeSEI, t >= 14 && t <= 18:
		return true
	case isVCL(t):
		// first_mb_in_slice is the first ue(v) of the slice header: it is 0
		// exactly when the first bit after the NAL header is 1.
		return len(nal) > 1 && nal[1]&0x80 != 0
	}
	return false
}

// Grouper turns a sequence of NAL units into access units.
type Grouper struct {
	cur    AccessUnit
	hasVCL bool
}

// Push adds a NAL unit; it returns the access unit the NAL unit completed,
// if any.
func (g *Grouper) Push(nal []byte) (AccessUnit, bool) {
	var done AccessUnit
	ok := false
	if g.hasVCL && startsAccessUnit(nal) {
		done, ok = g.cur, true
		g.cur, g.hasVCL = AccessUnit{}, false
	}
	g.cur.NALUs = append(g.cur.NALUs, nal)
	if isVCL(NALType(nal)) {
		g.hasVCL = true
	}
	return done, ok
}

// Flush returns the last access unit at the end of the stream, if it holds
// a picture.
func (g *Grouper) Flush() (AccessUnit, bool) {
	done, ok := g.cur, g.hasVCL
	g.cur, g.hasVCL = AccessUnit{}, false
	return done, ok
}

// AccessUnits returns the access units of a whole Annex-B byte stream.
func AccessUnits(b []byte) []AccessUnit {
	var g Grouper
	var aus []AccessUnit
	for _, nal := range SplitAnnexB(b) {
		if au, ok := g.Push(nal); ok {
			aus = append(aus, au)
		}
	}
	if au, ok := g.Flush(); ok {
		aus = append(aus, au)
	}
	return aus
}
