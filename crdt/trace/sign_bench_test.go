package trace

import (
	"testing"

	"github.com/quire-dev/quire/crdt"
)

// BenchmarkSignedDecode opens the automerge-paper history, sealed one
// signed change per txn, three ways: Load (trusted: no hashing, no
// signature checks), Decode (hashes every change, checks the signatures
// present) and DecodeVerified (also requires every author's last change
// signed).
func BenchmarkSignedDecode(b *testing.B) {
	t := load(b, "sequential/automerge-paper.json.gz")
	d, _, err := SignedReplay(t)
	if err != nil {
		b.Fatal(err)
	}
	enc := d.Encode()
	b.Logf("%d changes... %d bytes, %d signatures", len(t.Txns), len(enc), d.Signatures())
	for _, bc := range []struct {
		name string
		open func([]byte, crdt.Author) (*crdt.Doc, error)
	}{{"Load", crdt.Load}, {"Decode", crdt.Decode}, {"DecodeVerified", crdt.DecodeVerified}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.open(enc, trace0()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeBatch sends the signed automerge-paper history to a
// verifying replica in 64 KiB batches.
func BenchmarkEncodeBatch(b *testing.B) {
	t := load(b, "sequential/automerge-paper.json.gz")
	d, _, err := SignedReplay(t)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r := crdt.New(DocID, trace0())
		r.SetVerify(true)
		for more := true; more; {
			var data []byte
			data, more = d.EncodeBatch(r.Vector(), 64<<10)
			if _, err := r.ApplyEncoded(data); err != nil {
				b.Fatal(err)
			}
		}
		if r.Text() != t.EndContent {
			b.Fatal("text differs")
		}
	}
}
