package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/cmd/internal/buildinfo"
	"github.com/moq-cluster/moq-relay/moqt"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the protocols this build speaks",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "moq-relay %s\n", buildinfo.String())
			fmt.Fprintf(out, "protocols: %s\n", strings.Join(moqt.Protocols(), ", "))
			fmt.Fprintf(out, "quic-go %s, webtransport-go %s\n",
				buildinfo.Dependency("github.com/quic-go/quic-go"),
				buildinfo.Dependency("github.com/quic-go/webtransport-go"))
		},
	}
}
