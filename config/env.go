package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// EnvConfigPath names the config file when Resolve gets no path.
const EnvConfigPath = "MOQ_CONFIG"

// applyEnv sets fields from MOQ_* variables in env ("NAME=value" entries, as
// os.Environ returns them). An empty value counts as unset, so a templated
// `MOQ_X=` does not wipe a file setting. When several variables name one key
// (MOQ_BIND and MOQ_SERVER_BIND), lists merge and scalars must agree.
func applyEnv(c *Config, env []string) error {
	vars := envVars(env)
	namesByKey := make(map[string][]string)
	for name, value := range vars {
		if key, ok := envTargets()[name]; ok && value != "" {
			namesByKey[key] = append(namesByKey[key], name)
		}
	}
	var errs []error
	for _, l := range leaves() { // leaf order keeps errors deterministic
		names := namesByKey[l.key]
		if len(names) == 0 {
			continue
		}
		slices.Sort(names)
		if err := setFromEnv(field(c, l.key), l.key, names, vars); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func setFromEnv(dst reflect.Value, key string, names []string, vars map[string]string) error {
	var merged reflect.Value
	var mergedFrom string
	for _, name := range names {
		v := reflect.New(dst.Type()).Elem()
		if err := parseInto(v, vars[name]); err != nil {
			return fmt.Errorf("environment variable %s=%q (%s): %w", name, vars[name], key, err)
		}
		switch {
		case !merged.IsValid():
			merged, mergedFrom = v, name
		case v.Kind() == reflect.Slice:
			list := appendUnique(merged.Interface().([]string), v.Interface().([]string)...)
			merged = reflect.ValueOf(list)
		case !reflect.DeepEqual(merged.Interface(), v.Interface()):
			return fmt.Errorf("environment variables %s=%q and %s=%q both set %s: set only one",
				mergedFrom, vars[mergedFrom], name, vars[name], key)
		}
	}
	dst.Set(merged)
	return nil
}

// UnknownEnv returns the MOQ_* variables in env that no setting reads, sorted,
// so the caller can warn about typos instead of silently ignoring them.
func UnknownEnv(env []string) []string {
	var unknown []string
	for name := range envVars(env) {
		if _, ok := envTargets()[name]; ok || name == EnvConfigPath {
			continue
		}
		if strings.HasPrefix(name, envPrefix) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// envVars turns "NAME=value" entries into a map; a later entry wins, as with
// os/exec.
func envVars(env []string) map[string]string {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok && name != "" {
			vars[name] = value
		}
	}
	return vars
}

func lookupEnv(env []string, name string) string {
	return envVars(env)[name]
}
