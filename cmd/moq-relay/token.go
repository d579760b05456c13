package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/auth"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Generate signing keys, sign and verify client tokens (JWT)",
		Long: `Tokens are JWTs scoped to a path: "root" is the prefix the token covers, "put" the
prefixes (relative to root) its holder may publish under, "get" those it may subscribe to.
Keys are JWKs (HS256 shared secret, ES256 or EdDSA key pair); PEM EC P-256 and Ed25519
keys are read too.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newTokenGenerateCmd(), newTokenSignCmd(), newTokenVerifyCmd())
	return cmd
}

func newTokenGenerateCmd() *cobra.Command {
	var alg, outFile, publicFile string
	cmd := &cobra.Command{
		Use:   "generate --alg HS256|ES256|EdDSA [--out FILE] [--public FILE]",
		Short: "Generate a signing key and print it as a private JWK",
		Long: `Generate a signing key with a random kid and print it as a private JWK, or write it
to --out (mode 0600; an existing file is never overwritten). For ES256 and EdDSA,
--public also writes the public JWK, which is all a relay needs to verify tokens.
An HS256 key is a shared secret: the relay needs the private JWK itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, err := auth.CanonicalAlgorithm(alg)
			if err != nil {
				return err
			}
			if publicFile != "" && alg == auth.HS256 {
				return errors.New("--public: an HS256 key is a shared secret and has no public half")
			}
			if publicFile != "" && publicFile == outFile {
				return errors.New("--out and --public name the same file")
			}
			for _, path := range []string{outFile, publicFile} {
				if err := refuseExisting(path); err != nil {
					return err
				}
			}
			private, err := auth.GenerateKey(alg)
			if err != nil {
				return err
			}
			var public []byte
			if publicFile != "" {
				if public, err = auth.PublicJWK(private); err != nil {
					return err
				}
			}
			if outFile == "" {
				if _, err := cmd.OutOrStdout().Write(private); err != nil {
					return err
				}
			} else if err := writeNewFile(outFile, private, 0o600); err != nil {
				return err
			}
			if publicFile != "" {
				if err := writeNewFile(publicFile, public, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&alg, "alg", "", "signing algorithm: HS256 (shared secret), ES256 (ECDSA P-256) or EdDSA (Ed25519)")
	cmd.Flags().StringVar(&outFile, "out", "", "write the private JWK to this new file (mode 0600) instead of printing it")
	cmd.Flags().StringVar(&publicFile, "public", "", "also write the public JWK to this new file (ES256 and EdDSA only)")
	_ = cmd.MarkFlagRequired("alg")
	return cmd
}

func refuseExisting(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; not overwriting a key", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeNewFile creates path, which must not exist, with data.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func newTokenSignCmd() *cobra.Command {
	var (
		keyFile, root string
		put, get      []string
		expires       time.Duration
		cluster       bool
		node, nodeURL string
	)
	cmd := &cobra.Command{
		Use:   "sign --key FILE --root PATH [--put PREFIX]... [--get PREFIX]... [--expires DURATION] [--cluster [--node ID] [--node-url URL]]",
		Short: "Sign a token and print it",
		Long: `Sign a token with the private key in --key (a JWK from "token generate", or a PEM key)
and print it. --put and --get are relative to --root and may be repeated; "" is all of
root. A client passes the token in the connection URL as ?jwt=TOKEN.

--cluster signs a relay node's token (its --cluster-token-file) instead. --node and
--node-url bind it to one node: the token is then valid only for a node with that id
(--cluster-id) and that exact advertised URL (--cluster-node), so a leaked token cannot
register another id or send subscribers' pulls to another address. Without --node-url
the root accepts the node's URL only if its host is on the root's node_hosts
allow-list (--cluster-node-host); see docs/security.md.`,
		Example: `  moq-relay token sign --key key.jwk --root room/alice --get ""            # watch room/alice
  moq-relay token sign --key key.jwk --root room --put alice --get "" --expires 24h
  moq-relay token sign --key cluster.jwk --cluster --node edge-1 --node-url https://edge-1.example.net:4443 --expires 720h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expires <= 0 {
				return fmt.Errorf("--expires %s: must be positive", expires)
			}
			if len(put) == 0 && len(get) == 0 && !cluster {
				return errors.New("the token would allow nothing: give --put and/or --get (or --cluster)")
			}
			if !cluster && (node != "" || nodeURL != "") {
				return errors.New("--node and --node-url bind a relay node's token: they need --cluster")
			}
			if err := checkNodeURL(nodeURL); err != nil {
				return err
			}
			now := time.Now()
			claims := auth.Claims{
				Root:    moqt.CleanPath(root),
				Put:     cleanPaths(put),
				Get:     cleanPaths(get),
				Cluster: cluster,
				Node:    node,
				NodeURL: nodeURL,
				RegisteredClaims: jwt.RegisteredClaims{
					IssuedAt:  jwt.NewNumericDate(now),
					ExpiresAt: jwt.NewNumericDate(now.Add(expires)),
				},
			}
			token, err := auth.Sign(keyFile, claims)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), token)
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file (JWK or PEM)")
	cmd.Flags().StringVar(&root, "root", "", `path prefix the token is scoped to ("" is the whole relay)`)
	cmd.Flags().StringArrayVar(&put, "put", nil, "prefix, relative to --root, the holder may publish under (repeatable)")
	cmd.Flags().StringArrayVar(&get, "get", nil, "prefix, relative to --root, the holder may subscribe to (repeatable)")
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "how long the token is valid")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "mark the token as a relay node's")
	cmd.Flags().StringVar(&node, "node", "", "with --cluster: the node id (--cluster-id) the token is valid for")
	cmd.Flags().StringVar(&nodeURL, "node-url", "", "with --cluster: the exact URL (--cluster-node) the node may advertise")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

// checkNodeURL refuses a --node-url no relay could advertise: the root
// compares it with the node's URL as given, so a typo would only show up as
// a refused join.
func checkNodeURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--node-url: %w", err)
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--node-url %q: want the node's --cluster-node URL, with scheme and host", raw)
	}
	return nil
}

func cleanPaths(paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = moqt.CleanPath(p)
	}
	return out
}

func newTokenVerifyCmd() *cobra.Command {
	var keyFile, keyDir string
	cmd := &cobra.Command{
		Use:   "verify (--key FILE | --key-dir DIR) TOKEN",
		Short: "Verify a token and print its claims",
		Long: `Verify a token the way the relay does (signature, algorithm pinned to the key, exp
required, 30 s of clock skew allowed) and print its claims as JSON. TOKEN "-" reads it
from standard input. An invalid token is an error (exit status 1) saying why.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := args[0]
			if token == "-" {
				in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), auth.MaxTokenLength+1))
				if err != nil {
					return fmt.Errorf("read token: %w", err)
				}
				token = string(in)
			}
			keys, err := auth.LoadKeys(keyFile, keyDir)
			if err != nil {
				return err
			}
			claims, err := auth.NewVerifier(keys).Verify(strings.TrimSpace(token))
			if err != nil {
				return fmt.Errorf("invalid token: %w", err)
			}
			out, err := json.MarshalIndent(claims, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "key file (JWK or PEM; a public key suffices for ES256 and EdDSA)")
	cmd.Flags().StringVar(&keyDir, "key-dir", "", "directory of key files named by kid")
	cmd.MarkFlagsOneRequired("key", "key-dir")
	return cmd
}
