package crdt

import (
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// rope holds the current text as UTF-8 chunks with code-point counts. It is
// the text cache of a branch: local edits and transformed remote edits land
// here. Positions are in code points.
//
// Edits are usually near the previous one, so the rope remembers the chunk it
// touched last and walks from there; a jump across the document walks the
// chunk table, which stays short (a 100k-character document has a few
// hundred chunks).
type rope struct {
	chunks []ropeChunk
	n      int // code points in all chunks

	// Cursor cache: chunk index and the code-point position where it starts.
	ci, cpos int
}

type ropeChunk struct {
	b []byte // UTF-8; cap(b) == ropeChunkCap once allocated
	n int    // code points in b
}

const ropeChunkCap = 1024

// Len returns the number of code points.
func (r *rope) Len() int { return r.n }

func (r *rope) String() string {
	var sb strings.Builder
	total := 0
	for i := range r.chunks {
		total += len(r.chunks[i].b)
	}
	sb.Grow(total)
	for i := range r.chunks {
		sb.Write(r.chunks[i].b)
	}
	return sb.String()
}

// seek returns the chunk index holding code point pos and pos's offset in it.
// For pos == r.n it returns the last chunk (offset == its length), creating
// one if the rope is empty.
func (r *rope) seek(pos int) (int, int) {
	if len(r.chunks) == 0 {
		r.chunks = append(r.chunks, ropeChunk{b: make([]byte, 0, ropeChunkCap)})
		r.ci, r.cpos = 0, 0
	}
	if r.ci >= len(r.chunks) {
		r.ci, r.cpos = 0, 0
	}
	ci, cpos := r.ci, r.cpos
	for pos < cpos {
		ci--
		cpos -= r.chunks[ci].n
	}
	for ci < len(r.chunks)-1 && pos > cpos+r.chunks[ci].n {
		cpos += r.chunks[ci].n
		ci++
	}
	r.ci, r.cpos = ci, cpos
	return ci, pos - cpos
}

// byteOffset returns the byte offset of code point k in b, which holds n
// code points.
func byteOffset(b []byte, n, k int) int {
	if n == len(b) || k == 0 {
		return k
	}
	if k == n {
		return len(b)
	}
	off := 0
	for i := 0; i < k; i++ {
		if b[off] < utf8.RuneSelf {
			off++
		} else {
			_, sz := utf8.DecodeRune(b[off:])
			off += sz
		}
	}
	return off
}

// insertBytes is Insert for text held in a byte slice.
func (r *rope) insertBytes(pos int, b []byte, n int) {
	r.Insert(pos, unsafeString(b), n)
}

// Insert inserts s (valid UTF-8 holding n code points) at pos. The rope
// copies s and keeps no reference to it.
func (r *rope) Insert(pos int, s string, n int) {
	for len(s) > 0 {
		ci, off := r.seek(pos)
		c := &r.chunks[ci]
		room := ropeChunkCap - len(c.b)
		if room == 0 && off == c.n {
			// Full, and pos is at its end: open a fresh chunk after it.
			r.chunks = slices.Insert(r.chunks, ci+1, ropeChunk{b: make([]byte, 0, ropeChunkCap)})
			r.ci, r.cpos = ci+1, r.cpos+r.chunks[ci].n
			continue
		}
		if room < len(s) && off < c.n {
			// Make pos the end of chunk ci so the text can fill it and
			// spill into fresh chunks.
			r.split(ci, off)
			continue
		}
		take, taken := len(s), n
		if take > room {
			take, taken = 0, 0
			for take < len(s) {
				_, sz := utf8.DecodeRuneInString(s[take:])
				if take+sz > room {
					break
				}
				take += sz
				taken++
			}
			if taken == 0 {
				// A multi-byte code point does not fit the last bytes.
				r.chunks = slices.Insert(r.chunks, ci+1, ropeChunk{b: make([]byte, 0, ropeChunkCap)})
				r.ci, r.cpos = ci+1, r.cpos+r.chunks[ci].n
				continue
			}
		}
		bo := byteOffset(c.b, c.n, off)
		c.b = c.b[:len(c.b)+take]
		copy(c.b[bo+take:], c.b[bo:])
		copy(c.b[bo:], s[:take])
		c.n += taken
		r.n += taken
		s = s[take:]
		n -= taken
		pos += taken
	}
}

// split splits chunk ci at code point off. If off is at either end, it
// inserts an empty chunk there instead so the caller finds room.
func (r *rope) split(ci, off int) {
	c := &r.chunks[ci]
	bo := byteOffset(c.b, c.n, off)
	right := ropeChunk{b: make([]byte, len(c.b)-bo, ropeChunkCap), n: c.n - off}
	copy(right.b, c.b[bo:])
	c.b = c.b[:bo]
	c.n = off
	r.chunks = slices.Insert(r.chunks, ci+1, right)
	// The cursor cache still points at ci with the same start.
}

// seekInside is seek for a code point that must exist: it returns the chunk
// holding pos itself, never the end of the chunk before it.
func (r *rope) seekInside(pos int) (int, int) {
	ci, off := r.seek(pos)
	for off == r.chunks[ci].n {
		r.ci, r.cpos = ci+1, r.cpos+r.chunks[ci].n
		ci, off = r.seek(pos)
	}
	return ci, off
}

// byteRange returns the byte range of k code points at off in c.
func (c *ropeChunk) byteRange(off, k int) (int, int) {
	bo := byteOffset(c.b, c.n, off)
	return bo, bo + byteOffset(c.b[bo:], c.n-off, k)
}

// Delete removes n code points starting at pos.
func (r *rope) Delete(pos, n int) {
	for n > 0 {
		ci, off := r.seekInside(pos)
		c := &r.chunks[ci]
		k := min(n, c.n-off)
		bo, be := c.byteRange(off, k)
		c.b = append(c.b[:bo], c.b[be:]...)
		c.n -= k
		r.n -= k
		n -= k
		if c.n == 0 && len(r.chunks) > 1 {
			r.chunks = slices.Delete(r.chunks, ci, ci+1)
			if r.ci >= len(r.chunks) {
				r.ci, r.cpos = 0, 0
			}
		}
	}
}

// Slice returns n code points starting at pos.
func (r *rope) Slice(pos, n int) string {
	var sb strings.Builder
	for n > 0 {
		ci, off := r.seekInside(pos)
		c := &r.chunks[ci]
		k := min(n, c.n-off)
		bo, be := c.byteRange(off, k)
		sb.Write(c.b[bo:be])
		n -= k
		pos += k
	}
	return sb.String()
}

// unsafeString views b as a string without copying. Callers pass the view
// only to functions that copy what they are given (rope.Insert,
// oplog.pushOp) and keep no reference to it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
