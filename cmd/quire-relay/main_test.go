package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"help", []string{"-h"}, 0, "", "usage: quire-relay"},
		{"version", []string{"--version"}, 0, "quire-relay ", ""},
		{"bad flag", []string{"-port", "1"}, 2, "", "flag provided but not defined: -port"},
		{"bad level", []string{"-log-level", "chatty"}, 2, "", "-log-level"},
		{"empty listen", []string{"-listen", ","}, 2, "", "-listen needs at least one address"},
		{"bad multiaddr", []string{"-data", "DATA", "-listen", "127.0.0.1:4001"}, 2, "", `listen address "127.0.0.1:4001"`},
		{"argument", []string{"now"}, 2, "", `unexpected argument "now"`},
		{"bad root", []string{"-data", "DATA", "-allow-root", "abcd"}, 2, "", `-allow-root "abcd": want a 64-digit hex`},
		{"zero quota", []string{"-data", "DATA", "-doc-quota", "0"}, 2, "", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "DATA", t.TempDir())
			}
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
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

func TestListenFlagForms(t *testing.T) {
	opts, code, done := parse([]string{
		"-data", "/d",
		"-listen", "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/udp/1/quic-v1",
		"-listen", "/ip4/127.0.0.1/tcp/2",
	}, func(string) string { return "" }, io.Discard, io.Discard)
	if code != 0 || done {
		t.Fatalf("parse = %d, %v", code, done)
	}
	want := "/ip4/127.0.0.1/tcp/1 /ip4/127.0.0.1/udp/1/quic-v1 /ip4/127.0.0.1/tcp/2"
	if got := strings.Join(opts.listen, " "); got != want {
		t.Errorf("listen = %q, want %q", got, want)
	}
}

// TestServeAndRestart runs the relay twice on loopback from one data
// directory: it prints its peer id and full addresses, stops cleanly when
// its context ends, and keeps its identity across the restart.
func TestServeAndRestart(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{"QUIRE_RELAY_DATA": dataDir}
	var ids []string
	for range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		outR, outW := io.Pipe()
		var stderr bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"-listen", "/ip4/127.0.0.1/tcp/0", "-log-level", "debug"},
				func(k string) string { return env[k] }, outW, &stderr)
			outW.Close()
		}()
		lines := bufio.NewScanner(outR)
		if !lines.Scan() {
			t.Fatalf("no output; stderr:\n%s", stderr.String())
		}
		id, ok := strings.CutPrefix(lines.Text(), "peer id: ")
		if !ok {
			t.Fatalf("first line %q, want the peer id", lines.Text())
		}
		if !lines.Scan() {
			t.Fatal("no address printed")
		}
		addr, err := ma.NewMultiaddr(strings.TrimPrefix(lines.Text(), "address: "))
		if err != nil {
			t.Fatalf("printed address: %v", err)
		}
		info, err := peer.AddrInfoFromP2pAddr(addr)
		if err != nil || info.ID.String() != id {
			t.Errorf("address %s does not end in /p2p/%s (%v)", addr, id, err)
		}
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "mailbox: on, relay key ") {
			t.Errorf("third line %q, want the mailbox's key", lines.Text())
		}
		if _, err := os.Stat(filepath.Join(dataDir, "mailbox")); err != nil {
			t.Errorf("mailbox database: %v", err)
		}
		cancel()
		go io.Copy(io.Discard, outR)
		if code := <-done; code != 0 {
			t.Fatalf("exit code %d after cancel; stderr:\n%s", code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "relay stopped") {
			t.Errorf("stderr lacks the clean shutdown message:\n%s", stderr.String())
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] {
		t.Errorf("peer id changed across restart: %s then %s", ids[0], ids[1])
	}
}
