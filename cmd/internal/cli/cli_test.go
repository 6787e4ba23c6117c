package cli

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantDone bool
		wantErr  string
	}{
		{"no flags", nil, ExitOK, false, ""},
		{"help", []string{"-h"}, ExitOK, true, "usage: prog"},
		{"double dash version", []string{"--version"}, ExitOK, false, ""},
		{"unknown flag", []string{"-bogus"}, ExitUsage, true, "flag provided but not defined: -bogus"},
		{"bad level", []string{"-log-level", "loud"}, ExitUsage, true, `invalid value "loud" for flag -log-level`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			fs := NewFlagSet("prog", "[flags]", "Prog does things.", &stderr)
			AddCommon(fs)
			code, done := Parse(fs, tt.args)
			if code != tt.wantCode || done != tt.wantDone {
				t.Errorf("Parse(%q) = %d, %v; want %d, %v", tt.args, code, done, tt.wantCode, tt.wantDone)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	var stderr, logs bytes.Buffer
	fs := NewFlagSet("prog", "", "", &stderr)
	c := AddCommon(fs)
	if _, done := Parse(fs, []string{"-log-level", "warn"}); done {
		t.Fatalf("Parse failed: %s", stderr.String())
	}
	log := NewLogger(&logs, c.LogLevel)
	log.Info("hidden")
	log.Warn("shown")
	if got := logs.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "shown") {
		t.Errorf("logs = %q, want only the warning", got)
	}
	if c.LogLevel != slog.LevelWarn {
		t.Errorf("level = %v, want WARN", c.LogLevel)
	}
}

func TestListFlag(t *testing.T) {
	l := &ListFlag{Values: []string{"default"}}
	for _, s := range []string{"a,b", " c ", ""} {
		if err := l.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := l.String(), "a,b,c"; got != want {
		t.Errorf("list = %q, want %q", got, want)
	}
}

func TestVersionOf(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8"}
	info.Main.Version = "(devel)"
	if got, want := versionOf(info), "devel go1.26.8"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
	info.Main.Version = "v1.2.3"
	info.Settings = []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"},
		{Key: "vcs.modified", Value: "true"},
	}
	if got, want := versionOf(info), "v1.2.3 0123456789ab+dirty go1.26.8"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
	if Version() == "" {
		t.Error("Version is empty")
	}
}

func TestDataDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("platform rules tested on Linux")
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"override", map[string]string{"QUIRE_DATA": "/x", "HOME": "/home/u"}, "/x"},
		{"xdg", map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/quire"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "rel", "HOME": "/home/u"}, "/home/u/.local/share/quire"},
		{"home", map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/quire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DataDir("quire", "QUIRE_DATA", func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.FromSlash(tt.want) {
				t.Errorf("DataDir = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := DataDir("quire", "QUIRE_DATA", func(string) string { return "" }); err == nil {
		t.Error("DataDir with no HOME succeeded")
	}
}
