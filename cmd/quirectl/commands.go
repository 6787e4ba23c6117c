package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/quire-dev/quire/cmd/internal/cli"
)

// env is what a subcommand gets from the dispatcher.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger // at the level of the global -log-level flag
}

// command is one quirectl subcommand. To add one, write a command value
// and list it in commands.
type command struct {
	name     string
	synopsis string // arguments after the name, for usage lines
	summary  string // one line for the command list
	detail   string // paragraph for "quirectl help name"
	// flags registers the command's own flags; nil for none.
	flags func(fs *flag.FlagSet) any
	// main runs the command with the value flags returned and the
	// remaining arguments, and returns an exit code.
	main func(ctx context.Context, e env, flags any, args []string) int
}

// commandList returns every subcommand in the order "help" shows them.
// Add new commands here.
func commandList() []*command {
	return []*command{helpCommand(), versionCommand(), peerCommand(), docCommand(), tokenCommand(), withStoreBench(benchCommand()), storeCommand()}
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commandList() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// newFlagSet returns c's flag set, writing usage to stderr.
func (c *command) newFlagSet(stderr io.Writer) (*flag.FlagSet, any) {
	fs := cli.NewFlagSet("quirectl "+c.name, c.synopsis, c.summary+"\n\n"+c.detail, stderr)
	var v any
	if c.flags != nil {
		v = c.flags(fs)
	}
	return fs, v
}

// run parses c's flags from args and runs it.
func (c *command) run(ctx context.Context, e env, args []string) int {
	fs, v := c.newFlagSet(e.stderr)
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	return c.main(ctx, e, v, fs.Args())
}

// topUsage is the description in "quirectl -h": the command list.
func topUsage() string {
	var b strings.Builder
	b.WriteString("quirectl is Quire's headless tool.\n\ncommands:\n")
	for _, c := range commandList() {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'quirectl help <command>' for a command's flags.")
	return b.String()
}

func helpCommand() *command {
	return &command{
		name:     "help",
		synopsis: "[command]",
		summary:  "show help for quirectl or one of its commands",
		detail:   "With no argument, lists the commands.",
		main: func(_ context.Context, e env, _ any, args []string) int {
			switch len(args) {
			case 0:
				fmt.Fprintf(e.stdout, "usage: quirectl [flags] <command> [command flags] [args]\n\n%s\n", topUsage())
				return cli.ExitOK
			case 1:
				c := lookup(args[0])
				if c == nil {
					return cli.Usagef(e.stderr, "quirectl help", "unknown command %q", args[0])
				}
				fs, _ := c.newFlagSet(e.stdout)
				fs.SetOutput(e.stdout)
				fs.Usage()
				return cli.ExitOK
			default:
				return cli.Usagef(e.stderr, "quirectl help", "want at most one command, got %d", len(args))
			}
		},
	}
}

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print quirectl's version",
		detail:  "Prints the module version, VCS revision (when recorded) and Go version.",
		main: func(_ context.Context, e env, _ any, args []string) int {
			if len(args) > 0 {
				return cli.Usagef(e.stderr, "quirectl version", "unexpected argument %q", args[0])
			}
			fmt.Fprintln(e.stdout, "quirectl", cli.Version())
			return cli.ExitOK
		},
	}
}
