package wire

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
)

func TestReadN(t *testing.T) {
	for _, n := range []int{0, 1, eagerRead - 1, eagerRead, eagerRead + 1, 3*eagerRead + 7, 1 << 20} {
		want := bytes.Repeat([]byte{0xa5, 0x01, 0x7e}, n/3+1)[:n]
		r := NewReader(bytes.NewReader(append(append([]byte{}, want...), 0xff)))
		got, err := r.ReadN(n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("n=%d: content differs", n)
		}
		if b, err := r.Byte(); err != nil || b != 0xff {
			t.Fatalf("n=%d: read past the end: next byte %x, %v", n, b, err)
		}
		if n > 0 {
			r := NewReader(bytes.NewReader(want[:n-1]))
			if _, err := r.ReadN(n); !errors.Is(err, ErrTruncated) {
				t.Fatalf("n=%d, one byte short: %v, want ErrTruncated", n, err)
			}
		}
	}
}

// A declared length costs memory only as its bytes arrive.
func TestReadNAllocatesWhatArrives(t *testing.T) {
	const declared = 16 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(make([]byte, 100)))
	if _, err := r.ReadN(declared); !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("a %d-byte declaration with 100 bytes sent allocated %d bytes", declared, grew)
	}
}

func TestMessageLimit(t *testing.T) {
	msg := AppendVarint(nil, 5)
	msg = append(msg, "hello"...)
	if got, err := NewReader(bytes.NewReader(msg)).Message(5); err != nil || string(got) != "hello" {
		t.Fatalf("Message = %q, %v", got, err)
	}
	if _, err := NewReader(bytes.NewReader(msg)).Message(4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
}
