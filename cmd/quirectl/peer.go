package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/cmd/internal/cli"
)

// peerCommand runs a headless peer.
func peerCommand() *command {
	type flags struct {
		dir     string
		listen  cli.ListFlag
		connect cli.ListFlag
		relays  cli.ListFlag
		lan     bool
	}
	return &command{
		name:     "peer",
		synopsis: "[-data DIR] [-listen ADDR]... [-connect ADDR]... [-relay ADDR]... [-lan=false]",
		summary:  "run a headless peer that keeps its documents in sync",
		detail: "Runs a peer on the data directory until interrupted: it finds peers on the\n" +
			"LAN by mDNS (unless -lan=false), dials the -connect multiaddrs and known\n" +
			"peers, and syncs every document it holds, also through the mailboxes of\n" +
			"the -relay multiaddrs and of the relays in its settings (every 30 s and\n" +
			"soon after a change). It prints its peer id and\n" +
			"addresses, one per line, as 'addr MULTIADDR' once listening. While it runs,\n" +
			"'quirectl doc -data DIR ...' talks to it through a control socket.\n" +
			"-listen defaults to every interface on random TCP and QUIC ports.",
		flags: func(fs *flag.FlagSet) any {
			f := &flags{}
			def, _ := cli.DataDir("quire", "QUIRE_DATA", os.Getenv)
			fs.StringVar(&f.dir, "data", def, "data `directory`")
			fs.Var(&f.listen, "listen", "listen `multiaddr` (repeatable, comma-separated)")
			fs.Var(&f.connect, "connect", "peer `multiaddr` to dial (repeatable)")
			fs.Var(&f.relays, "relay", "relay `multiaddr` (with /p2p/ id) whose mailbox to sync through (repeatable)")
			fs.BoolVar(&f.lan, "lan", true, "discover peers on the LAN with mDNS")
			return f
		},
		main: func(ctx context.Context, e env, v any, args []string) int {
			f := v.(*flags)
			if len(args) > 0 {
				return cli.Usagef(e.stderr, "quirectl peer", "unexpected argument %q", args[0])
			}
			for _, r := range f.relays.Values {
				if _, _, err := app.ParseRelay(r); err != nil {
					return cli.Usagef(e.stderr, "quirectl peer", "-relay: %v", err)
				}
			}
			nw := app.NewNetwork(app.NetConfig{Listen: f.listen.Values, MDNS: f.lan, Connect: f.connect.Values, Relays: f.relays.Values})
			p, err := app.Open(app.Config{Dir: f.dir, Logger: e.log, Network: nw})
			if err != nil {
				fmt.Fprintln(e.stderr, "quirectl peer:", err)
				return cli.ExitError
			}
			defer p.Close()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			errc := make(chan error, 2)
			go func() { errc <- p.Run(ctx) }()
			select {
			case <-nw.Ready():
			case err := <-errc:
				fmt.Fprintln(e.stderr, "quirectl peer:", err)
				return cli.ExitError
			}
			fmt.Fprintf(e.stdout, "peer %s\nkey %s\n", nw.Node().ID(), p.Key())
			for _, a := range nw.Addrs() {
				fmt.Fprintf(e.stdout, "addr %s\n", a)
			}
			go func() {
				errc <- serveControl(ctx, f.dir, p, nw, func(msg string, kv ...any) { e.log.Warn(msg, kv...) })
			}()
			// Keep every document open, so each stays on the network.
			list, err := p.List()
			if err != nil {
				fmt.Fprintln(e.stderr, "quirectl peer:", err)
				return cli.ExitError
			}
			var ids []string
			for _, d := range list {
				doc, err := p.Open(d.ID)
				if err != nil {
					e.log.Warn("open document", "doc", d.ID, "err", err)
					continue
				}
				defer doc.Close()
				ids = append(ids, d.ID.String())
			}
			fmt.Fprintf(e.stdout, "ready %d documents %s\n", len(ids), strings.Join(ids, " "))
			if err := <-errc; err != nil && ctx.Err() == nil {
				fmt.Fprintln(e.stderr, "quirectl peer:", err)
				return cli.ExitError
			}
			return cli.ExitOK
		},
	}
}
