package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// Exit codes shared by every binary.
const (
	ExitOK    = 0 // success, or -h
	ExitError = 1 // the program ran and failed
	ExitUsage = 2 // bad flags or arguments
)

// Common holds the flags every binary accepts.
type Common struct {
	LogLevel slog.Level // -log-level
	Version  bool       // -version / --version
}

// AddCommon registers -log-level and -version on fs and returns where their
// values land after parsing. Called by each binary's main logic.
func AddCommon(fs *flag.FlagSet) *Common {
	c := &Common{}
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	return c
}

// NewFlagSet returns a flag set that reports errors instead of exiting,
// writes its messages to stderr and prints usage as
// "usage: name synopsis", the description, then the flags.
func NewFlagSet(name, synopsis, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s %s\n\n%s\n\nflags:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args into fs. It returns done=true with the exit code the
// caller must return when parsing ends the program: ExitOK after -h,
// ExitUsage (with the flag package's message and usage already printed)
// after a bad flag.
func Parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return ExitOK, false
	case errors.Is(err, flag.ErrHelp):
		return ExitOK, true
	default:
		return ExitUsage, true
	}
}

// Usagef prints a usage error for the program name to stderr and returns
// ExitUsage, for argument errors found after flag parsing.
func Usagef(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\nRun '%s -h' for usage.\n", name, fmt.Sprintf(format, args...), name)
	return ExitUsage
}

// Version returns the version of the running binary: the main module's
// version (or "devel"), the VCS revision when the build recorded one, and
// the Go version.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel " + runtime.Version()
	}
	return versionOf(info)
}

// versionOf formats info for Version.
func versionOf(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + modified
	}
	return v + " " + info.GoVersion
}

// NewLogger returns a text logger on w that drops records below level.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// ListFlag is a flag.Value for a list of strings that may be given as a
// comma-separated value, by repeating the flag, or both. The first Set
// replaces the default.
type ListFlag struct {
	Values []string
	set    bool
}

// String implements flag.Value.
func (l *ListFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.Values, ",")
}

// Set implements flag.Value.
func (l *ListFlag) Set(s string) error {
	if !l.set {
		l.Values, l.set = nil, true
	}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			l.Values = append(l.Values, part)
		}
	}
	return nil
}

// DataDir returns the default data directory for the application app: the
// value of the environment variable envVar when set, otherwise the
// platform's per-user data directory: $XDG_DATA_HOME/app or
// ~/.local/share/app on Linux and other Unix systems,
// ~/Library/Application Support/app on macOS, %LocalAppData%\app on Windows.
// getenv is os.Getenv in binaries and a map lookup in tests.
func DataDir(app, envVar string, getenv func(string) string) (string, error) {
	if dir := getenv(envVar); dir != "" {
		return dir, nil
	}
	switch runtime.GOOS {
	case "windows":
		if dir := getenv("LocalAppData"); dir != "" {
			return filepath.Join(dir, app), nil
		}
	case "darwin", "ios":
		dir, err := os.UserConfigDir() // ~/Library/Application Support
		if err == nil {
			return filepath.Join(dir, app), nil
		}
	default:
		if dir := getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
			return filepath.Join(dir, app), nil
		}
	}
	home := getenv("HOME")
	if home == "" {
		return "", fmt.Errorf("no data directory: set %s or HOME", envVar)
	}
	return filepath.Join(home, ".local", "share", app), nil
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM, and a stop
// function that releases the signal handler. A second signal after the
// first kills the process the default way, so a hung shutdown can still be
// interrupted.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore default handling for the next signal
	}()
	return ctx, stop
}
