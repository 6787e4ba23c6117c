// Command quirectl is Quire's headless tool: it will run a peer on a LAN
// box, inspect documents, issue and inspect tokens and replay editing
// traces. Each task is a subcommand with its own flags.
//
// Usage:
//
//	quirectl [-log-level LEVEL] <command> [flags] [args]
//	quirectl help [command]
package main

import (
	"context"
	"io"
	"os"

	"github.com/quire-dev/quire/cmd/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is quirectl's main logic: global flags, then one subcommand. It
// returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("quirectl", "[flags] <command> [command flags] [args]", topUsage(), stderr)
	common := cli.AddCommon(fs)
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if common.Version {
		return versionCommand().run(ctx, env{stdout: stdout, stderr: stderr}, nil)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return cli.ExitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	c := lookup(name)
	if c == nil {
		return cli.Usagef(stderr, "quirectl", "unknown command %q", name)
	}
	e := env{stdout: stdout, stderr: stderr, log: cli.NewLogger(stderr, common.LogLevel)}
	return c.run(ctx, e, rest)
}
