package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The window itself is tested in package ui; these tests cover the command
// line up to the point where the window would open.
func TestParse(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "QUIRE_DATA": "/from/env"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantDone bool
		wantOut  string
		wantErr  string
		wantDir  string
	}{
		{name: "help", args: []string{"-h"}, wantDone: true, wantErr: "usage: quire [flags]"},
		{name: "version", args: []string{"--version"}, wantDone: true, wantOut: "quire "},
		{name: "bad flag", args: []string{"-nope"}, wantCode: 2, wantDone: true, wantErr: "flag provided but not defined: -nope"},
		{name: "bad level", args: []string{"-log-level=loud"}, wantCode: 2, wantDone: true, wantErr: "-log-level"},
		{name: "bad smoke", args: []string{"-smoke", "soon"}, wantCode: 2, wantDone: true, wantErr: "-smoke"},
		{name: "extra argument", args: []string{"notes.md"}, wantCode: 2, wantDone: true, wantErr: `unexpected argument "notes.md"`},
		{name: "env data dir", env: env, wantDir: "/from/env"},
		{name: "flag beats env", args: []string{"-data", "/flag"}, env: env, wantDir: "/flag"},
		{name: "default data dir", env: map[string]string{"HOME": "/home/u"}, wantDir: "/home/u/.local/share/quire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			opts, code, done := parse(tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if code != tt.wantCode || done != tt.wantDone {
				t.Fatalf("parse(%q) = %d, %v; want %d, %v (stderr %q)", tt.args, code, done, tt.wantCode, tt.wantDone, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
			if tt.wantDir != "" && opts.dataDir != filepath.FromSlash(tt.wantDir) {
				t.Errorf("data dir = %q, want %q", opts.dataDir, tt.wantDir)
			}
		})
	}
}

func TestDataDirChoice(t *testing.T) {
	cfg := t.TempDir()
	env := map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": cfg}
	getenv := func(k string) string { return env[k] }
	var stderr bytes.Buffer
	opts, _, done := parse(nil, getenv, &stderr, &stderr)
	if done || opts.dataDir != filepath.FromSlash("/home/u/.local/share/quire") {
		t.Fatalf("before a choice: data dir %q (done %v)", opts.dataDir, done)
	}
	if err := opts.saveDataDir("relative/dir"); err == nil {
		t.Error("a relative data directory was accepted")
	}
	chosen := filepath.Join(t.TempDir(), "notes")
	if err := opts.saveDataDir(chosen); err != nil {
		t.Fatal(err)
	}
	if opts, _, _ := parse(nil, getenv, &stderr, &stderr); opts.dataDir != chosen {
		t.Errorf("after the choice: data dir %q, want %q", opts.dataDir, chosen)
	}
	env["QUIRE_DATA"] = "/from/env"
	if opts, _, _ := parse(nil, getenv, &stderr, &stderr); opts.dataDir != "/from/env" {
		t.Errorf("QUIRE_DATA does not beat the choice: %q", opts.dataDir)
	}
	if opts, _, _ := parse([]string{"-data", "/flag"}, getenv, &stderr, &stderr); opts.dataDir != "/flag" {
		t.Errorf("-data does not beat the choice: %q", opts.dataDir)
	}
}

func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-bogus"}, func(string) string { return "" }, &stdout, &stderr); code != 2 {
		t.Errorf("run(-bogus) = %d, want 2", code)
	}
	// A data directory that cannot be created fails before any window opens.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"-data", filepath.Join(file, "x")}, func(string) string { return "" }, &stdout, &stderr); code != 1 {
		t.Errorf("run with unusable data dir = %d, want 1", code)
	}
}
