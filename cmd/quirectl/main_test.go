package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"no command", nil, 2, "", "usage: quirectl"},
		{"top help flag", []string{"-h"}, 0, "", "commands:\n  help"},
		{"help", []string{"help"}, 0, "version    print quirectl's version", ""},
		{"help for command", []string{"help", "version"}, 0, "usage: quirectl version", ""},
		{"help for unknown", []string{"help", "frob"}, 2, "", `unknown command "frob"`},
		{"help too many", []string{"help", "a", "b"}, 2, "", "at most one command"},
		{"version", []string{"version"}, 0, "quirectl ", ""},
		{"double dash version", []string{"--version"}, 0, "quirectl ", ""},
		{"version flag help", []string{"version", "-h"}, 0, "", "usage: quirectl version"},
		{"version extra", []string{"version", "x"}, 2, "", `unexpected argument "x"`},
		{"version bad flag", []string{"version", "-x"}, 2, "", "flag provided but not defined: -x"},
		{"unknown command", []string{"frob"}, 2, "", `quirectl: unknown command "frob"`},
		{"bad global flag", []string{"-log-level", "shout", "version"}, 2, "", "-log-level"},
		{"global flag then command", []string{"-log-level", "debug", "version"}, 0, "quirectl ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}
