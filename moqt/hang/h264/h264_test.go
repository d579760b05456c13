package h264

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"
)

// The clip: 12 frames of ffmpeg's testsrc2 at 320x180, 30 fps, one IDR every
// 6 frames, no B-frames, AUDs inserted, made with
//
//	ffmpeg -f lavfi -i testsrc2=size=320x180:rate=30 -frames:v 12 -c:v libx264 \
//	  -preset veryfast -tune zerolatency -g 6 -bf 0 -pix_fmt yuv420p \
//	  -bsf:v h264_metadata=aud=insert -f h264 testsrc2-320x180-12f-gop6.h264
//
// ffprobe reports: High profile, level 13 (1.3), 320x180, 30/1; keyframes at
// frames 0 and 6.
const clipPath = "testdata/testsrc2-320x180-12f-gop6.h264"

func readClipBytes() ([]byte, error) { return os.ReadFile(clipPath) }

func readClip(t testing.TB) []byte {
	t.Helper()
	b, err := readClipBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitAnnexB(t *testing.T) {
	in := []byte{
		0xff, 0x00, // junk before the first start code
		0, 0, 0, 1, 0x67, 0xaa,
		0, 0, 1, 0x68, 0xbb, 0x00, 0x00, // trailing zeros
		0, 0, 1, // empty NAL unit
		0, 0, 1, 0x65, 0x80, 0x00, 0x00, 0x03, 0x01, // emulation prevention stays
	}
	want := [][]byte{{0x67, 0xaa}, {0x68, 0xbb}, {0x65, 0x80, 0x00, 0x00, 0x03, 0x01}}
	got := SplitAnnexB(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SplitAnnexB = %x, want %x", got, want)
	}
	if got := SplitAnnexB(AppendAnnexB(nil, want...)); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip = %x, want %x", got, want)
	}
	if got := readAll(t, NewNALReader(bytes.NewReader(in), 1<<10)); !reflect.DeepEqual(got, want) {
		t.Fatalf("NALReader = %x, want %x", got, want)
	}
	if got := SplitAnnexB([]byte{1, 2, 3, 0, 0}); got != nil {
		t.Fatalf("no start code: got %x", got)
	}
}

func readAll(t testing.TB, r *NALReader) [][]byte {
	t.Helper()
	var nals [][]byte
	for {
		nal, err := r.Next()
		if err == io.EOF {
			return nals
		}
		if err != nil {
			t.Fatal(err)
		}
		nals = append(nals, nal)
	}
}

// TestNALReaderClip: the streaming reader finds the same NAL units as the
// whole-buffer split, even when its input arrives one byte at a time.
func TestNALReaderClip(t *testing.T) {
	clip := readClip(t)
	want := SplitAnnexB(clip)
	got := readAll(t, NewNALReader(iotest.OneByteReader(bytes.NewReader(clip)), 1<<20))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("NALReader found %d NAL units, SplitAnnexB %d", len(got), len(want))
	}
	t.Logf("clip: %d bytes, %d NAL units", len(clip), len(got))

	r := NewNALReader(bytes.NewReader(clip), 100)
	var err error
	for i := 0; err == nil && i <= len(want); i++ {
		_, err = r.Next()
	}
	if !errors.Is(err, ErrNALTooLarge) {
		t.Fatalf("NAL units over 100 bytes: got %v, want ErrNALTooLarge", err)
	}
}

// TestAccessUnitsClip: the clip is 12 pictures, keyframes (with SPS and PPS)
// at 0 and 6; without its AUDs the same pictures are found from the slice
// headers.
func TestAccessUnitsClip(t *testing.T) {
	clip := readClip(t)
	aus := AccessUnits(clip)
	check := func(what string, aus []AccessUnit, aud bool) {
		t.Helper()
		if len(aus) != 12 {
			t.Fatalf("%s: %d access units, want 12", what, len(aus))
		}
		var types [][]int
		for i, au := range aus {
			var ts []int
			for _, n := range au.NALUs {
				ts = append(ts, NALType(n))
			}
			types = append(types, ts)
			key := i%6 == 0
			if au.Keyframe() != key || au.Has(TypeSPS) != key || au.Has(TypePPS) != key {
				t.Errorf("%s: access unit %d: keyframe %v, SPS %v, PPS %v; want %v", what, i, au.Keyframe(), au.Has(TypeSPS), au.Has(TypePPS), key)
			}
			if aud && NALType(au.NALUs[0]) != TypeAUD {
				t.Errorf("%s: access unit %d starts with NAL type %d, want an AUD", what, i, NALType(au.NALUs[0]))
			}
		}
		t.Logf("%s: NAL types per access unit: %v", what, types)
	}
	check("with AUDs", aus, true)

	var noAUD []byte
	for _, n := range SplitAnnexB(clip) {
		if NALType(n) != TypeAUD {
			noAUD = AppendAnnexB(noAUD, n)
		}
	}
	check("without AUDs", AccessUnits(noAUD), false)
}

func TestParseSPSClip(t *testing.T) {
	var sps *SPS
	for _, n := range SplitAnnexB(readClip(t)) {
		if NALType(n) == TypeSPS {
			var err error
			if sps, err = ParseSPS(n); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if sps == nil {
		t.Fatal("no SPS in the clip")
	}
	t.Logf("clip SPS: %+v codec %s, %.2f fps", *sps, sps.Codec(), sps.FrameRate())
	if sps.Codec() != "avc1.64000d" || sps.Width != 320 || sps.Height != 180 || sps.FrameRate() != 30 {
		t.Fatalf("clip SPS: codec %s %dx%d %.2f fps, want avc1.64000d 320x180 30 fps", sps.Codec(), sps.Width, sps.Height, sps.FrameRate())
	}
}

// bitWriter builds hand-made SPS vectors field by field.
type bitWriter struct {
	b    []byte
	nbit int
}

func (w *bitWriter) bits(n int, v uint64) *bitWriter {
	for i := n - 1; i >= 0; i-- {
		if w.nbit%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (7 - w.nbit%8)
		w.nbit++
	}
	return w
}

func (w *bitWriter) ue(v uint64) *bitWriter {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	return w.bits(n, 0).bits(n+1, v)
}

func (w *bitWriter) se(v int64) *bitWriter {
	if v > 0 {
		return w.ue(uint64(2*v - 1))
	}
	return w.ue(uint64(-2 * v))
}

// nal returns the SPS NAL unit: header, the bits with a stop bit, and
// emulation prevention bytes inserted.
func (w *bitWriter) nal() []byte {
	w.bits(1, 1)
	out := []byte{0x67}
	zeros := 0
	for _, c := range w.b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

func TestParseSPSHandMade(t *testing.T) {
	type want struct {
		codec  string
		w, h   int
		fps    float64
		errStr bool
	}
	cases := []struct {
		name string
		sps  func() []byte
		want want
	}{
		{"baseline 1080p cropped from 1088", func() []byte {
			w := (&bitWriter{}).bits(8, 66).bits(8, 0xc0).bits(8, 40).ue(0)
			w.ue(0).ue(2).ue(1).bits(1, 0) // frame_num, poc type 2, refs, gaps
			w.ue(119).ue(67).bits(1, 1)    // 120x68 MBs, frame_mbs_only
			w.bits(1, 1).bits(1, 1).ue(0).ue(0).ue(0).ue(4)
			return w.bits(1, 0).nal()
		}, want{codec: "avc1.42c028", w: 1920, h: 1080}},
		{"high 720p with scaling lists, POC type 1, VUI timing 25 fps", func() []byte {
			w := (&bitWriter{}).bits(8, 100).bits(8, 0).bits(8, 31).ue(0)
			w.ue(1).ue(0).ue(0).bits(1, 0) // 4:2:0, 8 bit, 8 bit, no bypass
			w.bits(1, 1)                   // scaling matrix present
			w.bits(1, 1).se(-8)            // list 0: one delta to 0 ends it
			for range 7 {
				w.bits(1, 0)
			}
			w.ue(0).ue(1)                                // frame_num, POC type 1
			w.bits(1, 0).se(-2).se(3).ue(2).se(1).se(-1) // two cycle offsets
			w.ue(3).bits(1, 0).ue(79).ue(44).bits(1, 1).bits(1, 1).bits(1, 0)
			w.bits(1, 1)                                      // VUI
			w.bits(1, 1).bits(8, 255).bits(16, 1).bits(16, 1) // extended SAR
			w.bits(1, 0).bits(1, 1).bits(3, 5).bits(1, 0).bits(1, 1).bits(24, 0x010101)
			w.bits(1, 0)                                     // chroma loc
			w.bits(1, 1).bits(32, 1).bits(32, 50).bits(1, 1) // timing: 50/2 = 25 fps
			return w.nal()
		}, want{codec: "avc1.64001f", w: 1280, h: 720, fps: 25}},
		{"main interlaced 576i", func() []byte {
			w := (&bitWriter{}).bits(8, 77).bits(8, 0x40).bits(8, 30).ue(0)
			w.ue(0).ue(0).ue(0).ue(4).bits(1, 0)
			w.ue(44).ue(17).bits(1, 0).bits(1, 1) // 45x18 map units, fields, MBAFF
			w.bits(1, 1).bits(1, 0).bits(1, 0)
			return w.nal()
		}, want{codec: "avc1.4d401e", w: 720, h: 576}},
		{"4:4:4 crop units are 1 pixel", func() []byte {
			w := (&bitWriter{}).bits(8, 244).bits(8, 0).bits(8, 30).ue(0)
			w.ue(3).bits(1, 0).ue(0).ue(0).bits(1, 0).bits(1, 0)
			w.ue(0).ue(2).ue(1).bits(1, 0).ue(0).ue(0).bits(1, 1).bits(1, 1)
			w.bits(1, 1).ue(1).ue(2).ue(3).ue(4)
			return w.bits(1, 0).nal()
		}, want{codec: "avc1.f4001e", w: 13, h: 9}},
		{"ends inside the size fields", func() []byte {
			return (&bitWriter{}).bits(8, 66).bits(8, 0).bits(8, 30).ue(0).ue(0).ue(2).nal()[:6]
		}, want{errStr: true}},
		{"cropping everything", func() []byte {
			w := (&bitWriter{}).bits(8, 66).bits(8, 0).bits(8, 30).ue(0)
			w.ue(0).ue(2).ue(1).bits(1, 0).ue(0).ue(0).bits(1, 1).bits(1, 1)
			w.bits(1, 1).ue(4).ue(4).ue(0).ue(0)
			return w.bits(1, 0).nal()
		}, want{errStr: true}},
		{"not an SPS", func() []byte { return []byte{0x68, 0xce, 0x38, 0x80} }, want{errStr: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nal := c.sps()
			s, err := ParseSPS(nal)
			if c.want.errStr {
				if !errors.Is(err, ErrSPS) {
					t.Fatalf("ParseSPS(%x) = %+v, %v; want ErrSPS", nal, s, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSPS(%x): %v", nal, err)
			}
			got := want{codec: s.Codec(), w: s.Width, h: s.Height, fps: s.FrameRate()}
			if got != c.want {
				t.Fatalf("ParseSPS(%x) = %+v, want %+v", nal, got, c.want)
			}
		})
	}
}

// TestUnescape: 00 00 03 loses its 03; other bytes stay.
func TestUnescape(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{[]byte{0, 0, 3, 1}, []byte{0, 0, 1}},
		{[]byte{0, 0, 3, 0, 0, 3}, []byte{0, 0, 0, 0}},
		{[]byte{0, 3, 0, 0, 4}, []byte{0, 3, 0, 0, 4}},
		{[]byte{0, 0, 0, 3}, []byte{0, 0, 0}},
	} {
		if got := unescape(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("unescape(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}
