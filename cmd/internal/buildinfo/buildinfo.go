// Package buildinfo reports the version the binary was built from.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/moqt"
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

// Command is the `version` subcommand of the binary named name: its
// version, the MoQ protocols it speaks and the QUIC stack it was built with.
func Command(name string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the protocols this build speaks",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s %s\n", name, String())
			fmt.Fprintf(out, "protocols: %s\n", strings.Join(moqt.Protocols(), ", "))
			fmt.Fprintf(out, "quic-go %s, webtransport-go %s\n",
				Dependency("github.com/quic-go/quic-go"), Dependency("github.com/quic-go/webtransport-go"))
		},
	}
}
