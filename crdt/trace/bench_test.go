package trace

import (
	"testing"

	"github.com/quire-dev/quire/crdt"
)

var benchTraces = []string{
	"sequential/automerge-paper.json.gz",
	"sequential/seph-blog1.json.gz",
	"concurrent/friendsforever.json.gz",
}

func BenchmarkReplay(b *testing.B) {
	for _, rel := range benchTraces {
		t := load(b, rel)
		b.Run(t.Name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := t.replay(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMerge(b *testing.B) {
	for _, rel := range benchTraces {
		t := load(b, rel)
		_, enc, err := t.replay()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(t.Name, func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := crdt.Decode(enc, trace0()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStream(b *testing.B) {
	for _, rel := range benchTraces {
		t := load(b, rel)
		changes, _, err := t.streamChanges()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(t.Name, func(b *testing.B) {
			for b.Loop() {
				d := crdt.New(DocID, trace0())
				for _, enc := range changes {
					c, err := crdt.DecodeChange(DocID, enc)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := d.Apply(c); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
