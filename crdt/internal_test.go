package crdt

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestHasherMatchesSHA256 checks that the hasher's per-author midstates
// give plain SHA-256 whatever the slot: buffers of every length around the
// block size, slots reused for other prefixes, slots never seen.
func TestHasherMatchesSHA256(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	var h hasher
	prefixes := make([][]byte, 4)
	for i := range prefixes {
		prefixes[i] = make([]byte, 70)
		for j := range prefixes[i] {
			prefixes[i][j] = byte(r.IntN(256))
		}
	}
	for i := 0; i < 2000; i++ {
		p := prefixes[r.IntN(len(prefixes))]
		n := r.IntN(300)
		buf := append([]byte(nil), p[:min(n, len(p))]...)
		for len(buf) < n {
			buf = append(buf, byte(r.IntN(256)))
		}
		slot := r.IntN(3)
		if got, want := h.hash(slot, buf), Hash(sha256.Sum256(buf)); got != want {
			t.Fatalf("buffer %d (%d bytes, slot %d): got %s, want %s", i, n, slot, got, want)
		}
	}
}

// TestHashChangeBig checks that hashChange (pooled midstates, slots
// guessed from a key byte) hashes bodies of every size like plain SHA-256,
// including bodies that share a slot but not a first block.
func TestHashChangeBig(t *testing.T) {
	id := DocID{'h'}
	if !rawState() {
		t.Log("this crypto/sha256 does not save its state as expected: hashes finish with Sum")
	}
	for _, n := range []int{0, 1, 31, 32, 33, 55, 56, 63, 64, 119, 120, 300, 352, 353, 5000} {
		for _, k := range []byte{0, 8, 16} { // the same slot, other authors
			body := make([]byte, n)
			for i := range body {
				body[i] = byte(i) + k
			}
			want := Hash(sha256.Sum256(append(hashPrefix(nil, id), body...)))
			if got := hashChange(id, body); got != want {
				t.Errorf("%d bytes, key byte %d: got %s, want %s", n, k, got, want)
			}
		}
	}
	for _, n := range []int{0, 1, 300, 352, 353, 5000} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i)
		}
		want := Hash(sha256.Sum256(append(hashPrefix(nil, id), body...)))
		if got := hashChange(id, body); got != want {
			t.Errorf("%d bytes: got %s, want %s", n, got, want)
		}
	}
}

// TestBlockAfter checks that a rest of every length blockAfter takes,
// written into the hasher's block buffer after a slot's first block and
// padded to one or two blocks there, hashes like plain SHA-256 of the
// whole message, and that longer rests are refused: with the digest's
// memory mirrored (digestMirror) and with the marshaling path.
func TestBlockAfter(t *testing.T) {
	if !rawState() {
		t.Skip("this crypto/sha256 does not save its state as expected")
	}
	if !digestMirror() {
		t.Log("this crypto/sha256's digest is not laid out as digestLayout: only the marshaling path runs")
	}
	const seed = 5
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for _, mirror := range []bool{true, false} {
		var h hasher
		first := make([]byte, sha256.BlockSize)
		for i := range first {
			first[i] = byte(r.IntN(256))
		}
		// Prime slot 1 with the first block, as a log's first hash does.
		h.hash(1, append(append([]byte(nil), first...), 1, 2, 3))
		if !mirror {
			h.dp = nil
		}
		for k := 0; k <= maxBlockRest+1; k++ {
			rest := make([]byte, k)
			for i := range rest {
				rest[i] = byte(r.IntN(256))
			}
			// Stale bytes from a longer message must not leak into the
			// padding.
			for i := range h.blk {
				h.blk[i] = 0xee
			}
			copy(h.blk[:], rest)
			got, ok := h.blockAfter(1, k)
			if k > maxBlockRest {
				if ok {
					t.Fatalf("mirror %v, rest of %d bytes: accepted, want refused", mirror, k)
				}
				continue
			}
			want := Hash(sha256.Sum256(append(append([]byte(nil), first...), rest...)))
			if !ok || got != want {
				t.Fatalf("mirror %v, rest of %d bytes: got %s (%v), want %s", mirror, k, got, ok, want)
			}
		}
		if _, ok := h.blockAfter(7, 10); ok {
			t.Fatal("an unprimed slot was used")
		}
	}
}

// TestTrackerFenwickAfterSplits checks that the Fenwick trees a tracker
// keeps up as leaves split (the last one gains a node in place, others
// rebuild) equal trees built from scratch, for a document typed at the end
// and in the middle.
func TestTrackerFenwickAfterSplits(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	d := New(DocID{'f'}, Author{1})
	for i := 0; i < 3000; i++ {
		pos := d.Len()
		if r.IntN(4) == 0 {
			pos = r.IntN(d.Len() + 1)
		}
		if err := d.Insert(pos, "ab"[i%2:i%2+1]); err != nil {
			t.Fatal(err)
		}
	}
	// Replay the history through a tracker by merging it into a replica
	// that made a concurrent edit, so every op goes through the tracker.
	e := New(DocID{'f'}, Author{2})
	if err := e.Insert(0, "z"); err != nil {
		t.Fatal(err)
	}
	e.Seal()
	var tr *tracker
	if _, err := e.Apply(d.Seal()...); err != nil {
		t.Fatal(err)
	}
	tr = e.cache.t
	if tr == nil {
		// The merge dropped its tracker; build one the same way.
		tr = newTracker()
		for i := 0; i < 2000; i++ {
			tr.applyInsert(e.log, i, 1, r.IntN(i+1))
		}
	}
	got := [3][]int{append([]int(nil), tr.fwPrep...), append([]int(nil), tr.fwEff...), append([]int(nil), tr.fwTotal...)}
	tr.rebuild()
	want := [3][]int{tr.fwPrep, tr.fwEff, tr.fwTotal}
	for k := range got {
		if len(got[k]) != len(want[k]) {
			t.Fatalf("tree %d: %d nodes, want %d", k, len(got[k]), len(want[k]))
		}
		for i := range got[k] {
			if got[k][i] != want[k][i] {
				t.Fatalf("tree %d node %d: %d, want %d (%d leaves)", k, i, got[k][i], want[k][i], len(tr.leaves))
			}
		}
	}
	if len(tr.leaves) < 4 {
		t.Fatalf("only %d leaves: no splits exercised", len(tr.leaves))
	}
}

// TestHashList checks the paged hash list against a plain slice across
// page boundaries, truncations and regrowth.
func TestHashList(t *testing.T) {
	var hl hashList
	var ref []Hash
	h := func(i int) Hash { return Hash{byte(i), byte(i >> 8), 7} }
	check := func(step string) {
		t.Helper()
		if hl.len() != len(ref) {
			t.Fatalf("%s: len %d, want %d", step, hl.len(), len(ref))
		}
		for i := range ref {
			if *hl.at(i) != ref[i] {
				t.Fatalf("%s: hash %d differs", step, i)
			}
		}
	}
	for i := range 3*hashPage + 5 {
		hl.push(h(i))
		ref = append(ref, h(i))
	}
	check("push")
	for _, n := range []int{3*hashPage + 5, 3 * hashPage, 2*hashPage + 1, hashPage, hashPage - 1, 0} {
		hl.truncate(n)
		ref = ref[:n]
		check("truncate")
		for i := range hashPage + 3 {
			hl.push(h(i + 9))
			ref = append(ref, h(i+9))
		}
		check("regrow")
		hl.truncate(n)
		ref = ref[:n]
	}
	hl = hashList{}
	hl.reserve(10)
	for i := range 2 * hashPage {
		hl.push(h(i))
	}
	ref = ref[:0]
	for i := range 2 * hashPage {
		ref = append(ref, h(i))
	}
	check("reserved")
}
