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

// find returns the index in hashes of h, or -1.
func (x *changeIndex) find(hashes []Hash, h Hash) int {
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
		if j := int(v&low) - 1; j < len(hashes) && hashes[j] == h {
			return j
		}
	}
}

// add indexes change ci, whose hash is hashes[ci]; hashes[:ci] are
// indexed already.
func (x *changeIndex) add(hashes []Hash, ci int) {
	if 2*(x.used+1) > len(x.slots) {
		x.rebuild(hashes[:ci])
	}
	x.put(hashes[ci], ci)
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

// rebuild makes a table for hashes with room to grow, without stale slots.
// A table of n slots holds at most n/2 changes before the next rebuild, so
// an index (plus one) takes the bits of n/2; the rest hold the tag.
func (x *changeIndex) rebuild(hashes []Hash) {
	n := 64
	for n < 4*(len(hashes)+1) {
		n *= 2
	}
	x.slots = make([]uint32, n)
	x.idxBits = uint(bits.Len(uint(n / 2)))
	x.used = 0
	for ci := range hashes {
		x.put(hashes[ci], ci)
	}
}
