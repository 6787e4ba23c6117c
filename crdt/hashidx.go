package crdt

// changeIndex finds a change by its hash: an open-addressing table (linear
// probing) of change indexes, keyed by the hash's first 8 bytes, which
// SHA-256 spreads evenly. A slot only names an index; the hash itself is
// compared in oplog.hashes, so prefix collisions need no second table and
// slots left behind by a rollback are harmless: they name an index that is
// gone or now holds another hash, and lookups step over them. They count
// as used until the next rebuild, which keeps the table at most half full.
type changeIndex struct {
	slots []int32 // change index + 1; 0: empty
	used  int     // slots taken, stale ones included
}

// find returns the index in hashes of h, or -1.
func (x *changeIndex) find(hashes []Hash, h Hash) int {
	if len(x.slots) == 0 {
		return -1
	}
	mask := uint64(len(x.slots) - 1)
	for i := hashKey(h) & mask; ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return -1
		}
		if j := int(v - 1); j < len(hashes) && hashes[j] == h {
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
	mask := uint64(len(x.slots) - 1)
	i := hashKey(h) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = int32(ci + 1)
	x.used++
}

// rebuild makes a table for hashes with room to grow, without stale slots.
func (x *changeIndex) rebuild(hashes []Hash) {
	n := 64
	for n < 4*(len(hashes)+1) {
		n *= 2
	}
	x.slots = make([]int32, n)
	x.used = 0
	for ci := range hashes {
		x.put(hashes[ci], ci)
	}
}
