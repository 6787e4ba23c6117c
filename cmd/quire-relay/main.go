// Command quire-relay runs a Quire relay: a libp2p host that Quire peers
// dial to reach each other through circuit relay v2, and a mailbox that
// keeps the end-to-end encrypted changes of the documents whose members
// gave it a relay token, for members that are offline. It keeps a persistent
// Ed25519 identity in its data directory, so its peer id and addresses stay
// the same across restarts, prints them at start, and shuts down cleanly on
// SIGINT or SIGTERM.
//
// Usage:
//
//	quire-relay [-listen MULTIADDR[,MULTIADDR...]]... [-data DIR] [-mailbox=false]
//	            [-doc-quota MiB] [-total-quota GiB] [-max-docs N] [-retention DURATION]
//	            [-allow-root KEY]... [-log-level LEVEL]
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/relay"
	"github.com/quire-dev/quire/store"
)

const description = `quire-relay relays connections between Quire peers that cannot reach
each other directly, and keeps their encrypted changes for peers that are
offline. Give other peers one of the addresses it prints; to use its mailbox
for a document, an admin of the document gives it a relay token for the key
it prints.

environment:
  QUIRE_RELAY_DATA   data directory, unless -data is given`

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are quire-relay's parsed command line.
type options struct {
	listen  []string
	dataDir string
	level   slog.Level
	mailbox bool
	mbox    relay.MailboxConfig
}

// parse reads quire-relay's flags. done reports that the program must exit
// with code, having printed what it had to.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (opts options, code int, done bool) {
	fs := cli.NewFlagSet("quire-relay", "[flags]", description, stderr)
	common := cli.AddCommon(fs)
	listen := &cli.ListFlag{Values: relay.DefaultListenAddrs}
	fs.Var(listen, "listen", "`multiaddrs` to listen on, comma-separated or repeated")
	fs.StringVar(&opts.dataDir, "data", "", "data `directory` holding the identity key and the mailbox (default $QUIRE_RELAY_DATA or the platform's user data directory)")
	fs.BoolVar(&opts.mailbox, "mailbox", true, "keep members' encrypted changes for peers that are offline")
	quota := fs.Int64("doc-quota", relay.DefaultDocQuota>>20, "`MiB` of encrypted changes the mailbox keeps per document")
	total := fs.Int64("total-quota", relay.DefaultMaxBytes>>30, "`GiB` of encrypted changes the mailbox keeps in all")
	fs.IntVar(&opts.mbox.MaxDocs, "max-docs", relay.DefaultMaxDocs, "`documents` the mailbox serves at most")
	fs.DurationVar(&opts.mbox.Retention, "retention", relay.DefaultRetention, "how long the mailbox keeps a change")
	roots := &cli.ListFlag{}
	fs.Var(roots, "allow-root", "serve only documents owned by these `keys` (hex Ed25519, comma-separated or repeated); default any document whose members give this relay a relay token")
	if code, done := cli.Parse(fs, args); done {
		return opts, code, true
	}
	if common.Version {
		fmt.Fprintln(stdout, "quire-relay", cli.Version())
		return opts, cli.ExitOK, true
	}
	if fs.NArg() > 0 {
		return opts, cli.Usagef(stderr, "quire-relay", "unexpected argument %q", fs.Arg(0)), true
	}
	if len(listen.Values) == 0 {
		return opts, cli.Usagef(stderr, "quire-relay", "-listen needs at least one address"), true
	}
	if opts.dataDir == "" {
		dir, err := cli.DataDir("quire-relay", "QUIRE_RELAY_DATA", getenv)
		if err != nil {
			fmt.Fprintln(stderr, "quire-relay:", err)
			return opts, cli.ExitError, true
		}
		opts.dataDir = dir
	}
	if *quota <= 0 || *total <= 0 || opts.mbox.MaxDocs <= 0 || opts.mbox.Retention <= 0 {
		return opts, cli.Usagef(stderr, "quire-relay", "-doc-quota, -total-quota, -max-docs and -retention must be positive"), true
	}
	opts.mbox.DocQuota, opts.mbox.MaxBytes = *quota<<20, *total<<30
	for _, r := range roots.Values {
		b, err := hex.DecodeString(r)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return opts, cli.Usagef(stderr, "quire-relay", "-allow-root %q: want a 64-digit hex Ed25519 public key", r), true
		}
		opts.mbox.Roots = append(opts.mbox.Roots, access.Key(b))
	}
	opts.listen, opts.level = listen.Values, common.LogLevel
	return opts, cli.ExitOK, false
}

// run is quire-relay's main logic: it serves until ctx is cancelled and
// returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, code, done := parse(args, getenv, stdout, stderr)
	if done {
		return code
	}
	log := cli.NewLogger(stderr, opts.level)
	p2p.RouteLibp2pLogs(log.Handler())
	key, err := store.LoadOrCreateIdentity(opts.dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "quire-relay:", err)
		return cli.ExitError
	}
	cfg := relay.Config{ListenAddrs: opts.listen, PrivateKey: key, Logger: log, Mailbox: opts.mbox}
	if opts.mailbox {
		cfg.DataDir = opts.dataDir
	}
	srv, err := relay.New(cfg)
	if err != nil {
		return cli.Usagef(stderr, "quire-relay", "%v", err)
	}
	log.Info("quire-relay starting", "version", cli.Version(), "data", opts.dataDir)
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
		var b strings.Builder
		fmt.Fprintf(&b, "peer id: %s\n", srv.ID())
		for _, a := range srv.Addrs() {
			fmt.Fprintf(&b, "address: %s\n", a)
		}
		if opts.mailbox {
			fmt.Fprintf(&b, "mailbox: on, relay key %s\n", access.PublicKeyOf(key))
		}
		io.WriteString(stdout, b.String())
	case err := <-served:
		fmt.Fprintln(stderr, "quire-relay:", err)
		return cli.ExitError
	}
	if err := <-served; err != nil {
		fmt.Fprintln(stderr, "quire-relay:", err)
		return cli.ExitError
	}
	return cli.ExitOK
}
