package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

// RFC 9000 Appendix A.1 sample encodings, including the non-minimal
// two-byte encoding of 37 that decoders must accept.
var rfcVectors = []struct {
	hex     string
	value   uint64
	minimal bool
}{
	{"25", 37, true},
	{"7bbd", 15293, true},
	{"9d7f3e7d", 494878333, true},
	{"c2197c5eff14e88c", 151288809941952652, true},
	{"4025", 37, false},
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVarintRFC9000Vectors(t *testing.T) {
	for _, tc := range rfcVectors {
		in := mustHex(t, tc.hex)
		v, n, err := ParseVarint(in)
		if err != nil || v != tc.value || n != len(in) {
			t.Errorf("ParseVarint(%s) = %d, %d, %v; want %d, %d", tc.hex, v, n, err, tc.value, len(in))
		}
		rv, err := ReadVarint(bytes.NewReader(in))
		if err != nil || rv != tc.value {
			t.Errorf("ReadVarint(%s) = %d, %v", tc.hex, rv, err)
		}
		if tc.minimal {
			if got := AppendVarint(nil, tc.value); !bytes.Equal(got, in) {
				t.Errorf("AppendVarint(%d) = %x, want %s", tc.value, got, tc.hex)
			}
		}
	}
}

func TestVarintBoundaries(t *testing.T) {
	for _, tc := range []struct {
		value uint64
		hex   string
	}{
		{0, "00"},
		{63, "3f"},
		{64, "4040"},
		{16383, "7fff"},
		{16384, "80004000"},
		{1<<30 - 1, "bfffffff"},
		{1 << 30, "c000000040000000"},
		{MaxVarint, "ffffffffffffffff"},
	} {
		enc := AppendVarint(nil, tc.value)
		if want := mustHex(t, tc.hex); !bytes.Equal(enc, want) {
			t.Errorf("AppendVarint(%d) = %x, want %s", tc.value, enc, tc.hex)
		}
		if VarintLen(tc.value) != len(enc) {
			t.Errorf("VarintLen(%d) = %d, want %d", tc.value, VarintLen(tc.value), len(enc))
		}
		v, n, err := ParseVarint(append(enc, 0xaa)) // trailing byte is left alone
		if err != nil || v != tc.value || n != len(enc) {
			t.Errorf("ParseVarint(%x) = %d, %d, %v", enc, v, n, err)
		}
	}
}

func TestAppendVarintOutOfRangePanics(t *testing.T) {
	defer func() {
		if r := recover(); r != ErrVarintRange {
			t.Fatalf("recover() = %v, want ErrVarintRange", r)
		}
	}()
	AppendVarint(nil, MaxVarint+1)
}

func TestVarintTruncation(t *testing.T) {
	if _, _, err := ParseVarint(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("ParseVarint(empty) = %v", err)
	}
	// A clean end before the first byte is io.EOF; an end inside is ErrTruncated.
	if _, err := ReadVarint(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("ReadVarint(empty) = %v, want io.EOF", err)
	}
	for _, tc := range rfcVectors {
		in := mustHex(t, tc.hex)
		for i := 1; i < len(in); i++ {
			if _, _, err := ParseVarint(in[:i]); !errors.Is(err, ErrTruncated) {
				t.Errorf("ParseVarint(%x) = %v", in[:i], err)
			}
			if _, err := ReadVarint(bytes.NewReader(in[:i])); !errors.Is(err, ErrTruncated) {
				t.Errorf("ReadVarint(%x) = %v, want ErrTruncated", in[:i], err)
			}
		}
	}
}

type failingByteReader struct{ err error }

func (f failingByteReader) ReadByte() (byte, error) { return 0, f.err }

func TestReadVarintPassesOtherErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := ReadVarint(failingByteReader{boom}); err != boom {
		t.Errorf("ReadVarint = %v, want boom", err)
	}
}
