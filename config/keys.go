package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// leaf is one settable value of the Config tree, found by walking the toml
// tags, so a new field is reachable from env and flags without extra code.
type leaf struct {
	key   string // dotted TOML key: "cluster.sync.heartbeat_interval"
	index []int  // for reflect.Value.FieldByIndex from *Config
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// leaves lists every leaf of Config in declaration order.
var leaves = sync.OnceValue(func() []leaf {
	return collectLeaves(reflect.TypeFor[Config](), "", nil)
})

// leafByKey indexes leaves by their dotted key.
var leafByKey = sync.OnceValue(func() map[string]leaf {
	m := make(map[string]leaf)
	for _, l := range leaves() {
		m[l.key] = l
	}
	return m
})

func collectLeaves(t reflect.Type, prefix string, index []int) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshalerType) {
			out = append(out, collectLeaves(f.Type, key+".", idx)...)
			continue
		}
		out = append(out, leaf{key: key, index: idx})
	}
	return out
}

// EnvName is the environment variable for a dotted TOML key:
// "cluster.sync.heartbeat_interval" → "MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL".
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

const envPrefix = "MOQ_"

// field returns the settable field of c named by a dotted key. Keys come from
// the tables in this package, so a missing one is a programming error.
func field(c *Config, key string) reflect.Value {
	l, ok := leafByKey()[key]
	if !ok {
		panic("config: unknown key " + key)
	}
	return reflect.ValueOf(c).Elem().FieldByIndex(l.index)
}

// parseInto sets v from its text form, the form used by env variables and
// flags. Lists are comma-separated; blank items are dropped.
func parseInto(v reflect.Value, text string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(text))
	}
	text = strings.TrimSpace(text)
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", v.Type())
		}
		v.Set(reflect.ValueOf(splitList(text)))
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", text)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", text)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned integer %q", text)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(text, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", text)
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// formatValue is the inverse of parseInto, for flag defaults in --help.
func formatValue(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	if v.Kind() == reflect.Slice {
		return strings.Join(v.Interface().([]string), ",")
	}
	return fmt.Sprint(v.Interface())
}

func splitList(text string) []string {
	var out []string
	for item := range strings.SplitSeq(text, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// appendUnique appends the items of add not already in list, keeping order.
func appendUnique(list []string, add ...string) []string {
	for _, item := range add {
		if !slices.Contains(list, item) {
			list = append(list, item)
		}
	}
	return list
}
