package fuzzseed

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMarshal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []any
		want string
	}{
		{"no args", nil, "go test fuzz v1\n"},
		{"bool", []any{true, false}, "go test fuzz v1\nbool(true)\nbool(false)\n"},
		{"uint8", []any{uint8(0), byte('a'), uint8('\''), uint8('\\'), uint8(0x7f), uint8(0x80), uint8(0xff)},
			"go test fuzz v1\nbyte('\\x00')\nbyte('a')\nbyte('\\'')\nbyte('\\\\')\nbyte('\\x7f')\nbyte('\\u0080')\nbyte('ÿ')\n"},
		{"uint16", []any{uint16(0), uint16(65535)}, "go test fuzz v1\nuint16(0)\nuint16(65535)\n"},
		{"uint64", []any{uint64(0), uint64(1<<64 - 1)}, "go test fuzz v1\nuint64(0)\nuint64(18446744073709551615)\n"},
		{"[]byte", []any{[]byte(nil), []byte{}, []byte("a\"\\\x00\xff\n"), []byte("é")},
			"go test fuzz v1\n[]byte(\"\")\n[]byte(\"\")\n[]byte(\"a\\\"\\\\\\x00\\xff\\n\")\n[]byte(\"é\")\n"},
		{"mixed", []any{uint8(7), uint8(1), true, uint16(16), uint64(42), []byte{0x02, 0x01}},
			"go test fuzz v1\nbyte('\\a')\nbyte('\\x01')\nbool(true)\nuint16(16)\nuint64(42)\n[]byte(\"\\x02\\x01\")\n"},
	} {
		if got := string(Marshal(tc.args...)); got != tc.want {
			t.Errorf("%s: Marshal = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMarshalUnsupported(t *testing.T) {
	t.Parallel()
	for _, arg := range []any{int(1), uint32(1), "s", int8(1), nil} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Marshal(%T) did not panic", arg)
				}
			}()
			Marshal(arg)
		}()
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, name, want string }{
		{"golden", "subscribe", "golden-subscribe"},
		{"truncated", "lite-04/announce with hops", "truncated-lite-04-announce-with-hops"},
		{"p", "", "p-"},
	} {
		if got := Name(tc.prefix, tc.name); got != tc.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tc.prefix, tc.name, got, tc.want)
		}
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestWriteFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fuzz := filepath.Join(root, "testdata", "fuzz")
	put := func(target, name, content string) {
		t.Helper()
		dir := filepath.Join(fuzz, target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("FuzzA", "seed-old", "stale seed")
	put("FuzzA", "seed-keep", "overwritten")
	put("FuzzA", "5c1d0e3c7a9f2b4e", "found by the fuzzer")
	put("FuzzOther", "seed-untouched", "target not in corpus")

	write(t, root, map[string][]Entry{
		"FuzzA": {
			{"keep", []any{true, []byte("x")}},
			{"dup", []any{uint16(1)}},
			{"dup", []any{uint16(2)}},
		},
		"FuzzNew":  {{"first", []any{uint64(3), uint8('b')}}},
		"FuzzNone": nil,
	})

	for dir, want := range map[string]map[string]string{
		"FuzzA": {
			"seed-keep":        "go test fuzz v1\nbool(true)\n[]byte(\"x\")\n",
			"seed-dup":         "go test fuzz v1\nuint16(2)\n",
			"5c1d0e3c7a9f2b4e": "found by the fuzzer",
		},
		"FuzzNew":   {"seed-first": "go test fuzz v1\nuint64(3)\nbyte('b')\n"},
		"FuzzNone":  {},
		"FuzzOther": {"seed-untouched": "target not in corpus"},
	} {
		got := readDir(t, filepath.Join(fuzz, dir))
		for name, content := range want {
			if got[name] != content {
				t.Errorf("%s/%s = %q, want %q", dir, name, got[name], content)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s/%s exists, want it gone", dir, name)
			}
		}
	}
	ents, err := os.ReadDir(fuzz)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		dirs = append(dirs, e.Name())
	}
	if want := []string{"FuzzA", "FuzzNew", "FuzzNone", "FuzzOther"}; !slices.Equal(dirs, want) {
		t.Errorf("target dirs = %v, want %v", dirs, want)
	}
}

// TestWriteSkips checks that Write does nothing without
// MOQ_WRITE_FUZZ_CORPUS=1 (t.Setenv rules out t.Parallel).
func TestWriteSkips(t *testing.T) {
	for _, v := range []string{"", "0", "true"} {
		t.Setenv("MOQ_WRITE_FUZZ_CORPUS", v)
		var skipped bool
		t.Run("env="+v, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			// An empty corpus: were Write not to skip, it would write nothing.
			Write(t, map[string][]Entry{})
		})
		if !skipped {
			t.Errorf("MOQ_WRITE_FUZZ_CORPUS=%q: Write did not skip", v)
		}
	}
}
