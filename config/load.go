package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// Resolve is the one entry point for commands: it loads defaults, the file
// at path (or at $MOQ_CONFIG when path is empty), the MOQ_* variables in env
// and the flags set on fs (nil for none), then validates the result.
// Warnings name MOQ_* variables that nothing reads; they are returned even
// when err is not nil.
func Resolve(path string, env []string, fs *pflag.FlagSet) (*Config, []string, error) {
	warnings := unknownEnvWarnings(env)
	if path == "" {
		path = lookupEnv(env, EnvConfigPath)
	}
	c, _, err := Load(path, env)
	if err != nil {
		return nil, warnings, err
	}
	if fs != nil {
		if err := ApplyFlags(fs, c); err != nil {
			return nil, warnings, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, warnings, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, warnings, nil
}

// Load returns Default() overlaid with the TOML file at path (skipped when
// path is empty) and then with the MOQ_* variables in env. Unknown file keys
// are an error. Alias keys (cluster.sync.server_id, address, seed_servers)
// come back folded into cluster.id, node and root. Load does not validate.
func Load(path string, env []string) (*Config, toml.MetaData, error) {
	c := Default()
	var md toml.MetaData
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, md, fmt.Errorf("config file: %w", err)
		}
		if md, err = decodeFile(c, string(data)); err != nil {
			return nil, md, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := applyEnv(c, env); err != nil {
		return nil, md, err
	}
	return c, md, nil
}

// decodeFile overlays TOML text on c, rejects unknown keys and folds aliases.
func decodeFile(c *Config, data string) (toml.MetaData, error) {
	md, err := toml.Decode(data, c)
	if err != nil {
		return md, err
	}
	if err := unknownKeys(md); err != nil {
		return md, err
	}
	return md, foldAliases(c)
}

// unknownKeys reports keys the file holds that Config has no field for,
// naming each unknown table once rather than every key inside it.
func unknownKeys(md toml.MetaData) error {
	undecoded := md.Undecoded()
	if len(undecoded) == 0 {
		return nil
	}
	isUndecoded := make(map[string]bool, len(undecoded))
	for _, k := range undecoded {
		isUndecoded[k.String()] = true
	}
	var names []string
	for _, k := range undecoded {
		if insideUndecoded(k, isUndecoded) {
			continue
		}
		name := k.String()
		if hint := suggest(name, leafKeys()); hint != "" {
			name += " (did you mean " + hint + "?)"
		}
		names = append(names, name)
	}
	return fmt.Errorf("unknown keys: %s", strings.Join(names, ", "))
}

// insideUndecoded reports whether a parent table of k is itself unknown.
func insideUndecoded(k toml.Key, isUndecoded map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if isUndecoded[k[:i].String()] {
			return true
		}
	}
	return false
}

func leafKeys() []string {
	keys := make([]string, 0, len(leaves()))
	for _, l := range leaves() {
		keys = append(keys, l.key)
	}
	return keys
}

func unknownEnvWarnings(env []string) []string {
	known := make([]string, 0, len(envTargets()))
	for name := range envTargets() {
		known = append(known, name)
	}
	slices.Sort(known) // a stable hint when two names are equally close
	var warnings []string
	for _, name := range UnknownEnv(env) {
		w := "ignoring unknown environment variable " + name
		if hint := suggest(name, known); hint != "" {
			w += " (did you mean " + hint + "?)"
		}
		warnings = append(warnings, w)
	}
	return warnings
}
