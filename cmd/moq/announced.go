package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

func newAnnouncedCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "announced URL [PREFIX]",
		Short: "Print broadcasts as they are announced (+path) and end (-path)",
		Long: `announced prints +path when a broadcast under PREFIX is announced and
-path when it ends, until interrupted or the connection ends.

` + exitCodesHelp,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			sess, err := f.connect(ctx, args[0], moqt.SessionConfig{Logger: f.logger()})
			if err != nil {
				return err
			}
			defer closeSession(sess)
			ar, err := sess.Announced(ctx, prefix)
			if err != nil {
				return announceFailure(sess, prefix, err)
			}
			defer ar.Close()
			out := cmd.OutOrStdout()
			for {
				a, err := ar.Next(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return announceFailure(sess, prefix, err)
				}
				sign := "-"
				if a.Active {
					sign = "+"
				}
				fmt.Fprintf(out, "%s%s\n", sign, a.Path)
			}
		},
	}
}

// announceFailure says why the announcements stopped.
func announceFailure(sess moqt.Session, prefix string, err error) error {
	if f := sessionFailure(err); f != nil {
		return f
	}
	if moqt.IsCode(err, wire.CodeUnauthorized) {
		return &failure{exit: exitRefused, err: fmt.Errorf("refused: not allowed to see announcements under %q: %w", prefix, err),
			hint: "the token's get prefixes do not cover this prefix"}
	}
	settle(sess)
	select {
	case <-sess.Done():
		if f := sessionFailure(sess.Err()); f != nil {
			return f
		}
	default:
	}
	return &failure{exit: exitConnection, err: fmt.Errorf("announcements under %q ended: %w", prefix, err)}
}
