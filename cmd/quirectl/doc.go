package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// controlSocket is the name of a running peer's control socket in its data
// directory. quirectl doc commands use it when a peer runs there (the
// store allows one process), else they open the data directory themselves.
const controlSocket = "quirectl.sock"

// maxRequest bounds one control request (an edit's text included).
const maxRequest = 8 << 20

// request is one control call: a doc subcommand and its arguments.
type request struct {
	Args  []string `json:"args"`
	Stdin string   `json:"stdin,omitempty"`
}

// response is its result.
type response struct {
	Out  string `json:"out"`
	Err  string `json:"err,omitempty"`
	Code int    `json:"code"`
}

func docCommand() *command {
	type flags struct{ dir string }
	return &command{
		name:     "doc",
		synopsis: "[-data DIR] new [TITLE] | ls | show DOC | edit DOC OP... | status DOC | invite DOC RIGHTS [TTL] | join LINK | revoke DOC KEY | members DOC | quarantine DOC | wait DOC PEER [TIMEOUT] | peers | connect ADDR",
		summary:  "create, list, show and edit documents; share them; watch sync",
		detail: "Runs against the peer running on the data directory (quirectl peer), through\n" +
			"its control socket, or opens the directory itself when no peer runs there.\n\n" +
			"  new [TITLE]            create a document; prints its id\n" +
			"  ls                     list documents: id, rights, title\n" +
			"  show DOC               print the text\n" +
			"  edit DOC insert POS TEXT | delete POS N | append\n" +
			"                         edit (positions in code points); append reads stdin\n" +
			"  status DOC             sync status as JSON\n" +
			"  invite DOC RIGHTS [TTL]  print an invite link (rights read|comment|write|admin; TTL default 24h)\n" +
			"  join LINK              accept an invite link; prints the document id\n" +
			"  revoke DOC KEY         revoke a device (hex key, see members)\n" +
			"  members DOC            devices with access: key, rights, state\n" +
			"  quarantine DOC         changes this device refused: hash, author, reason\n" +
			"  wait DOC PEER [TIMEOUT]  wait until this peer and PEER (peer id) hold the same\n" +
			"                         version of DOC (default timeout 30s); exit 1 on timeout\n" +
			"  peers                  connected peers (needs a running peer)\n" +
			"  connect ADDR           dial a peer by multiaddr (needs a running peer)",
		flags: func(fs *flag.FlagSet) any {
			f := &flags{}
			def, _ := cli.DataDir("quire", "QUIRE_DATA", os.Getenv)
			fs.StringVar(&f.dir, "data", def, "data `directory`")
			return f
		},
		main: func(ctx context.Context, e env, v any, args []string) int {
			f := v.(*flags)
			if len(args) == 0 {
				return cli.Usagef(e.stderr, "quirectl doc", "want a subcommand; see quirectl help doc")
			}
			req := request{Args: args}
			if args[0] == "edit" && len(args) >= 3 && args[2] == "append" {
				b, err := io.ReadAll(io.LimitReader(os.Stdin, maxRequest))
				if err != nil {
					fmt.Fprintln(e.stderr, "quirectl doc:", err)
					return cli.ExitError
				}
				req.Stdin = string(b)
			}
			resp, err := callPeer(ctx, f.dir, req)
			if errors.Is(err, errNoPeer) {
				resp = runLocal(ctx, f.dir, e, req)
			} else if err != nil {
				fmt.Fprintln(e.stderr, "quirectl doc:", err)
				return cli.ExitError
			}
			fmt.Fprint(e.stdout, resp.Out)
			if resp.Err != "" {
				fmt.Fprintln(e.stderr, "quirectl doc:", resp.Err)
			}
			return resp.Code
		},
	}
}

var errNoPeer = errors.New("no peer runs on this data directory")

// callPeer sends req to the peer running on dir.
func callPeer(ctx context.Context, dir string, req request) (response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, controlSocket))
	if err != nil {
		return response{}, errNoPeer
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return response{}, err
	}
	var resp response
	if err := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&resp); err != nil {
		return response{}, fmt.Errorf("peer's reply: %w", err)
	}
	return resp, nil
}

// runLocal opens dir offline and runs req.
func runLocal(ctx context.Context, dir string, e env, req request) response {
	p, err := app.Open(app.Config{Dir: dir, Logger: e.log})
	if err != nil {
		return response{Err: err.Error(), Code: cli.ExitError}
	}
	defer p.Close()
	return execute(ctx, p, nil, req)
}

// serveControl answers control requests on dir's socket until ctx ends.
func serveControl(ctx context.Context, dir string, p *app.Peer, nw *app.P2P, log func(string, ...any)) error {
	path := filepath.Join(dir, controlSocket)
	_ = os.Remove(path) // a stale socket from a crash; the store's lock says no peer runs
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer os.Remove(path)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			defer conn.Close()
			var req request
			if err := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&req); err != nil {
				log("bad control request", "err", err)
				return
			}
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			resp := execute(cctx, p, nw, req)
			_ = json.NewEncoder(conn).Encode(resp)
		}()
	}
}

// execute runs one doc subcommand on p (nw is nil offline).
func execute(ctx context.Context, p *app.Peer, nw *app.P2P, req request) response {
	var out strings.Builder
	fail := func(code int, format string, args ...any) response {
		return response{Out: out.String(), Err: fmt.Sprintf(format, args...), Code: code}
	}
	args := req.Args
	need := func(n int) bool { return len(args) >= n }
	docArg := func() (*app.Doc, error) {
		id, err := crdt.ParseDocID(args[1])
		if err != nil {
			return nil, err
		}
		return p.Open(id)
	}
	switch args[0] {
	case "new":
		id, err := p.Create(strings.Join(args[1:], " "))
		if err != nil {
			return fail(cli.ExitError, "%v", err)
		}
		keepOpen(p, nw, id)
		fmt.Fprintln(&out, id)
	case "ls":
		list, err := p.List()
		if err != nil {
			return fail(cli.ExitError, "%v", err)
		}
		for _, d := range list {
			fmt.Fprintf(&out, "%s\t%s\t%s\n", d.ID, d.Rights, d.Title)
		}
	case "quarantine":
		if !need(2) {
			return fail(cli.ExitUsage, "quarantine: want a document id")
		}
		id, err := crdt.ParseDocID(args[1])
		if err != nil {
			return fail(cli.ExitError, "%v", err)
		}
		rs, err := p.Quarantined(id)
		if err != nil {
			return fail(cli.ExitError, "%v", err)
		}
		for _, r := range rs {
			fmt.Fprintf(&out, "%s\t%s\t%s\n", r.Change, r.Author, r.Reason)
		}
	case "show", "status", "members", "edit", "invite", "revoke", "wait":
		if !need(2) {
			return fail(cli.ExitUsage, "%s: want a document id", args[0])
		}
		d, err := docArg()
		if err != nil {
			return fail(cli.ExitError, "%v", err)
		}
		defer d.Close()
		if err := docSub(ctx, p, nw, d, args, req.Stdin, &out); err != nil {
			code := cli.ExitError
			if errors.Is(err, errUsage) {
				code = cli.ExitUsage
			}
			return fail(code, "%v", err)
		}
	case "join":
		if !need(2) {
			return fail(cli.ExitUsage, "join: want an invite link")
		}
		id, err := p.Join(args[1])
		if err != nil {
			return fail(cli.ExitError, "%v", err)
		}
		keepOpen(p, nw, id)
		fmt.Fprintln(&out, id)
	case "peers":
		if nw == nil {
			return fail(cli.ExitError, "peers: no peer runs on this data directory (start quirectl peer)")
		}
		for _, pi := range nw.Peers() {
			fmt.Fprintf(&out, "%s\t%s\t%s\n", pi.ID, pi.Via, strings.Join(pi.Addrs, ","))
		}
	case "connect":
		if nw == nil {
			return fail(cli.ExitError, "connect: no peer runs on this data directory (start quirectl peer)")
		}
		if !need(2) {
			return fail(cli.ExitUsage, "connect: want a multiaddr")
		}
		if err := nw.Connect(ctx, args[1]); err != nil {
			return fail(cli.ExitError, "%v", err)
		}
	default:
		return fail(cli.ExitUsage, "unknown subcommand %q; see quirectl help doc", args[0])
	}
	return response{Out: out.String()}
}

var errUsage = errors.New("usage")

// keepOpen opens a new document on a running peer and leaves it open, so
// that it is on the network until the peer stops.
func keepOpen(p *app.Peer, nw *app.P2P, id crdt.DocID) {
	if nw == nil {
		return
	}
	if _, err := p.Open(id); err == nil {
		nw.Refresh()
	}
}

// docSub runs the subcommands that take a document.
func docSub(ctx context.Context, p *app.Peer, nw *app.P2P, d *app.Doc, args []string, stdin string, out io.Writer) error {
	switch args[0] {
	case "show":
		s, _, err := d.Text()
		if err != nil {
			return err
		}
		fmt.Fprint(out, s)
	case "status":
		b, err := json.MarshalIndent(d.Status(), "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", b)
	case "members":
		for _, m := range d.Members() {
			state := "ok"
			if m.Revoked {
				state = "revoked"
			}
			if m.Self {
				state += " (this device)"
			}
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", m.Key.String(), m.Fingerprint, m.Rights, state)
		}
	case "edit":
		if len(args) < 3 {
			return fmt.Errorf("edit: want insert, delete or append: %w", errUsage)
		}
		var err error
		switch args[2] {
		case "insert":
			if len(args) != 5 {
				return fmt.Errorf("edit insert: want POS TEXT: %w", errUsage)
			}
			pos, perr := strconv.Atoi(args[3])
			if perr != nil {
				return fmt.Errorf("edit insert: position %q: %w", args[3], errUsage)
			}
			err = d.Edit(pos, 0, args[4])
		case "delete":
			if len(args) != 5 {
				return fmt.Errorf("edit delete: want POS N: %w", errUsage)
			}
			pos, e1 := strconv.Atoi(args[3])
			n, e2 := strconv.Atoi(args[4])
			if e1 != nil || e2 != nil {
				return fmt.Errorf("edit delete: POS and N must be numbers: %w", errUsage)
			}
			err = d.Edit(pos, n, "")
		case "append":
			var n int
			if n, err = d.Len(); err == nil {
				err = d.Edit(n, 0, stdin)
			}
		default:
			return fmt.Errorf("edit: unknown operation %q: %w", args[2], errUsage)
		}
		if err != nil {
			return err
		}
		return d.Flush()
	case "invite":
		if len(args) < 3 {
			return fmt.Errorf("invite: want RIGHTS [TTL]: %w", errUsage)
		}
		rights, err := access.ParseRights(args[2])
		if err != nil {
			return err
		}
		ttl := 24 * time.Hour
		if len(args) > 3 {
			if ttl, err = time.ParseDuration(args[3]); err != nil || ttl <= 0 {
				return fmt.Errorf("invite: TTL %q: %w", args[3], errUsage)
			}
		}
		link, err := d.Invite(rights, time.Now().Add(ttl))
		if err != nil {
			return err
		}
		fmt.Fprintln(out, link)
	case "revoke":
		if len(args) != 3 {
			return fmt.Errorf("revoke: want KEY: %w", errUsage)
		}
		k, err := readPublicKey(args[2])
		if err != nil {
			return err
		}
		return d.RevokeKey(k)
	case "wait":
		if nw == nil {
			return errors.New("wait: no peer runs on this data directory (start quirectl peer)")
		}
		if len(args) < 3 {
			return fmt.Errorf("wait: want PEER: %w", errUsage)
		}
		timeout := 30 * time.Second
		if len(args) > 3 {
			var err error
			if timeout, err = time.ParseDuration(args[3]); err != nil {
				return fmt.Errorf("wait: timeout %q: %w", args[3], errUsage)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return nw.WaitConverged(ctx, d, args[2])
	}
	return nil
}
