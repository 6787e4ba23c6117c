package crdt

import "math/bits"

// changeIndex finds a change by its hash: an open-addressing table (linear
// probing) of change indexes, keyed by the hash's first 8 bytes, which
// SHA-256 spreads evenly. A slot names an index and, in the bits the index
// does not need, a tag taken from hash bits the slot position does not use;
// the hash itself is compared in oplog.hashes only when the tag matches, so
// looking up a hash the document does not hold (every arriving change)
// rarely reads a hash at all. Prefix collisions need no second table, and
// slots left behind by a rollback are harmless: they name an index that is
// gone or now holds another hash, and lookups step over them. They count
// as used until the next rebuild, which keeps the table at most half full.
type changeIndex struct {
	slots   []uint32 // change index + 1 in the low idxBits, tag above; 0: empty
	idxBits uint     // bits of a slot that hold the index
	used    int      // slots taken, stale ones included
}

// tag returns the tag bits of h for a table whose indexes take idxBits.
func (x *changeIndex) tag(key uint64) uint32 {
	return uint32(key>>32) &^ (1<<x.idxBits - 1)
}

// find returns the index of h among the first n of hashes, or -1.
func (x *changeIndex) find(hashes *hashList, n int, h Hash) int {
	if len(x.slots) == 0 {
		return -1
	}
	key := hashKey(h)
	tag := x.tag(key)
	low := uint32(1)<<x.idxBits - 1
	mask := uint64(len(x.slots) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return -1
		}
		if v&^low != tag {
			continue
		}
		if j := int(v&low) - 1; j < n && *hashes.at(j) == h {
			return j
		}
	}
}

// add indexes change ci, whose hash is hashes.at(ci); the ones before it
// are indexed already.
func (x *changeIndex) add(hashes *hashList, ci int) {
	if 2*(x.used+1) > len(x.slots) {
		x.rebuild(hashes, ci)
	}
	x.put(*hashes.at(ci), ci)
}

func (x *changeIndex) put(h Hash, ci int) {
	key := hashKey(h)
	mask := uint64(len(x.slots) - 1)
	i := key & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = uint32(ci+1) | x.tag(key)
	x.used++
}

// rebuild makes a table for the first k hashes with room to grow, without
// stale slots. A table of n slots holds at most n/2 changes before the
// next rebuild, so an index (plus one) takes the bits of n/2; the rest
// hold the tag.
func (x *changeIndex) rebuild(hashes *hashList, k int) {
	n := 64
	for n < 4*(k+1) {
		n *= 2
	}
	x.slots = make([]uint32, n)
	x.idxBits = uint(bits.Len(uint(n / 2)))
	x.used = 0
	for ci := range k {
		x.put(*hashes.at(ci), ci)
	}
}

// hashList holds the changes' hashes (32 bytes each) in pages of hashPage,
// so a growing log never copies them and allocates each byte once. The
// first page grows by doubling, so a short history takes only what it
// needs.
type hashList struct {
	pages [][]Hash
	n     int
}

const (
	hashPageBits = 10
	hashPage     = 1 << hashPageBits
)

func (h *hashList) len() int { return h.n }

// at returns hash i (i < len).
func (h *hashList) at(i int) *Hash {
	return &h.pages[i>>hashPageBits][i&(hashPage-1)]
}

// push appends x.
func (h *hashList) push(x Hash) {
	p := h.n >> hashPageBits
	if p == len(h.pages) {
		h.pages = append(h.pages, nil)
	}
	pg := h.pages[p]
	if len(pg) == cap(pg) {
		// The first page grows by doubling; later ones are made full size.
		c := hashPage
		if p == 0 {
			c = min(max(2*cap(pg), 8), hashPage)
		}
		ng := make([]Hash, len(pg), c)
		copy(ng, pg)
		pg = ng
	}
	h.pages[p] = append(pg, x)
	h.n++
}

// reserve makes room for n hashes in all (a decoder that knows how many
// changes it will hash).
func (h *hashList) reserve(n int) {
	if h.n == 0 && len(h.pages) <= 1 && n > 0 {
		if len(h.pages) == 0 {
			h.pages = append(h.pages, nil)
		}
		if c := min(n, hashPage); cap(h.pages[0]) < c {
			h.pages[0] = make([]Hash, 0, c)
		}
	}
}

// truncate keeps the first n hashes (n <= len); pages past them are
// dropped.
func (h *hashList) truncate(n int) {
	if n >= h.n {
		return
	}
	keep := (n + hashPage - 1) >> hashPageBits
	clear(h.pages[keep:])
	h.pages = h.pages[:keep]
	if n&(hashPage-1) != 0 {
		h.pages[keep-1] = h.pages[keep-1][:n&(hashPage-1)]
	}
	h.n = n
}
