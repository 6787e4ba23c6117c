package crdt

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"reflect"
	"slices"
	"sync"
	"unicode/utf8"
)

// Change is the unit that is stored, sent and signed: a run of consecutive
// ops by one author, made on top of the changes named by Parents. Its Hash
// covers the document id and the canonical encoding, so the history is a
// hash DAG; Sig, when present, signs the Hash. A change's ops are canonical: each run is merged with the next
// wherever typing one character after another would have merged them (see
// appendOp), so the same ops always encode to the same bytes.
type Change struct {
	Author  Author
	Seq     uint64 // sequence number of the first op
	Parents []Hash // sorted, unique
	Ops     []Op
	Hash    Hash
	// Sig is the author's Ed25519 signature over the change's hash (see
	// Sign), or nil. It is not part of the encoding or the hash: it
	// travels beside them (EncodeSigned, and the signature column of
	// document encodings).
	Sig []byte

	// checked remembers the last (author, hash, signature) Verify
	// accepted, so a change checked when it arrived (a gossip validator)
	// is not checked again when it is applied. Comparing the values, not a
	// flag, keeps it correct if a caller changes a field afterwards. It
	// is a pointer, set once per verification and never written through,
	// so a change costs no room for it until verified and copies of a
	// change may share it.
	checked *sigCheck
}

// sigCheck is what Change.Verify accepted.
type sigCheck struct {
	author Author
	hash   Hash
	sig    [64]byte
}

// Len returns the number of single-character ops in c.
func (c *Change) Len() int {
	n := 0
	for i := range c.Ops {
		n += c.Ops[i].Len
	}
	return n
}

const (
	changeVersion = 1
	// MaxChangeOps bounds the ops in one change. Larger edits are split
	// into several changes by the editor.
	MaxChangeOps = 1 << 20
	maxPos       = 1 << 40
)

var changeDomain = []byte("quire/change/v1\x00")

// delMerge works out how a delete run of n ops at pos (rev: backspace
// order) continues the previous delete run (aPos, aN, aRev), as typing the
// ops one by one would merge them. It returns how many of the new ops join
// the previous run (0, 1 or n) and how: 1 forward, 2 backward.
func delMerge(aPos, aN int, aRev bool, pos, n int, rev bool) (take, mode int) {
	first := pos
	if rev {
		first = pos + n - 1
	}
	if first == aPos && !aRev {
		if !rev || n == 1 {
			return n, 1
		}
		return 1, 1
	}
	if first+1 == aPos && (aRev || aN == 1) {
		if rev || n == 1 {
			return n, 2
		}
		return 1, 2
	}
	return 0, 0
}

// opTake works out how many of op's ops would join the run last if they
// were typed one by one after it, and how (see delMerge).
func opTake(last, op *Op) (take, mode int) {
	if last.Kind != op.Kind {
		return 0, 0
	}
	if op.Kind == Insert {
		if op.Pos == last.Pos+last.Len {
			return op.Len, 1
		}
		return 0, 0
	}
	return delMerge(last.Pos, last.Len, last.Rev, op.Pos, op.Len, op.Rev)
}

// appendOp appends op to the canonical run list ops.
func appendOp(ops []Op, op Op) []Op {
	if op.Kind == Insert || op.Len == 1 {
		op.Rev = false
	}
	if k := len(ops) - 1; k >= 0 {
		last := &ops[k]
		if take, mode := opTake(last, &op); take > 0 {
			if mode == 2 {
				last.Rev = true
				last.Pos = op.Pos
			}
			last.Len += take
			if op.Kind == Insert {
				last.Text += op.Text
				return ops
			}
			if take == op.Len {
				return ops
			}
			op.Len -= take
			if op.Len == 1 {
				op.Rev = false
			}
		}
	}
	return append(ops, op)
}

// appendChangeHead appends the start of a change's canonical encoding,
// everything before its ops: version, author, sequence number, parents.
func appendChangeHead(b []byte, author *Author, seq uint64, parents []Hash) []byte {
	b = append(b, changeVersion)
	b = append(b, author[:]...)
	return appendSeqParents(b, seq, parents)
}

// appendSeqParents appends the part of a change's head after its author:
// sequence number and parents.
func appendSeqParents(b []byte, seq uint64, parents []Hash) []byte {
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(parents)))
	for i := range parents {
		b = append(b, parents[i][:]...)
	}
	return b
}

// appendChangeBody appends c's canonical encoding (everything but the hash)
// to b.
func appendChangeBody(b []byte, c *Change) []byte {
	b = appendChangeHead(b, &c.Author, c.Seq, c.Parents)
	b = binary.AppendUvarint(b, uint64(len(c.Ops)))
	text := 0
	for i := range c.Ops {
		op := &c.Ops[i]
		b = binary.AppendUvarint(b, opHeader(op.Kind, op.Len, op.Rev))
		b = binary.AppendUvarint(b, uint64(op.Pos))
		text += len(op.Text)
	}
	b = binary.AppendUvarint(b, uint64(text))
	for i := range c.Ops {
		b = append(b, c.Ops[i].Text...)
	}
	return b
}

func opHeader(k OpKind, n int, rev bool) uint64 {
	h := uint64(n) << 2
	if k == Delete {
		h |= 2
	}
	if rev {
		h |= 1
	}
	return h
}

// hashChange returns the hash of the change body (its canonical encoding)
// in document id. A body of up to a few hundred bytes (typing) is hashed
// from a buffer on the stack, through a pooled hasher whose midstates
// remember the first block of the last few authors seen (see hasher), so a
// typed keystroke costs one SHA-256 block instead of two.
func hashChange(id DocID, body []byte) Hash {
	var a [48]byte
	pre := hashPrefix(a[:0], id)
	if len(pre)+len(body) < sha256.BlockSize {
		return sha256.Sum256(append(pre, body...))
	}
	h := hasherPool.Get().(*hasher)
	// The slot is a guess from the author's first key byte: a wrong or
	// shared slot only costs recomputing its midstate.
	sum := h.hashParts(int(body[1])%pooledSlots, pre, body)
	hasherPool.Put(h)
	return sum
}

// hasherPool holds hashers for hashChange; each keeps at most pooledSlots
// midstates (about 1.6 KB), and the pool drops idle ones at each GC.
var hasherPool = sync.Pool{New: func() any { return new(hasher) }}

const pooledSlots = 8

// hasher computes the hashes of one document's changes. What a hash covers
// starts with the domain, the document id, the version byte and the
// author's key, and the first 64 of those bytes (SHA-256's block) depend on
// the document and the author only. So hasher keeps, per author slot, the
// SHA-256 state after that block, and a change costs the blocks of the
// rest: one instead of two for a typed keystroke. A slot remembers the
// block it stands for and is recomputed when a buffer starts otherwise, so
// a wrong slot costs time, never a wrong hash. Its memory is about 320
// bytes per author.
//
// The rest is padded here (SHA-256's padding: 0x80, zeros, the message's
// length in bits) and written as whole blocks, and the hash is read from
// the digest's saved state, whose first words after the format's magic
// are the chaining value, that is the hash once the padding is in. This
// skips Sum's copy of the digest and its extra write. Whether the saved
// state has that layout is checked once against sha256.Sum256 (rawState);
// if not, Sum is used. Where the digest's memory has a known layout
// (digestMirror), the midstate is restored and the chaining value read by
// copying memory instead, which halves the cost around each block.
type hasher struct {
	d     hash.Hash
	dp    *digestLayout // d's memory, when digestMirror
	state binaryState   // d
	mids  []midstate
	tail  []byte // the padded rest of the message
	out   []byte // the saved state or Sum's output, reused
	// blk holds the rest of a message that fits two blocks with its
	// padding, for blockAfter: its callers write the message's bytes
	// at its start.
	blk [2 * sha256.BlockSize]byte
}

// binaryState is how crypto/sha256's digest saves and restores its state.
type binaryState interface {
	AppendBinary(b []byte) ([]byte, error)
	UnmarshalBinary(b []byte) error
}

type midstate struct {
	ok    bool
	block [sha256.BlockSize]byte
	state []byte       // d's marshaled state after block
	dig   digestLayout // d's memory after block, when digestMirror
}

// digestLayout is crypto/sha256's digest as Go 1.26 lays it out (its
// fields hold no pointers). When the digest sha256.New returns has exactly
// this layout (digestMirror), a hasher restores an author's midstate by
// copying it over the digest's memory and reads the chaining value from
// it, instead of UnmarshalBinary and AppendBinary, which cost about as
// much as the block they surround. Any other layout (another Go release,
// BoringCrypto) keeps the marshaling path.
type digestLayout struct {
	h     [8]uint32
	x     [sha256.BlockSize]byte
	nx    int
	len   uint64
	is224 bool
}

// digestMirror reports whether sha256.New's digest is laid out as
// digestLayout: the same field names, kinds, sizes and offsets, checked
// by reflection, and a two-block message hashed through the mirror (first
// block saved, the digest dirtied, the saved state copied back, the
// padded second block written, the words read) equal to sha256.Sum256.
var digestMirror = sync.OnceValue(func() bool {
	d := sha256.New()
	t := reflect.TypeOf(d)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return false
	}
	t, m := t.Elem(), reflect.TypeOf(digestLayout{})
	if t.Size() != m.Size() || t.NumField() != m.NumField() {
		return false
	}
	for i := range m.NumField() {
		a, b := t.Field(i), m.Field(i)
		if a.Name != b.Name || a.Offset != b.Offset || a.Type.Kind() != b.Type.Kind() || a.Type.Size() != b.Type.Size() {
			return false
		}
	}
	msg := make([]byte, 100)
	for i := range msg {
		msg[i] = byte(i*13 + 5)
	}
	dp := (*digestLayout)(reflect.ValueOf(d).UnsafePointer())
	d.Write(msg[:sha256.BlockSize])
	mid := *dp
	d.Write(msg) // dirty the state
	*dp = mid
	var blk [sha256.BlockSize]byte
	k := copy(blk[:], msg[sha256.BlockSize:])
	blk[k] = 0x80
	binary.BigEndian.PutUint64(blk[sha256.BlockSize-8:], uint64(len(msg))*8)
	d.Write(blk[:])
	return dp.sum() == sha256.Sum256(msg)
})

// sum returns the chaining value d holds, big-endian: the hash, once the
// message's padding has been written.
func (d *digestLayout) sum() Hash {
	var s Hash
	binary.BigEndian.PutUint32(s[0:], d.h[0])
	binary.BigEndian.PutUint32(s[4:], d.h[1])
	binary.BigEndian.PutUint32(s[8:], d.h[2])
	binary.BigEndian.PutUint32(s[12:], d.h[3])
	binary.BigEndian.PutUint32(s[16:], d.h[4])
	binary.BigEndian.PutUint32(s[20:], d.h[5])
	binary.BigEndian.PutUint32(s[24:], d.h[6])
	binary.BigEndian.PutUint32(s[28:], d.h[7])
	return s
}

// rawMagic is the start of a saved SHA-256 state; the chaining value
// follows it.
const rawMagic = "sha\x03"

// rawState reports whether a SHA-256 digest's saved state holds the
// chaining value, big-endian, right after rawMagic, checked on a
// two-block message.
var rawState = sync.OnceValue(func() bool {
	msg := make([]byte, 100)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	var h hasher
	h.d = sha256.New()
	h.state = h.d.(binaryState)
	h.d.Write(msg[:sha256.BlockSize])
	got, ok := h.finishRaw(msg[sha256.BlockSize:], len(msg))
	return ok && got == sha256.Sum256(msg)
})

// hash returns the SHA-256 of buf (hashPrefix followed by a change body),
// using the state cached in slot (an author index).
func (h *hasher) hash(slot int, buf []byte) Hash { return h.hashParts(slot, nil, buf) }

// hashParts returns the SHA-256 of pre followed by body, using the state
// cached in slot; pre is shorter than a block. Both are only read, never
// handed to the digest, so a caller's stack buffer stays there.
func (h *hasher) hashParts(slot int, pre, body []byte) Hash {
	n := len(pre) + len(body)
	if n < sha256.BlockSize || len(pre) >= sha256.BlockSize || slot < 0 || slot > 1<<20 {
		return sha256.Sum256(append(slices.Clip(pre), body...))
	}
	if h.d == nil {
		h.d = sha256.New()
		h.state = h.d.(binaryState)
		if digestMirror() {
			h.dp = (*digestLayout)(reflect.ValueOf(h.d).UnsafePointer())
		}
	}
	if slot >= len(h.mids) {
		h.mids = append(h.mids, make([]midstate, slot+1-len(h.mids))...)
	}
	m := &h.mids[slot]
	k := sha256.BlockSize - len(pre) // body bytes in the first block
	if !m.ok || string(m.block[:len(pre)]) != string(pre) || string(m.block[len(pre):]) != string(body[:k]) {
		copy(m.block[copy(m.block[:], pre):], body)
		h.d.Reset()
		h.d.Write(m.block[:])
		st, err := h.state.AppendBinary(m.state[:0])
		if err != nil {
			m.ok = false
			return sha256.Sum256(append(slices.Clip(pre), body...))
		}
		m.ok, m.state = true, st
		if h.dp != nil {
			m.dig = *h.dp
		}
	}
	if !h.restore(m) {
		return sha256.Sum256(append(slices.Clip(pre), body...))
	}
	if rawState() {
		if sum, ok := h.finishRaw(body[k:], n); ok {
			return sum
		}
		return sha256.Sum256(append(slices.Clip(pre), body...))
	}
	h.tail = append(h.tail[:0], body[k:]...)
	h.d.Write(h.tail)
	h.out = h.d.Sum(h.out[:0])
	return Hash(h.out)
}

// firstAuthorBytes is how many bytes of the author's key the first SHA-256
// block of a change hash holds, after hashPrefix and the version byte (the
// rest of the block): that block depends on the document and the author
// only, so a hasher slot kept for an author of one document always holds it.
var firstAuthorBytes = sha256.BlockSize - len(changeDomain) - len(DocID{}) - 1

// hashAfter returns the SHA-256 of the message made of the first block
// that slot holds followed by rest, which the caller knows to be that
// block (a log's slot for one of its authors, filled by hash: see
// firstAuthorBytes); it reports false if the slot holds none or the saved
// state cannot be read raw, and then the caller hashes the whole message.
// It pads rest in place and returns it, so the caller keeps its array:
// the message's first block is never rebuilt, copied or compared.
func (h *hasher) hashAfter(slot int, rest []byte) (Hash, []byte, bool) {
	if slot < 0 || slot >= len(h.mids) || !h.mids[slot].ok || !rawState() || !h.restore(&h.mids[slot]) {
		return Hash{}, rest, false
	}
	return h.padRaw(rest, sha256.BlockSize+len(rest))
}

// restore puts d back in the state m saved (after its first block).
func (h *hasher) restore(m *midstate) bool {
	if h.dp != nil {
		*h.dp = m.dig
		return true
	}
	return h.state.UnmarshalBinary(m.state) == nil
}

// chain returns d's chaining value (the hash, once the message's padding
// is in), from its memory or its saved state.
func (h *hasher) chain() (Hash, bool) {
	if h.dp != nil {
		return h.dp.sum(), true
	}
	st, err := h.state.AppendBinary(h.out[:0])
	h.out = st
	if err != nil || len(st) < len(rawMagic)+sha256.Size || string(st[:len(rawMagic)]) != rawMagic {
		return Hash{}, false
	}
	return Hash(st[len(rawMagic):]), true
}

// maxBlockRest is the longest rest of a message that h.blk holds with its
// padding (0x80 and the 8-byte length): a typed change's rest takes one
// block, a merge's (two parent hashes) two.
const maxBlockRest = 2*sha256.BlockSize - 9

// blockAfter is hashAfter for a rest of k <= maxBlockRest bytes that the
// caller wrote at the start of h.blk: the padding goes in place and the
// one or two blocks are hashed, with no buffer grown or copied. The caller
// checks rawState once, not per call.
func (h *hasher) blockAfter(slot, k int) (Hash, bool) {
	if slot < 0 || slot >= len(h.mids) || !h.mids[slot].ok || k < 0 || k > maxBlockRest || !h.restore(&h.mids[slot]) {
		return Hash{}, false
	}
	b := h.blk[:]
	if k <= sha256.BlockSize-9 {
		b = h.blk[:sha256.BlockSize]
	}
	n := len(b)
	b[k] = 0x80
	clear(b[k+1 : n-8])
	binary.BigEndian.PutUint64(b[n-8:], uint64(sha256.BlockSize+k)*8)
	h.d.Write(b)
	return h.chain()
}

// finishRaw hashes rest into d, which holds the state after the first
// block of a message of n bytes, with the message's padding, and returns
// the chaining value read from the saved state.
func (h *hasher) finishRaw(rest []byte, n int) (Hash, bool) {
	var sum Hash
	var ok bool
	sum, h.tail, ok = h.padRaw(append(h.tail[:0], rest...), n)
	return sum, ok
}

// padRaw appends to t, the end of a message of n bytes whose start d has
// hashed, the message's padding, hashes it into d and returns the chaining
// value read from the saved state, and t padded.
func (h *hasher) padRaw(t []byte, n int) (Hash, []byte, bool) {
	// 0x80, zeros up to 8 bytes short of a block boundary, the length:
	// written in place when t has room (it does from the second change
	// on), rather than appended piece by piece.
	k := len(t)
	pad := 1 + (sha256.BlockSize+55-k%sha256.BlockSize)%sha256.BlockSize
	t = slices.Grow(t, pad+8)[:k+pad+8]
	t[k] = 0x80
	clear(t[k+1 : k+pad])
	binary.BigEndian.PutUint64(t[k+pad:], uint64(n)*8)
	h.d.Write(t)
	sum, ok := h.chain()
	return sum, t, ok
}

// hashPrefix appends what a change hash covers before the change's body;
// a body appended after it can then be hashed with hashPrefixed, with no
// allocation.
func hashPrefix(b []byte, id DocID) []byte {
	return append(append(b, changeDomain...), id[:]...)
}

func hashPrefixed(buf []byte) Hash { return sha256.Sum256(buf) }

// Encode returns c's canonical encoding.
func (c *Change) Encode() []byte { return appendChangeBody(nil, c) }

// DecodeChange decodes and checks a change of document id. It rejects
// anything but the canonical encoding, and sets Hash.
func DecodeChange(id DocID, b []byte) (*Change, error) {
	d := decoder{b: b}
	if v := d.byte(); v != changeVersion && d.err == nil {
		return nil, invalidf("change: unknown version %d", v)
	}
	author := d.bytes(32)
	seq := d.uvarint()
	np := d.count(32)
	// A typed change (one or two parents, one op run) is one allocation.
	var c *Change
	switch {
	case np <= 1 && len(d.b) > 32*np && d.b[32*np] == 1: // the op count
		sc := &smallChange1{}
		c = &sc.c
		c.Parents = sc.parents[:np:np]
		c.Ops = sc.ops[:0:1]
	case np == 2 && len(d.b) > 32*np && d.b[32*np] == 1:
		sc := &smallChange{}
		c = &sc.c
		c.Parents = sc.parents[:np:np]
		c.Ops = sc.ops[:0:1]
	default:
		c = &Change{}
		if np > 0 {
			c.Parents = make([]Hash, np)
		}
	}
	copy(c.Author[:], author)
	c.Seq = seq
	if np > 0 {
		for i := range c.Parents {
			copy(c.Parents[i][:], d.bytes(32))
			if i > 0 && string(c.Parents[i-1][:]) >= string(c.Parents[i][:]) && d.err == nil {
				d.fail("parents not sorted and unique")
			}
		}
	}
	nops := d.count(2)
	if nops == 0 && d.err == nil {
		d.fail("no ops")
	}
	if cap(c.Ops) < nops {
		c.Ops = make([]Op, 0, nops)
	}
	total := 0
	textRunes := 0
	for i := 0; i < nops && d.err == nil; i++ {
		h := d.uvarint()
		pos := d.uvarint()
		op := Op{Kind: Insert, Len: int(min(h>>2, MaxChangeOps+1)), Pos: int(min(pos, maxPos+1)), Rev: h&1 == 1}
		if h&2 != 0 {
			op.Kind = Delete
		}
		switch {
		case d.err != nil:
		case op.Len == 0 || h>>2 > MaxChangeOps:
			d.fail("op length %d", h>>2)
		case pos > maxPos:
			d.fail("op position %d", pos)
		case op.Rev && (op.Kind == Insert || op.Len == 1):
			d.fail("non-canonical op direction")
		}
		total += op.Len
		if op.Kind == Insert {
			textRunes += op.Len
		}
		if total > MaxChangeOps && d.err == nil {
			d.fail("more than %d ops", MaxChangeOps)
		}
		if d.err == nil && len(c.Ops) > 0 {
			if take, _ := opTake(&c.Ops[len(c.Ops)-1], &op); take > 0 {
				d.fail("non-canonical op runs")
			}
		}
		c.Ops = append(c.Ops, op)
	}
	text := d.bytes(d.count(1))
	if d.err == nil {
		if !utf8.Valid(text) {
			d.fail("text is not UTF-8")
		} else if utf8.RuneCount(text) != textRunes {
			d.fail("text holds %d code points, ops insert %d", utf8.RuneCount(text), textRunes)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	splitText(c.Ops, string(text))
	c.Hash = hashChange(id, b)
	return c, nil
}

// smallChange holds a change with two parents and one op run in one
// allocation; smallChange1, with at most one parent, fits a smaller size
// class (240 bytes instead of 288).
type smallChange struct {
	c       Change
	parents [2]Hash
	ops     [1]Op
}

type smallChange1 struct {
	c       Change
	parents [1]Hash
	ops     [1]Op
}

// decoder reads untrusted bytes; the first error sticks and later reads
// return zero values, so callers check d.err once per step.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = invalidf(format, args...)
	}
	d.b = nil // later reads take their slow paths, which see err
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated: want %d bytes, have %d", n, len(d.b))
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// uvarint reads a minimal unsigned varint. One- and two-byte values
// (nearly all) are read here; longer ones go through uvarintLong. After an
// error d.b is empty, so the fast path never runs.
func (d *decoder) uvarint() uint64 {
	b := d.b
	if len(b) > 0 && b[0] < 0x80 {
		d.b = b[1:]
		return uint64(b[0])
	}
	if len(b) > 1 && b[1] < 0x80 && b[1] != 0 { // two bytes, minimal
		d.b = b[2:]
		return uint64(b[0]&0x7f) | uint64(b[1])<<7
	}
	return d.uvarintLong()
}

func (d *decoder) uvarintLong() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that the rest of the input can hold that
// many items of at least min bytes each, so a hostile count cannot make the
// caller allocate more than the input justifies.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/min) {
		d.fail("count %d exceeds the input", v)
		return 0
	}
	return int(v)
}

// appendBody appends the canonical encoding of the change made of LVs
// [start, end) with the given parents (sorted) to b, building it straight
// from the op log. ops is scratch space; the canonical ops (without text)
// are returned in it.
func (l *oplog) appendBody(b []byte, start, end int, parents []Hash, ops []Op) ([]byte, []Op) {
	b, ops, _ = l.appendBodyText(b, start, end, parents, ops)
	return b, ops
}

// appendBodyText is appendBody that also returns the change's text.
func (l *oplog) appendBodyText(b []byte, start, end int, parents []Hash, ops []Op) ([]byte, []Op, []byte) {
	agent, seq := l.agentAt(start)
	ops = ops[:0]
	tStart, tEnd := -1, -1
	ri0 := l.opIndex(start)
	single := start < end && end <= l.ops[ri0].end()
	if single {
		ri := ri0
		// Inside one run (a typed change): one op, canonical as it is.
		r := &l.ops[ri]
		i, j := start-r.lv, end-r.lv
		if r.kind == Insert {
			tStart, tEnd = l.runByteRange(ri, i, j)
		}
		op := r.piece(i, j)
		if op.Len == 1 {
			op.Rev = false
		}
		ops = append(ops, op)
	}
	if !single && start < end {
		// One op per run at most: one allocation for a long change.
		if k := l.opIndex(end-1) - ri0 + 1; cap(ops) < k {
			ops = make([]Op, 0, k)
		}
	}
	for ri, s := ri0, start; s < end && !single; ri++ {
		r := &l.ops[ri]
		i, j := s-r.lv, min(end, r.end())-r.lv
		if r.kind == Insert {
			bs, be := l.runByteRange(ri, i, j)
			if tStart < 0 {
				tStart = bs
			}
			tEnd = be
		}
		ops = appendOp(ops, r.piece(i, j))
		s += j - i
	}
	var text []byte
	if tStart >= 0 {
		text = l.content[tStart:tEnd]
	}
	b = appendChangeHead(b, &l.agents[agent], seq, parents)
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for i := range ops {
		op := &ops[i]
		b = binary.AppendUvarint(b, opHeader(op.Kind, op.Len, op.Rev))
		b = binary.AppendUvarint(b, uint64(op.Pos))
	}
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...), ops, text
}
