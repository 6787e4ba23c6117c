// Command quire is Quire's desktop editor: a window listing the documents
// in a data directory beside an editor for the open one. What you type is
// saved as you type and reopens after a restart.
//
// Usage:
//
//	quire [-data DIR] [-listen ADDR]... [-connect ADDR]... [-relay ADDR]... [-offline] [-log-level LEVEL] [-smoke DURATION]
//
// The data directory is -data if given, else $QUIRE_DATA, else the one
// chosen in the editor's settings (stored in the file data-dir in the
// platform's per-user config directory, $XDG_CONFIG_HOME/quire or
// ~/.config/quire on Linux), else the platform's per-user data directory
// ($XDG_DATA_HOME/quire or ~/.local/share/quire on Linux).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/ui"
)

const description = `Quire is a local-first collaborative Markdown editor. This opens its
desktop window on the documents in the data directory.

environment:
  QUIRE_DATA   data directory, unless -data is given`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options are quire's parsed command line.
type options struct {
	dataDir string
	listen  cli.ListFlag
	connect cli.ListFlag
	relays  cli.ListFlag
	offline bool
	smoke   time.Duration
	log     *slog.Logger
	// choice is the file holding the data directory chosen in settings
	// ("" if there is no config directory).
	choice string
}

// saveDataDir stores dir as the data directory for the next start.
func (o options) saveDataDir(dir string) error {
	if o.choice == "" {
		return errors.New("no config directory to remember the data directory in: use -data or QUIRE_DATA")
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("data directory %q is not an absolute path", dir)
	}
	if err := os.MkdirAll(filepath.Dir(o.choice), 0o700); err != nil {
		return err
	}
	tmp := o.choice + ".tmp"
	if err := os.WriteFile(tmp, []byte(dir+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, o.choice)
}

// choiceFile returns where the data directory chosen in settings is kept.
func choiceFile(getenv func(string) string) string {
	if dir := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "quire", "data-dir")
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "freebsd" || runtime.GOOS == "openbsd" {
		if home := getenv("HOME"); home != "" {
			return filepath.Join(home, ".config", "quire", "data-dir")
		}
		return ""
	}
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "quire", "data-dir")
	}
	return ""
}

// readChoice returns the data directory stored in file, or "".
func readChoice(file string) string {
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	if dir := strings.TrimSpace(string(b)); filepath.IsAbs(dir) {
		return dir
	}
	return ""
}

// parse reads quire's flags. done reports that the program must exit with
// code, having printed what it had to.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (opts options, code int, done bool) {
	fs := cli.NewFlagSet("quire", "[flags]", description, stderr)
	common := cli.AddCommon(fs)
	fs.StringVar(&opts.dataDir, "data", "", "data `directory` (default $QUIRE_DATA or the platform's user data directory)")
	fs.Var(&opts.listen, "listen", "libp2p listen `multiaddr`s (repeatable; default every interface, random ports)")
	fs.Var(&opts.connect, "connect", "peer `multiaddr` (with /p2p/ id) to dial at start (repeatable)")
	fs.Var(&opts.relays, "relay", "relay `multiaddr` (with /p2p/ id) whose mailbox to sync through, besides those in settings (repeatable)")
	fs.BoolVar(&opts.offline, "offline", false, "no network: edit on this device only")
	fs.DurationVar(&opts.smoke, "smoke", 0, "open the window, wait this `long`, and exit 0 (for CI)")
	if code, done := cli.Parse(fs, args); done {
		return opts, code, true
	}
	if common.Version {
		fmt.Fprintln(stdout, "quire", cli.Version())
		return opts, cli.ExitOK, true
	}
	if fs.NArg() > 0 {
		return opts, cli.Usagef(stderr, "quire", "unexpected argument %q", fs.Arg(0)), true
	}
	if opts.smoke < 0 {
		return opts, cli.Usagef(stderr, "quire", "-smoke must not be negative"), true
	}
	for _, r := range opts.relays.Values {
		if _, _, err := app.ParseRelay(r); err != nil {
			return opts, cli.Usagef(stderr, "quire", "-relay: %v", err), true
		}
	}
	opts.choice = choiceFile(getenv)
	if opts.dataDir == "" && getenv("QUIRE_DATA") == "" {
		opts.dataDir = readChoice(opts.choice)
	}
	if opts.dataDir == "" {
		dir, err := cli.DataDir("quire", "QUIRE_DATA", getenv)
		if err != nil {
			fmt.Fprintln(stderr, "quire:", err)
			return opts, cli.ExitError, true
		}
		opts.dataDir = dir
	}
	opts.log = cli.NewLogger(stderr, common.LogLevel)
	return opts, cli.ExitOK, false
}

// run is quire's main logic, returning the process exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, code, done := parse(args, getenv, stdout, stderr)
	if done {
		return code
	}
	nw := app.NewNetwork(app.NetConfig{Listen: opts.listen.Values, Connect: opts.connect.Values, Relays: opts.relays.Values, MDNS: !opts.offline})
	cfg := app.Config{Dir: opts.dataDir, Logger: opts.log, Network: nw}
	if opts.offline {
		cfg.Network = nil
	}
	peer, err := app.Open(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "quire:", err)
		return cli.ExitError
	}
	opts.log.Info("quire starting", "version", cli.Version(), "data", opts.dataDir, "device", peer.Fingerprint())

	ctx, stop := cli.SignalContext(context.Background())
	defer stop()
	if opts.smoke > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.smoke)
		defer cancel()
	}
	runCtx, stopPeer := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- peer.Run(runCtx) }()
	if !opts.offline {
		go func() {
			select {
			case <-nw.Ready():
				opts.log.Info("network running", "addrs", nw.Addrs())
			case <-runCtx.Done():
			}
		}()
	}

	uiOpts := ui.Options{DataDir: opts.dataDir, Log: opts.log, SetDataDir: opts.saveDataDir}
	if !opts.offline {
		uiOpts.Network = nw
	}
	// finish stops the peer and saves, once, whichever of the normal
	// return and the stuck-window watchdog gets there first.
	var (
		finished sync.Once
		exitCode int
	)
	finish := func() int {
		finished.Do(func() {
			stopPeer()
			if err := <-ran; err != nil {
				opts.log.Warn("network stopped with an error", "err", err)
			}
			if err := peer.Close(); err != nil {
				fmt.Fprintln(stderr, "quire: saving on exit:", err)
				exitCode = cli.ExitError
				return
			}
			opts.log.Info("quire stopped")
			exitCode = cli.ExitOK
		})
		return exitCode
	}
	uiOpts.Stuck = func() { os.Exit(finish()) } // Fyne hung on quit: save and exit anyway
	ui.Run(ctx, peer, uiOpts)                   // returns when the window closes or ctx ends
	return finish()
}
