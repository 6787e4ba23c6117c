package trace

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

const traceDir = "../../../shared/testdata/editing-traces"

func load(t testing.TB, rel string) *Trace {
	t.Helper()
	tr, err := Load(filepath.Join(traceDir, rel))
	if err != nil {
		t.Skipf("trace not available: %v", err)
	}
	return tr
}

func TestSequentialTraces(t *testing.T) {
	for _, name := range []string{"automerge-paper", "seph-blog1", "friendsforever_flat", "json-crdt-blog-post"} {
		t.Run(name, func(t *testing.T) {
			tr := load(t, "sequential/"+name+".json.gz")
			d, _, err := ReplaySequential(tr, false)
			if err != nil {
				t.Fatal(err)
			}
			// Sealed one change per txn, the history must round-trip too.
			ds, _, err := ReplaySequential(tr, true)
			if err != nil {
				t.Fatal(err)
			}
			streamEnc := ds.Encode()
			if d2, err := crdt.Decode(streamEnc, Agents(2)[1]); err != nil {
				t.Fatalf("decode per-txn history: %v", err)
			} else if d2.Text() != tr.EndContent || d2.Ops() != ds.Ops() || !slices.Equal(d2.Heads(), ds.Heads()) {
				t.Fatalf("decode per-txn history: text, ops or heads differ")
			}
			d3, err := crdt.Load(streamEnc, Agents(2)[1])
			if err != nil {
				t.Fatalf("load per-txn history: %v", err)
			}
			if d3.Text() != tr.EndContent || !slices.Equal(d3.Heads(), ds.Heads()) {
				t.Fatalf("load per-txn history: text or heads differ")
			}
			if got := d.Text(); got != tr.EndContent {
				t.Fatalf("replay: text differs from endContent (len %d, want %d)", len(got), len(tr.EndContent))
			}
			enc := d.Encode()
			d2, err := crdt.Decode(enc, Agents(2)[1])
			if err != nil {
				t.Fatal(err)
			}
			if got := d2.Text(); got != tr.EndContent {
				t.Fatalf("decode: text differs from endContent")
			}
			t.Logf("%s: %d ops, encoded %d bytes", name, d.Ops(), len(enc))
		})
	}
}

func TestConcurrentTrace(t *testing.T) {
	tr := load(t, "concurrent/friendsforever.json.gz")
	docs, changes, err := ReplayConcurrent(tr)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		if got := d.Text(); got != tr.EndContent {
			t.Fatalf("replica %d: text differs from endContent (len %d, want %d)", i, len(got), len(tr.EndContent))
		}
	}
	enc := docs[0].Encode()
	d2, err := crdt.Decode(enc, Agents(3)[2])
	if err != nil {
		t.Fatal(err)
	}
	// Decode recomputes every change hash: the heads must be the ones
	// the replicas made.
	if d2.Text() != tr.EndContent || !slices.Equal(d2.Heads(), docs[0].Heads()) {
		t.Fatal("decode: text or heads differ")
	}
	// Streaming one change at a time.
	d3 := crdt.New(DocID, Agents(3)[2])
	for _, c := range changes {
		c2, err := crdt.DecodeChange(DocID, c.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if c2.Hash != c.Hash {
			t.Fatal("hash mismatch after decode")
		}
		if _, err := d3.Apply(c2); err != nil {
			t.Fatal(err)
		}
	}
	if d3.Text() != tr.EndContent {
		t.Fatal("stream: text differs")
	}
	t.Logf("%d changes, encoded %d bytes", len(changes), len(enc))
}
