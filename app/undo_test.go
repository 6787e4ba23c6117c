package app

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/quire-dev/quire/crdt"
)

// applyOps applies ops to text.
func applyOps(t *testing.T, text string, ops []op) string {
	t.Helper()
	r := []rune(text)
	for _, o := range ops {
		if o.pos < 0 || o.pos > len(r) || (!o.isInsert() && o.pos+o.n > len(r)) {
			t.Fatalf("op %+v out of range for %q", o, string(r))
		}
		if o.isInsert() {
			r = append(r[:o.pos], append([]rune(o.text), r[o.pos:]...)...)
		} else {
			r = append(r[:o.pos], r[o.pos+o.n:]...)
		}
	}
	return string(r)
}

// randomOps returns up to three random ops on a text of n code points.
func randomOps(rng *rand.Rand, n int, alphabet string) []op {
	var ops []op
	for range rng.IntN(3) + 1 {
		if n > 0 && rng.IntN(2) == 0 {
			pos := rng.IntN(n)
			del := 1 + rng.IntN(min(n-pos, 4))
			ops = append(ops, op{pos: pos, n: del})
			n -= del
		} else {
			ins := string(alphabet[rng.IntN(len(alphabet))])
			ops = append(ops, op{pos: rng.IntN(n + 1), text: ins})
			n++
		}
	}
	return ops
}

// TestTransformConverges checks transform's defining property: a then b2
// gives the same text as b then a2.
func TestTransformConverges(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range 20000 {
		text := "0123456789"[:rng.IntN(11)]
		a, b := randomOps(rng, len(text), "abc"), randomOps(rng, len(text), "XYZ")
		aFirst := rng.IntN(2) == 0
		a2, b2 := transform(a, b, aFirst)
		left := applyOps(t, applyOps(t, text, a), b2)
		right := applyOps(t, applyOps(t, text, b), a2)
		if left != right {
			t.Fatalf("case %d (seed %d): text %q a %+v b %+v: a,b' = %q, b,a' = %q", i, seed, text, a, b, left, right)
		}
	}
}

// foreign applies an edit to d as if another peer had made it: the text
// changes and subscribers hear of it as a remote edit.
func foreign(t *testing.T, d *Doc, pos, del int, ins string) {
	t.Helper()
	var err error
	if e := d.a.do(func() {
		a := d.a
		if del > 0 {
			if err = a.doc.Delete(pos, del); err != nil {
				return
			}
		}
		if ins != "" {
			if err = a.doc.Insert(pos, ins); err != nil {
				return
			}
		}
		a.emitEdits([]crdt.Edit{{Pos: pos, Del: del, Text: ins}}, false)
	}); e != nil {
		t.Fatal(e)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// typeText types s into d one code point at a time at pos, as a view at
// revision rev would, and returns the revision after.
func typeText(t *testing.T, d *Doc, rev uint64, pos int, s string) uint64 {
	t.Helper()
	for _, r := range s {
		u, err := d.EditAt(rev, pos, 0, string(r))
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Edits) > 0 || u.Resync {
			t.Fatalf("typing at the current revision returned %+v", u)
		}
		rev, pos = u.Rev, pos+1
	}
	return rev
}

func newDoc(t *testing.T) *Doc {
	t.Helper()
	p := openPeer(t, t.TempDir())
	id, err := p.Create("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func undo(t *testing.T, d *Doc, redo bool) {
	t.Helper()
	_, rev, _ := d.Text()
	var err error
	if redo {
		_, err = d.Redo(rev)
	} else {
		_, err = d.Undo(rev)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestUndoGroupsTypingByWord(t *testing.T) {
	d := newDoc(t)
	typeText(t, d, 0, 0, "hello world")
	steps := []struct {
		redo bool
		want string
	}{
		{false, "hello "},
		{false, ""},
		{true, "hello "},
		{true, "hello world"},
		{false, "hello "},
	}
	for i, s := range steps {
		undo(t, d, s.redo)
		if got := text(t, d); got != s.want {
			t.Fatalf("step %d (redo %v): text %q, want %q", i, s.redo, got, s.want)
		}
	}
	// A new edit clears the redo chain.
	_, rev, _ := d.Text()
	typeText(t, d, rev, 6, "there")
	if _, redo := d.CanUndo(); redo {
		t.Error("redo still possible after a new edit")
	}
	if _, err := d.Redo(rev); !errors.Is(err, ErrNothingToUndo) {
		t.Errorf("Redo with nothing undone: err %v, want ErrNothingToUndo", err)
	}
}

func TestUndoBackspaceAndSelection(t *testing.T) {
	d := newDoc(t)
	typeText(t, d, 0, 0, "abc")
	// Backspace twice, then replace a selection: three steps back to "abc".
	for range 2 {
		_, rev, _ := d.Text()
		n, _ := d.Len()
		if _, err := d.EditAt(rev, n-1, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, rev, _ := d.Text()
	typeText(t, d, rev, 1, "xyz")
	if got := text(t, d); got != "axyz" {
		t.Fatalf("text %q", got)
	}
	undo(t, d, false)
	if got := text(t, d); got != "a" {
		t.Fatalf("after one undo %q, want %q", got, "a")
	}
	undo(t, d, false)
	if got := text(t, d); got != "abc" {
		t.Fatalf("after two undos %q, want %q", got, "abc")
	}
}

func TestUndoKeepsOthersWork(t *testing.T) {
	d := newDoc(t)
	typeText(t, d, 0, 0, "one two")
	foreign(t, d, 0, 0, "A ")  // before our text
	foreign(t, d, 4, 0, "B")   // inside our first word: "A onBe two"
	foreign(t, d, 10, 0, " C") // after it
	foreign(t, d, 7, 1, "")    // someone deletes our "t"
	if got, want := text(t, d), "A onBe wo C"; got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
	undo(t, d, false) // "wo" (what is left of "two")
	if got, want := text(t, d), "A onBe  C"; got != want {
		t.Fatalf("after undo %q, want %q", got, want)
	}
	undo(t, d, false) // "one "
	if got, want := text(t, d), "A B C"; got != want {
		t.Fatalf("after undo %q, want %q", got, want)
	}
	undo(t, d, true)
	if got, want := text(t, d), "A onBe  C"; got != want {
		t.Fatalf("after redo %q, want %q", got, want)
	}
}

func TestUndoRestoresDeletedTextAroundOthers(t *testing.T) {
	d := newDoc(t)
	foreign(t, d, 0, 0, "keep this line")
	_, rev, _ := d.Text()
	if _, err := d.EditAt(rev, 5, 5, ""); err != nil { // delete "this "
		t.Fatal(err)
	}
	foreign(t, d, 0, 0, "> ")
	foreign(t, d, 11, 0, "!") // "> keep line!"
	undo(t, d, false)
	if got, want := text(t, d), "> keep this line!"; got != want {
		t.Fatalf("after undo %q, want %q", got, want)
	}
}

func TestEditAtRebasesStaleView(t *testing.T) {
	d := newDoc(t)
	rev := typeText(t, d, 0, 0, "hello")
	view := "hello"
	foreign(t, d, 0, 0, ">> ") // the view has not seen this yet
	// The user types "!" at the end of what the view shows.
	view += "!"
	u, err := d.EditAt(rev, 5, 0, "!")
	if err != nil {
		t.Fatal(err)
	}
	got := applyOps(t, view, opsOf(u.Edits))
	if want := text(t, d); got != want || want != ">> hello!" {
		t.Fatalf("view after update %q, document %q, want both %q", got, want, ">> hello!")
	}
	if _, now, _ := d.Text(); u.Rev != now {
		t.Errorf("update rev %d, document rev %d", u.Rev, now)
	}
}

// TestUndoAllLeavesOnlyOthersWork interleaves random local and foreign
// edits, then undoes everything local: no locally inserted character may
// remain, every character someone else inserted and nobody deleted must,
// and every character the local user deleted comes back unless someone
// else deleted it too.
func TestUndoAllLeavesOnlyOthersWork(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for round := range 20 {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		d := newDoc(t)
		next := map[bool]rune{true: 0x4e00, false: 0x0400} // local, foreign alphabets
		fresh := func(local bool) string { r := next[local]; next[local]++; return string(r) }
		foreign(t, d, 0, 0, "0123456789")
		removedByOthers := map[rune]bool{}
		for range 60 {
			n, _ := d.Len()
			local := rng.IntN(2) == 0
			pos, del, ins := rng.IntN(n+1), 0, ""
			if n > 0 && rng.IntN(3) == 0 {
				pos = rng.IntN(n)
				del = 1 + rng.IntN(min(n-pos, 3))
			} else {
				for range 1 + rng.IntN(3) {
					ins += fresh(local)
				}
			}
			if local {
				_, rev, _ := d.Text()
				if _, err := d.EditAt(rev, pos, del, ins); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, r := range []rune(text(t, d))[pos : pos+del] {
					removedByOthers[r] = true
				}
				foreign(t, d, pos, del, ins)
			}
		}
		for {
			_, rev, _ := d.Text()
			if _, err := d.Undo(rev); errors.Is(err, ErrNothingToUndo) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		got := text(t, d)
		seen := map[rune]bool{}
		for _, r := range got {
			if seen[r] {
				t.Fatalf("seed %d round %d: %q appears twice in %q", seed, round, r, got)
			}
			seen[r] = true
			if r >= 0x4e00 {
				t.Fatalf("seed %d round %d: local character %q survived undo: %q", seed, round, r, got)
			}
		}
		check := func(r rune) {
			if !removedByOthers[r] && !seen[r] {
				t.Fatalf("seed %d round %d: %q was lost: %q", seed, round, r, got)
			}
		}
		for r := '0'; r <= '9'; r++ {
			check(r)
		}
		for r := rune(0x0400); r < next[false]; r++ {
			check(r)
		}
		if !utf8.ValidString(got) {
			t.Fatal("invalid text")
		}
	}
}
