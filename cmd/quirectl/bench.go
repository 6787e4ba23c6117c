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
		synopsis: "trace [-runs N] FILE.json.gz...",
		summary:  "measure the CRDT on editing traces",
		detail: "bench trace replays each editing trace (the editing-traces JSON format, gzipped)\n" +
			"and prints one JSON object per trace: replay_ms, merge_ms, stream_ms, load_ms\n" +
			"(medians of -runs runs), encoded_bytes, stream_encoded_bytes, heap_bytes and\n" +
			"final_ok. For sequential traces it also seals one signed change per txn and\n" +
			"prints signed_encoded_bytes (the encoding with its retained signatures),\n" +
			"verified_decode_ms (a fresh replica verifying every change's authorship),\n" +
			"verify_ms (the part of that beyond a trusted load) and seal_sign_us (one\n" +
			"seal with its signature). Exits 1 if any trace does not reach its endContent.",
		main: func(_ context.Context, e env, _ any, args []string) int {
			if len(args) < 1 || args[0] != "trace" {
				return cli.Usagef(e.stderr, "quirectl bench", "want: trace [-runs N] FILE.json.gz...")
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
