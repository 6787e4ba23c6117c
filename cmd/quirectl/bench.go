package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/crdt/trace"
)

func benchCommand() *command {
	return &command{
		name:     "bench",
		synopsis: "trace [-runs N] FILE.json.gz... | sync [-runs N] [-keys N] [-rate R] [-trace FILE]",
		summary:  "measure the CRDT on editing traces",
		detail: "bench trace replays each editing trace (the editing-traces JSON format, gzipped)\n" +
			"and prints one JSON object per trace: replay_ms, merge_ms, stream_ms, load_ms\n" +
			"(medians of -runs runs), encoded_bytes, stream_encoded_bytes, heap_bytes and\n" +
			"final_ok. For sequential traces it also seals one signed change per txn and\n" +
			"prints signed_encoded_bytes (the encoding with its retained signatures),\n" +
			"verified_decode_ms (a fresh replica verifying every change's authorship),\n" +
			"verify_ms (the part of that beyond a trusted load) and seal_sign_us (one\n" +
			"seal with its signature). Exits 1 if any trace does not reach its endContent.\n\n" +
			"bench sync runs real peers (store, signatures, capability checks, libp2p on\n" +
			"127.0.0.1) and prints JSON lines: keystroke-to-applied latency (p50_ms,\n" +
			"p99_ms) for 2 peers (one typing) and for 10 peers all typing at -rate keys/s,\n" +
			"and the time and wire bytes for a fresh peer to catch up the -trace history\n" +
			"(typed into a peer with a change sealed every 100 patches).",
		main: func(ctx context.Context, e env, _ any, args []string) int {
			if len(args) >= 1 && args[0] == "sync" {
				return benchSync(ctx, e, args[1:])
			}
			if len(args) < 1 || args[0] != "trace" {
				return cli.Usagef(e.stderr, "quirectl bench", "want: trace [-runs N] FILE.json.gz... | sync [flags]")
			}
			fs := cli.NewFlagSet("quirectl bench trace", "[-runs N] FILE.json.gz...", "Replays editing traces and prints their figures as JSON lines.", e.stderr)
			runs := fs.Int("runs", 5, "runs per figure; times are medians")
			if code, done := cli.Parse(fs, args[1:]); done {
				return code
			}
			args = fs.Args()
			if len(args) == 0 {
				return cli.Usagef(e.stderr, "quirectl bench trace", "want at least one trace file")
			}
			if *runs < 1 {
				return cli.Usagef(e.stderr, "quirectl bench trace", "-runs must be at least 1")
			}
			code := cli.ExitOK
			enc := json.NewEncoder(e.stdout)
			for _, path := range args {
				t, err := trace.Load(path)
				if err != nil {
					fmt.Fprintf(e.stderr, "quirectl bench: %v\n", err)
					return 1
				}
				r := trace.Bench(t, *runs)
				if !r.FinalOK {
					code = 1
				}
				enc.Encode(r)
			}
			return code
		},
	}
}
