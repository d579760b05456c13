// Command moq-relay is a Media-over-QUIC relay. Alone it is a complete relay;
// with --cluster-root and --cluster-node it joins a cluster.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/cmd/internal/buildinfo"
	// moq-lite is the dialect every session speaks today.
	_ "github.com/moq-cluster/moq-relay/cmd/internal/dialects" // every MoQ dialect
)

func main() {
	// SIGINT ends the command at once; serve handles SIGTERM itself (drain).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "moq-relay:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:   "moq-relay",
		Short: "Media-over-QUIC relay and relay cluster",
		Long: `moq-relay forwards Media-over-QUIC broadcasts from publishers to subscribers.
Browsers connect over WebTransport and native clients over raw QUIC, on one UDP port;
the same port number on TCP serves /certificate.sha256 and /health.

Run with no command it serves, like "moq-relay serve".`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, configPath)
		},
	}
	// --config belongs to the commands that read it (the root serves too),
	// not to token or version.
	const configUsage = "TOML configuration `file` [env MOQ_CONFIG]"
	root.Flags().StringVar(&configPath, "config", "", configUsage)
	bindServeFlags(root)
	serve := newServeCmd(&configPath)
	serve.Flags().StringVar(&configPath, "config", "", configUsage)
	root.AddCommand(serve, buildinfo.Command("moq-relay"), newTokenCmd())
	return root
}
