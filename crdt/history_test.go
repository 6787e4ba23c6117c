package crdt_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

// applyEdits applies edits to s (code point positions).
func applyEdits(s string, edits []crdt.Edit) string {
	r := []rune(s)
	for _, e := range edits {
		r = append(r[:e.Pos], append([]rune(e.Text), r[e.Pos+e.Del:]...)...)
	}
	return string(r)
}

// TestTextAtAndDiff records the text and heads after every seal of a
// concurrent session, then checks TextAt reproduces each and Diff turns
// each past text into every later one.
func TestTextAtAndDiff(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		a := crdt.New(crdt.DocID{'h'}, crdt.Author{1})
		b := crdt.New(crdt.DocID{'h'}, crdt.Author{2})
		type point struct {
			heads []crdt.Hash
			text  string
		}
		var points []point
		for step := range 30 {
			d, other := a, b
			if r.IntN(2) == 0 {
				d, other = b, a
			}
			if d.Len() > 0 && r.IntN(3) == 0 {
				pos := r.IntN(d.Len())
				d.Delete(pos, 1+r.IntN(min(3, d.Len()-pos)))
			} else {
				d.Insert(r.IntN(d.Len()+1), strings.Repeat(string(rune('a'+step%26)), 1+r.IntN(3)))
			}
			cs := d.Seal()
			if r.IntN(2) == 0 {
				if _, err := other.Apply(cs...); err != nil {
					t.Fatal(err)
				}
			}
			points = append(points, point{d.Heads(), d.Text()})
		}
		// Bring a up to date so it holds every version recorded.
		if _, err := a.Apply(b.ChangesSince(a.Vector())...); err != nil {
			t.Fatal(err)
		}
		for i, p := range points {
			got, err := a.TextAt(p.heads)
			if err != nil {
				t.Fatalf("seed %d point %d: TextAt: %v", seed, i, err)
			}
			if got != p.text {
				t.Fatalf("seed %d point %d: TextAt = %q, want %q", seed, i, got, p.text)
			}
		}
		for i, p := range points {
			for _, q := range points[i:] {
				edits, err := a.Diff(p.heads, q.heads)
				if err != nil {
					t.Fatalf("seed %d: Diff: %v", seed, err)
				}
				merged := append(append([]crdt.Hash(nil), p.heads...), q.heads...)
				want, err := a.TextAt(merged)
				if err != nil {
					t.Fatal(err)
				}
				if got := applyEdits(p.text, edits); got != want {
					t.Fatalf("seed %d: Diff from point %d: got %q, want %q", seed, i, got, want)
				}
			}
		}
		if _, err := a.TextAt([]crdt.Hash{{9}}); !errors.Is(err, crdt.ErrUnknownVersion) {
			t.Fatalf("TextAt of an unknown version: %v, want ErrUnknownVersion", err)
		}
	}
}

// TestDeltaSync exchanges only what each side lacks (EncodeSince and
// ApplyEncoded), in both directions, after concurrent edits.
func TestDeltaSync(t *testing.T) {
	a := crdt.New(crdt.DocID{'d'}, crdt.Author{1})
	b := crdt.New(crdt.DocID{'d'}, crdt.Author{2})
	// A base that does not compress away, so the delta's saving shows.
	r := rand.New(rand.NewPCG(1, 1))
	var base strings.Builder
	for range 5000 {
		base.WriteRune(rune('a' + r.IntN(26)))
	}
	a.Insert(0, base.String())
	if _, err := b.ApplyEncoded(a.Encode()); err != nil {
		t.Fatal(err)
	}
	a.Insert(0, "A: ")
	a.Delete(10, 3)
	b.Insert(160, " (b)")
	b.Delete(0, 2)
	va, vb := a.Vector(), b.Vector()
	da, db := a.EncodeSince(vb), b.EncodeSince(va)
	// The delta names the base by hash instead of carrying it.
	if len(da) >= len(a.Encode())/4 {
		t.Errorf("delta is %d bytes, the whole history %d", len(da), len(a.Encode()))
	}
	if _, err := b.ApplyEncoded(da); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ApplyEncoded(db); err != nil {
		t.Fatal(err)
	}
	if a.Text() != b.Text() {
		t.Fatalf("texts differ: %q / %q", a.Text(), b.Text())
	}
	if got := a.ChangesSince(b.Vector()); len(got) != 0 {
		t.Fatalf("a still has %d changes b lacks", len(got))
	}
	// A delta for another document is refused.
	c := crdt.New(crdt.DocID{'x'}, crdt.Author{3})
	if _, err := c.ApplyEncoded(da); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("delta for another document: %v, want ErrInvalid", err)
	}
}

// TestDecodeTypingChains checks Decode's hashing of an author's run of
// one-op changes (a chain: each change's only parent is the one before)
// against the hashes the typing replica made, for ASCII and multi-byte
// text typed in long runs, forward deletes and backspaces, changes of
// several ops and a change too long for the one-block path, after a
// merge with another author.
func TestDecodeTypingChains(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	a := crdt.New(crdt.DocID{'c'}, crdt.Author{1})
	b := crdt.New(crdt.DocID{'c'}, crdt.Author{2})
	chars := []string{"a", "é", "日", "🙂", "z", "ß"}
	typeRun := func(d *crdt.Doc, n int, multi bool) {
		pos := r.IntN(d.Len() + 1)
		for i := 0; i < n; i++ {
			s := chars[0]
			if multi {
				s = chars[r.IntN(len(chars))]
			}
			if err := d.Insert(pos+i, s); err != nil {
				t.Fatal(err)
			}
			d.Seal()
		}
	}
	typeRun(a, 40, false)
	typeRun(a, 60, true)
	if _, err := b.Apply(a.ChangesSince(nil)...); err != nil {
		t.Fatal(err)
	}
	typeRun(b, 30, true)
	typeRun(a, 30, true)
	for i := 0; i < 10 && a.Len() > 0; i++ { // backspace
		if err := a.Delete(a.Len()-1-i%3, 1); err != nil {
			t.Fatal(err)
		}
		a.Seal()
	}
	for i := 0; i < 5 && a.Len() > 3; i++ { // forward delete
		if err := a.Delete(2, 1); err != nil {
			t.Fatal(err)
		}
		a.Seal()
	}
	if err := a.Insert(1, "several ops "); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(0, 1); err != nil {
		t.Fatal(err)
	}
	a.Seal()
	if err := a.Insert(a.Len(), "a change whose text is far too long for one or two blocks of SHA-256, 🙂🙂🙂"); err != nil {
		t.Fatal(err)
	}
	a.Seal()
	typeRun(a, 20, true)
	if _, err := a.Apply(b.ChangesSince(nil)...); err != nil {
		t.Fatal(err)
	}
	typeRun(a, 20, true)
	enc := a.Encode()
	for _, dec := range []func([]byte, crdt.Author) (*crdt.Doc, error){crdt.Decode, crdt.Load} {
		d, err := dec(enc, crdt.Author{9})
		if err != nil {
			t.Fatal(err)
		}
		if d.Text() != a.Text() || !slices.Equal(d.Heads(), a.Heads()) {
			t.Fatalf("decoded: text or heads differ")
		}
		for _, c := range a.ChangesSince(nil) {
			if !d.Has(c.Hash) {
				t.Fatalf("decoded replica lacks change %s", c.Hash)
			}
		}
	}
}
