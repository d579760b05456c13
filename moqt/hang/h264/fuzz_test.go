package h264

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzAnnexB: the streaming reader and the whole-buffer split agree on any
// input; the NAL units survive re-framing; access units hold every NAL unit
// once, in order, and each has a picture.
func FuzzAnnexB(f *testing.F) {
	clip, err := readClipBytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(clip[:min(len(clip), 2048)])
	f.Add([]byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a, 0, 0})
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		nals := SplitAnnexB(b)
		streamed := readAll(t, NewNALReader(bytes.NewReader(b), len(b)+1))
		if len(nals) != len(streamed) || (len(nals) > 0 && !reflect.DeepEqual(nals, streamed)) {
			t.Fatalf("SplitAnnexB found %x, NALReader %x", nals, streamed)
		}
		if again := SplitAnnexB(AppendAnnexB(nil, nals...)); !reflect.DeepEqual(again, nals) {
			t.Fatalf("re-framed %x, got back %x", nals, again)
		}
		var flat [][]byte
		for _, au := range AccessUnits(b) {
			pictures := 0
			for _, n := range au.NALUs {
				if isVCL(NALType(n)) {
					pictures++
				}
			}
			if pictures == 0 {
				t.Fatalf("access unit without a picture: %x", au.NALUs)
			}
			flat = append(flat, au.NALUs...)
		}
		// Only NAL units after the last picture are left out.
		if len(flat) > len(nals) || (len(flat) > 0 && !reflect.DeepEqual(flat, nals[:len(flat)])) {
			t.Fatalf("access units hold %x, stream has %x", flat, nals)
		}
		for _, n := range nals[len(flat):] {
			if isVCL(NALType(n)) {
				t.Fatalf("picture %x left out of the access units", n)
			}
		}
	})
}

// FuzzParseSPS: any bytes after an SPS header parse or fail with ErrSPS,
// and what parses has a sane size.
func FuzzParseSPS(f *testing.F) {
	clip, err := readClipBytes()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range SplitAnnexB(clip) {
		if NALType(n) == TypeSPS {
			f.Add(n[1:])
			break
		}
	}
	f.Add([]byte{66, 0xc0, 40, 0x8d, 0x68, 0x0a, 0x03, 0xda, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSPS(append([]byte{0x67}, b...))
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > maxMBs*16 || s.Height > 2*maxMBs*16 {
			t.Fatalf("parsed size %dx%d", s.Width, s.Height)
		}
		if c := s.Codec(); len(c) != len("avc1.64001f") {
			t.Fatalf("codec string %q", c)
		}
	})
}
