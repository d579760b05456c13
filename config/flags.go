package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// BindFlags registers the configuration flags (see shortcuts) on fs. The
// flags hold their own values; ApplyFlags copies the ones the user set onto a
// Config, so flag defaults never mask the file or the environment. Like any
// pflag registration it panics if fs already has a flag of the same name.
func BindFlags(fs *pflag.FlagSet) {
	defaults := Default()
	for _, s := range shortcuts {
		v := &flagValue{value: reflect.New(field(defaults, s.key).Type()).Elem()}
		v.value.Set(field(defaults, s.key))
		fs.Var(v, s.flag, s.usage+" [env "+s.env+"]")
		if v.value.Kind() == reflect.Bool {
			fs.Lookup(s.flag).NoOptDefVal = "true" // --flag alone means true
		}
	}
}

// ApplyFlags copies onto c every configuration flag that was set explicitly
// on the command line. Flags missing from fs are skipped, so a subcommand may
// bind only some of them.
func ApplyFlags(fs *pflag.FlagSet, c *Config) error {
	for _, s := range shortcuts {
		f := fs.Lookup(s.flag)
		if f == nil || !f.Changed {
			continue
		}
		dst := field(c, s.key)
		if v, ok := f.Value.(*flagValue); ok {
			dst.Set(v.value)
			if dst.Kind() == reflect.Slice { // do not share the flag's backing array
				dst.Set(reflect.ValueOf(slices.Clone(dst.Interface().([]string))))
			}
			continue
		}
		// A flag registered elsewhere under the same name: go through text.
		text := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			text = strings.Join(sv.GetSlice(), ",")
		}
		if err := parseInto(dst, text); err != nil {
			return fmt.Errorf("flag --%s: %w", s.flag, err)
		}
	}
	return nil
}

// flagValue is a pflag.Value over any leaf type, parsed like env variables.
// A list flag may be repeated and each use may hold a comma-separated list;
// the first use replaces the default rather than appending to it.
type flagValue struct {
	value reflect.Value
	set   bool
}

func (f *flagValue) Set(text string) error {
	if f.value.Kind() != reflect.Slice {
		return parseInto(f.value, text)
	}
	var list []string
	if f.set {
		list = f.value.Interface().([]string)
	}
	f.value.Set(reflect.ValueOf(append(list, splitList(text)...)))
	f.set = true
	return nil
}

func (f *flagValue) String() string {
	return formatValue(f.value)
}

func (f *flagValue) Type() string {
	switch {
	case f.value.Type() == reflect.TypeFor[Duration]():
		return "duration"
	case f.value.Kind() == reflect.Slice:
		return "strings"
	default:
		return f.value.Kind().String()
	}
}
