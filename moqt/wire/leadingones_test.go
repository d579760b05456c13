package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Sample encodings from draft-ietf-moq-transport-19 §1.4 (the draft-17 table
// has 0xdd7f3e7d, which is not a 4-byte form; draft-19 corrected it), plus
// the non-minimal two-byte 37 that decoders must accept.
var leadingOnesVectors = []struct {
	hex     string
	value   uint64
	minimal bool
	seven   bool // the 1111110x form: draft-18+ only
}{
	{"25", 37, true, false},
	{"8025", 37, false, false},
	{"bbbd", 15293, true, false},
	{"ed7f3e7d", 226442877, true, false},
	{"faa1a0e403d8", 2893212287960, true, false},
	{"fc8998abc66bc0", 151288809941952, false, true},
	{"fefa318fa8e3ca11", 70423237261249041, true, false},
	{"ffffffffffffffffff", 1<<64 - 1, true, false},
}

func TestLeadingOnesDraftVectors(t *testing.T) {
	for _, tc := range leadingOnesVectors {
		in := mustHex(t, tc.hex)
		x, n, err := ParseLeadingOnes(in, true)
		if err != nil || x != tc.value || n != len(in) {
			t.Errorf("ParseLeadingOnes(%s) = %d, %d, %v; want %d, %d", tc.hex, x, n, err, tc.value, len(in))
		}
		got, err := ReadLeadingOnes(bytes.NewReader(in), true)
		if err != nil || got != tc.value {
			t.Errorf("ReadLeadingOnes(%s) = %d, %v", tc.hex, got, err)
		}
		_, _, err = ParseLeadingOnes(in, false)
		if tc.seven != (err != nil) {
			t.Errorf("ParseLeadingOnes(%s) without the 7-byte form: err = %v", tc.hex, err)
		}
		if tc.seven && !errors.Is(err, ErrInvalid) {
			t.Errorf("7-byte form on draft-17: err = %v, want ErrInvalid", err)
		}
		if tc.minimal {
			if enc := AppendLeadingOnes(nil, tc.value); !bytes.Equal(enc, in) {
				t.Errorf("AppendLeadingOnes(%d) = %x, want %s", tc.value, enc, tc.hex)
			}
		}
	}
}

// TestLeadingOnesBoundaries round-trips every size boundary and checks the
// encoder's size choice, which skips the 7-byte form as @moq/net does.
func TestLeadingOnesBoundaries(t *testing.T) {
	sizes := map[int]int{}
	for shift := 0; shift <= 64; shift++ {
		for _, d := range []int64{-1, 0, 1} {
			if shift == 64 && d >= 0 || shift == 0 && d < 0 {
				continue
			}
			x := uint64(1)<<shift + uint64(d)
			if shift == 64 {
				x = 1<<64 - 1
			}
			enc := AppendLeadingOnes([]byte{0xaa}, x)[1:]
			if len(enc) != LeadingOnesLen(x) || len(enc) == 7 {
				t.Fatalf("%d: %d bytes, LeadingOnesLen %d", x, len(enc), LeadingOnesLen(x))
			}
			sizes[len(enc)]++
			for _, seven := range []bool{false, true} {
				got, n, err := ParseLeadingOnes(append(enc, 0x55), seven)
				if err != nil || got != x || n != len(enc) {
					t.Fatalf("round trip %d (%x): %d, %d, %v", x, enc, got, n, err)
				}
			}
			for cut := range len(enc) {
				if _, _, err := ParseLeadingOnes(enc[:cut], true); !errors.Is(err, ErrTruncated) {
					t.Fatalf("%x cut to %d: err = %v", enc, cut, err)
				}
				_, err := ReadLeadingOnes(bytes.NewReader(enc[:cut]), true)
				if cut == 0 && err != io.EOF || cut > 0 && !errors.Is(err, ErrTruncated) {
					t.Fatalf("read %x cut to %d: err = %v", enc, cut, err)
				}
			}
		}
	}
	t.Logf("encodings by size: %v", sizes)
}

func FuzzLeadingOnes(f *testing.F) {
	for _, tc := range leadingOnesVectors {
		f.Add(mustHex(f, tc.hex), true)
	}
	f.Add([]byte{0xfd, 1, 2, 3, 4, 5, 6}, false)
	f.Fuzz(func(t *testing.T, data []byte, seven bool) {
		x, n, err := ParseLeadingOnes(data, seven)
		rx, rerr := ReadLeadingOnes(bytes.NewReader(data), seven)
		if (err == nil) != (rerr == nil) || x != rx {
			t.Fatalf("Parse = %d, %v; Read = %d, %v", x, err, rx, rerr)
		}
		if err != nil {
			return
		}
		shortest := LeadingOnesLen(x)
		if shortest == 8 && x < 1<<49 {
			shortest = 7 // the form the encoder skips
		}
		if n < shortest {
			t.Fatalf("%x decoded as %d in %d bytes, shorter than the shortest %d", data[:n], x, n, shortest)
		}
		enc := AppendLeadingOnes(nil, x)
		if y, m, err := ParseLeadingOnes(enc, false); err != nil || y != x || m != len(enc) {
			t.Fatalf("re-encoding %d as %x decodes to %d, %d, %v", x, enc, y, m, err)
		}
	})
}
