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

// TestHashChangeBig checks that hashChange hashes bodies too big for its
// stack buffer like small ones.
func TestHashChangeBig(t *testing.T) {
	id := DocID{'h'}
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
