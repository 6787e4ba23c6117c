package crdt_test

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

var (
	long      = flag.Bool("long", false, "run the long randomized convergence mode")
	seedFlag  = flag.Int64("seed", -1, "run only this convergence seed")
	seedCount = flag.Int("seeds", 2000, "convergence seeds in the short mode")
)

// TestConvergence runs random multi-replica sessions with lossy,
// duplicating, reordering, partitioned delivery, then a full sync, and
// checks that all replicas agree on text, version and encoding.
func TestConvergence(t *testing.T) {
	n := *seedCount
	if *long {
		n = 100000
	}
	if testing.Short() {
		n = 200
	}
	if *seedFlag >= 0 {
		if err := runSession(uint64(*seedFlag)); err != nil {
			t.Fatalf("seed %d: %v", *seedFlag, err)
		}
		return
	}
	failed := 0
	for seed := range uint64(n) {
		if err := runSession(seed); err != nil {
			t.Errorf("seed %d: %v (rerun: go test ./crdt -run TestConvergence -seed %d)", seed, err, seed)
			if failed++; failed > 5 {
				t.FailNow()
			}
		}
	}
}

type replica struct {
	doc   *crdt.Doc
	inbox []*crdt.Change
	group int
}

var alphabet = []string{"a", "b", "c", "d", "e", " ", "\n", "é", "ß", "日", "本", "🙂", "x", "y"}

func randText(r *rand.Rand) string {
	var b bytes.Buffer
	n := 1 + r.IntN(4)
	if r.IntN(10) == 0 {
		n += r.IntN(20)
	}
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func runSession(seed uint64) error {
	return runSessionRand(rand.New(rand.NewPCG(seed, 0x5eed)))
}

func runSessionRand(r *rand.Rand) error { return runSessionWith(r, false) }

// runSessionWith runs a random session; with signed, every replica signs
// what it seals and verifies what it is given, and the full sync goes
// through EncodeBatch.
func runSessionWith(r *rand.Rand, signed bool) error {
	id := crdt.DocID{byte(r.IntN(256)), byte(r.IntN(256))}
	nrep := 2 + r.IntN(7)
	reps := make([]*replica, nrep)
	for i := range reps {
		var a crdt.Author
		for j := range a {
			a[j] = byte(r.IntN(256))
		}
		if !signed {
			reps[i] = &replica{doc: crdt.New(id, a)}
			continue
		}
		priv := ed25519.NewKeyFromSeed(a[:])
		copy(a[:], priv.Public().(ed25519.PublicKey))
		d := crdt.New(id, a)
		if err := d.SetSigner(priv); err != nil {
			return err
		}
		d.SetVerify(true)
		reps[i] = &replica{doc: d}
	}
	partitioned := false
	steps := 10 + r.IntN(80)
	for range steps {
		rep := reps[r.IntN(nrep)]
		switch k := r.IntN(10); {
		case k < 5: // edit, often at the same places
			d := rep.doc
			if d.Len() > 0 && r.IntN(3) == 0 {
				pos := r.IntN(d.Len())
				n := 1 + r.IntN(min(4, d.Len()-pos))
				if err := d.Delete(pos, n); err != nil {
					return err
				}
			} else {
				pos := 0
				switch r.IntN(3) {
				case 0:
					pos = d.Len()
				case 1:
					pos = r.IntN(d.Len() + 1)
				}
				if err := d.Insert(pos, randText(r)); err != nil {
					return err
				}
			}
			if r.IntN(3) > 0 {
				broadcast(r, reps, rep, partitioned)
			}
		case k < 8: // deliver some of the inbox, in random order
			if len(rep.inbox) == 0 {
				continue
			}
			r.Shuffle(len(rep.inbox), func(i, j int) { rep.inbox[i], rep.inbox[j] = rep.inbox[j], rep.inbox[i] })
			take := 1 + r.IntN(len(rep.inbox))
			batch := rep.inbox[:take]
			if _, err := rep.doc.Apply(batch...); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			rep.inbox = slices.Clone(rep.inbox[take:])
		case k < 9: // partition or heal
			partitioned = !partitioned
			for _, x := range reps {
				x.group = r.IntN(2)
			}
		default: // one change, delivered one by one and duplicated
			if len(rep.inbox) > 0 {
				c := rep.inbox[r.IntN(len(rep.inbox))]
				if _, err := rep.doc.Apply(c, c); err != nil {
					return fmt.Errorf("apply dup: %w", err)
				}
			}
		}
	}
	// Full sync: anti-entropy until nothing moves.
	for _, x := range reps {
		x.doc.Seal()
	}
	for round := 0; ; round++ {
		moved := false
		for _, a := range reps {
			for _, b := range reps {
				if a == b {
					continue
				}
				if signed && r.IntN(2) == 0 {
					n, err := syncBatches(a.doc, b.doc, 64+r.IntN(512))
					if err != nil {
						return err
					}
					moved = moved || n > 0
					continue
				}
				cs := a.doc.ChangesSince(b.doc.Vector())
				if len(cs) == 0 {
					continue
				}
				moved = true
				if _, err := b.doc.Apply(cs...); err != nil {
					return fmt.Errorf("sync: %w", err)
				}
			}
		}
		if !moved {
			break
		}
		if round > nrep+2 {
			return fmt.Errorf("sync does not settle")
		}
	}
	want := reps[0].doc
	wantEnc := want.Encode()
	for i, x := range reps {
		if got := x.doc.Text(); got != want.Text() {
			return fmt.Errorf("replica %d text %q, replica 0 %q", i, got, want.Text())
		}
		if !slices.Equal(x.doc.Heads(), want.Heads()) {
			return fmt.Errorf("replica %d heads differ", i)
		}
		if x.doc.Pending() != 0 {
			return fmt.Errorf("replica %d has %d pending changes", i, x.doc.Pending())
		}
		enc := x.doc.Encode()
		if !bytes.Equal(enc, wantEnc) {
			return fmt.Errorf("replica %d encoding differs", i)
		}
		decode := crdt.Decode
		if signed {
			decode = crdt.DecodeVerified
		}
		d2, err := decode(enc, x.doc.Author())
		if err != nil {
			return fmt.Errorf("replica %d decode: %w", i, err)
		}
		if d2.Text() != x.doc.Text() {
			return fmt.Errorf("replica %d: decoded text differs", i)
		}
		if !bytes.Equal(d2.Encode(), enc) {
			return fmt.Errorf("replica %d: encode-decode-encode not stable", i)
		}
		// Load (hashes computed lazily) must agree with Decode.
		d3, err := crdt.Load(enc, x.doc.Author())
		if err != nil {
			return fmt.Errorf("replica %d load: %w", i, err)
		}
		if d3.Text() != x.doc.Text() || !slices.Equal(d3.Heads(), want.Heads()) || !bytes.Equal(d3.Encode(), enc) {
			return fmt.Errorf("replica %d: Load disagrees with Decode", i)
		}
		// And keep working the same: a local edit seals to the same change.
		d4, _ := crdt.Load(enc, x.doc.Author())
		d2.Insert(0, "z")
		d4.Insert(0, "z")
		c2, c4 := d2.Seal(), d4.Seal()
		if len(c2) != 1 || len(c4) != 1 || c2[0].Hash != c4[0].Hash {
			return fmt.Errorf("replica %d: a change sealed after Load differs from one after Decode", i)
		}
	}
	return nil
}

// syncBatches brings to b what a has and b lacks with EncodeBatch and
// ApplyEncoded, and returns how many batches moved changes.
func syncBatches(a, b *crdt.Doc, maxBytes int) (int, error) {
	n := 0
	for i := 0; ; i++ {
		data, more := a.EncodeBatch(b.Vector(), maxBytes)
		ops := b.Ops()
		if _, err := b.ApplyEncoded(data); err != nil {
			return n, fmt.Errorf("sync batch %d: %w", i, err)
		}
		if b.Ops() > ops {
			n++
		}
		if !more {
			return n, nil
		}
		if b.Ops() == ops {
			return n, fmt.Errorf("sync batch %d moved nothing", i)
		}
	}
}

// broadcast seals rep's edits and sends them to the others, with drops,
// duplicates and partitions.
func broadcast(r *rand.Rand, reps []*replica, rep *replica, partitioned bool) {
	for _, c := range rep.doc.Seal() {
		for _, x := range reps {
			if x == rep || (partitioned && x.group != rep.group) || r.IntN(8) == 0 {
				continue
			}
			x.inbox = append(x.inbox, c)
			if r.IntN(8) == 0 {
				x.inbox = append(x.inbox, c)
			}
		}
	}
}
