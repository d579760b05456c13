// Package fuzzseed writes Go fuzz seed corpora from test code.
//
// A package's fuzz targets read their seed inputs from
// testdata/fuzz/<Target>/, which plain `go test` runs too. Rather than
// keeping those files by hand, a package builds its seeds in code and has a
// TestWriteFuzzCorpus that passes them to Write:
//
//	func TestWriteFuzzCorpus(t *testing.T) {
//		fuzzseed.Write(t, map[string][]fuzzseed.Entry{
//			"FuzzDecode": {{Name: "empty", Args: []any{uint64(0), []byte{}}}},
//		})
//	}
//
// and MOQ_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus rewrites
// them. It is meant for tests only.
package fuzzseed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Entry is one seed file: its name (without the "seed-" prefix Write adds)
// and the fuzz function's arguments, in order.
type Entry struct {
	Name string
	Args []any
}

// Marshal encodes args in the `go test fuzz v1` file format. It supports
// bool, uint8 (byte), uint16, uint64 and []byte, and panics on any other
// type.
func Marshal(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case bool, uint16, uint64:
			fmt.Fprintf(&b, "%T(%v)\n", a, a)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", a)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		default:
			panic(fmt.Sprintf("unsupported fuzz argument %T", a))
		}
	}
	return b.Bytes()
}

// Name turns a test case name into a seed file name: prefix, a dash, and
// name with slashes and spaces replaced by dashes.
func Name(prefix, name string) string {
	return prefix + "-" + strings.NewReplacer("/", "-", " ", "-").Replace(name)
}

// Write rewrites the seed files of the calling package's fuzz targets when
// the environment has MOQ_WRITE_FUZZ_CORPUS=1, and skips t otherwise.
//
// corpus maps a fuzz target's name to its seeds. For each target, Write
// creates testdata/fuzz/<target> under the working directory (the package
// under test) if needed, removes every seed-* file in it and writes each
// entry to seed-<Name>, encoded by Marshal; a later entry replaces an
// earlier one of the same name. Other files there, such as the inputs the
// fuzzer found and named by hash, are left alone, as are the directories of
// targets not in corpus.
func Write(t testing.TB, corpus map[string][]Entry) {
	t.Helper()
	if os.Getenv("MOQ_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set MOQ_WRITE_FUZZ_CORPUS=1 to rewrite the testdata/fuzz seed files")
	}
	write(t, ".", corpus)
}

// write is Write without the environment check, under root instead of the
// working directory.
func write(t testing.TB, root string, corpus map[string][]Entry) {
	t.Helper()
	for target, entries := range corpus {
		dir := filepath.Join(root, "testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, err := filepath.Glob(filepath.Join(dir, "seed-*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range old {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range entries {
			if err := os.WriteFile(filepath.Join(dir, "seed-"+e.Name), Marshal(e.Args...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
