// Package buildinfo reports the version the binary was built from.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version is set at link time by the Makefile (-X); otherwise it is taken
// from the module build info.
var Version = ""

// String returns the version, the VCS revision when known, and the Go version.
func String() string {
	v := Version
	bi, ok := debug.ReadBuildInfo()
	if v == "" {
		v = "dev"
		if ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	parts := []string{v}
	if ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				parts = append(parts, "rev "+s.Value[:12])
			}
		}
		parts = append(parts, bi.GoVersion)
	}
	return strings.Join(parts, ", ")
}

// Dependency returns the version of a module the binary was built with.
func Dependency(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}
