package crdt

import (
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"unicode/utf8"
)

// Document encoding: a whole history, or the part of it a peer lacks, in
// columns. Change boundaries, authors and parents are run-length encoded
// references, never hashes: hashes are recomputed on decode, so a history
// of many small changes costs little more than one big change.
//
//	magic "QRD" version(2; 1 is read too: it has no signature column)
//	doc id [16]
//	agents: n, then per agent: key [32], first sequence number
//	external parents: n, then hashes [32] (changes outside the encoding)
//	changes: n
//	  authors: runs of (agent index, count)
//	  op counts: runs of (count, repeat)
//	  parents: tokens; even t: t/2 changes whose parents are the defaults
//	    (the end of the previous change; none for the first), odd t: one
//	    change whose parents are the previous change if t&2 is set, and
//	    t/4 more, each a reference: even r: the change r/2 before this
//	    one, odd r: external parent r/2
//	  signatures (version 2): n, then per signature: the index of its
//	    change less the previous signature's index plus one (so the first
//	    is the index itself), the signature [64]
//	op runs: n, then per run: header (len<<2 | delete<<1 | rev), position
//	  as a zigzag delta from where the previous run left the cursor
//	text: 0 raw | 1 DEFLATE, its length, (compressed length,) bytes
const (
	encMagic   = "QRD"
	encVersion = 2
	// encVersionUnsigned is the previous version, without signatures,
	// which this build still reads.
	encVersionUnsigned = 1
	// MaxEncodedOps bounds the ops of one decoded encoding.
	MaxEncodedOps = 1 << 28
	// maxChangesPerByte bounds how many changes an encoding may describe
	// per byte of it (a history typed one change per keystroke takes
	// about a third of a byte per change).
	maxChangesPerByte = 64
)

// Encode returns the whole history with the signatures d retains. Seals
// the open local change first. Replicas holding the same changes and
// signatures produce the same bytes: changes are written in a canonical
// topological order, not in arrival order.
func (d *Doc) Encode() []byte {
	d.sealOpen()
	return d.encodeChanges(d.canonicalOrder(nil))
}

// EncodeSince returns the changes not covered by v, for a peer at v, with
// the signatures d retains of them. A peer that verifies accepts it if
// every author's last change in it is signed (see EncodeBatch for a form
// that ensures this and bounds the size).
func (d *Doc) EncodeSince(v Vector) []byte {
	d.sealOpen()
	return d.encodeChanges(d.canonicalOrder(d.changesSince(v)))
}

// changesSince returns the indexes of the changes not covered by v.
func (d *Doc) changesSince(v Vector) []int {
	l := d.log
	sel := []int{}
	for ci := range l.changes {
		start, end := l.changes[ci], l.changeEnd(ci)
		agent, seq := l.agentAt(start)
		if v[l.agents[agent]] < seq+uint64(end-start) {
			sel = append(sel, ci)
		}
	}
	return sel
}

// canonicalOrder returns the changes sel (nil: all) in an order that
// depends only on the change graph: Kahn's topological sort that prefers a
// child of the change just emitted (so one author's typing stays together)
// and otherwise the smallest hash.
func (d *Doc) canonicalOrder(sel []int) []int {
	l := d.log
	if sel == nil {
		sel = make([]int, len(l.changes))
		for i := range sel {
			sel[i] = i
		}
	}
	in := make(map[int]int, len(sel)) // change -> unmet parents within sel
	children := make(map[int][]int, len(sel))
	inSel := make(map[int]bool, len(sel))
	for _, ci := range sel {
		inSel[ci] = true
	}
	for _, ci := range sel {
		for _, p := range l.parentsOf(l.changes[ci]) {
			pc := l.changeAt(p)
			if inSel[pc] {
				in[ci]++
				children[pc] = append(children[pc], ci)
			}
		}
	}
	l.ensureHashed()
	less := func(a, b int) bool {
		return bytes.Compare(l.hashes.at(a)[:], l.hashes.at(b)[:]) < 0
	}
	ready := heap[int]{before: less}
	taken := map[int]bool{} // emitted as a child of the previous change
	for _, ci := range sel {
		if in[ci] == 0 {
			ready.push(ci)
		}
	}
	out := make([]int, 0, len(sel))
	prev := -1
	for {
		for ready.len() > 0 && taken[ready.top()] {
			ready.pop()
		}
		if ready.len() == 0 {
			break
		}
		next := -1
		if prev >= 0 {
			// The smallest ready child of prev, if any.
			for _, c := range children[prev] {
				if in[c] == 0 && !taken[c] && (next < 0 || less(c, next)) {
					next = c
				}
			}
		}
		if next >= 0 {
			taken[next] = true
		} else {
			next = ready.pop()
		}
		out = append(out, next)
		prev = next
		for _, c := range children[next] {
			if in[c]--; in[c] == 0 {
				ready.push(c)
			}
		}
	}
	return out
}

// encodeChanges encodes the changes sel (indexes, in encoding order; nil:
// all, in log order) and the signatures d retains of them.
func (d *Doc) encodeChanges(sel []int) []byte {
	l := d.log
	sigOf := d.sigsByChange()
	var sigs []byte
	nsig, lastSig := 0, -1
	all := sel == nil
	n := len(sel)
	if all {
		n = len(l.changes)
	}
	at := func(i int) int {
		if all {
			return i
		}
		return sel[i]
	}
	pos := make(map[int]int, n) // change index -> position in sel
	if !all {
		for i, ci := range sel {
			pos[ci] = i
		}
	}
	agentOf := map[int]int{} // log agent -> encoded agent
	var agents []int
	var firstSeq []uint64
	var externals []Hash
	extIdx := map[Hash]int{}
	var authors, counts, parents []byte
	var authRun, authLen, cntVal, cntLen, defRun int
	var refs []uint64
	// When the order is the log's own (always so for one author), the op
	// runs and text are the log's: rebuilding them would give the same.
	inOrder := n == len(l.changes)
	for i := 0; inOrder && i < n; i++ {
		inOrder = at(i) == i
	}
	runs := newOplog()
	if inOrder {
		runs.ops, runs.content = l.ops, l.content
	}
	for i := 0; i < n; i++ {
		ci := at(i)
		start, end := l.changes[ci], l.changeEnd(ci)
		agent, seq := l.agentAt(start)
		ea, ok := agentOf[agent]
		if !ok {
			ea = len(agents)
			agentOf[agent] = ea
			agents = append(agents, agent)
			firstSeq = append(firstSeq, seq)
		}
		if i > 0 && ea == authRun {
			authLen++
		} else {
			if i > 0 {
				authors = binary.AppendUvarint(binary.AppendUvarint(authors, uint64(authRun)), uint64(authLen))
			}
			authRun, authLen = ea, 1
		}
		if cnt := end - start; i > 0 && cnt == cntVal {
			cntLen++
		} else {
			if i > 0 {
				counts = binary.AppendUvarint(binary.AppendUvarint(counts, uint64(cntVal)), uint64(cntLen))
			}
			cntVal, cntLen = cnt, 1
		}
		if sig := sigOf[ci]; sig != nil {
			sigs = binary.AppendUvarint(sigs, uint64(i-lastSig-1))
			sigs = append(sigs, sig[:]...)
			nsig, lastSig = nsig+1, i
		}
		ps := l.parentsOf(start)
		prevEnd := -1
		if i > 0 {
			prevEnd = l.changeEnd(at(i-1)) - 1
		}
		if (i == 0 && len(ps) == 0) || (i > 0 && len(ps) == 1 && ps[0] == prevEnd) {
			defRun++
		} else {
			if defRun > 0 {
				parents = binary.AppendUvarint(parents, uint64(defRun)<<1)
				defRun = 0
			}
			refs = refs[:0]
			withPrev := uint64(0)
			for _, p := range ps {
				if i > 0 && p == prevEnd {
					withPrev = 1
					continue
				}
				pc := l.changeAt(p)
				if j, ok := pos[pc]; ok || all {
					if all {
						j = pc
					}
					refs = append(refs, uint64(i-j)<<1)
					continue
				}
				h := l.hashOf(pc)
				e, ok := extIdx[h]
				if !ok {
					e = len(externals)
					extIdx[h] = e
					externals = append(externals, h)
				}
				refs = append(refs, uint64(e)<<1|1)
			}
			// Sorted, so the bytes do not depend on this replica's LVs.
			slices.Sort(refs)
			parents = binary.AppendUvarint(parents, uint64(len(refs))<<2|withPrev<<1|1)
			for _, r := range refs {
				parents = binary.AppendUvarint(parents, r)
			}
		}
		for s := start; s < end && !inOrder; {
			ri := l.opIndex(s)
			r := &l.ops[ri]
			i, j := s-r.lv, min(end, r.end())-r.lv
			op := r.piece(i, j)
			var text string
			if r.kind == Insert {
				bs, be := l.runByteRange(ri, i, j)
				text = unsafeString(l.content[bs:be])
			}
			runs.pushOp(op.Kind, op.Pos, op.Len, op.Rev, text)
			s += j - i
		}
	}
	if n > 0 {
		authors = binary.AppendUvarint(binary.AppendUvarint(authors, uint64(authRun)), uint64(authLen))
		counts = binary.AppendUvarint(binary.AppendUvarint(counts, uint64(cntVal)), uint64(cntLen))
	}
	if defRun > 0 {
		parents = binary.AppendUvarint(parents, uint64(defRun)<<1)
	}

	b := append([]byte(encMagic), encVersion)
	b = append(b, d.id[:]...)
	b = binary.AppendUvarint(b, uint64(len(agents)))
	for i, a := range agents {
		b = append(b, l.agents[a][:]...)
		b = binary.AppendUvarint(b, firstSeq[i])
	}
	b = binary.AppendUvarint(b, uint64(len(externals)))
	for _, h := range externals {
		b = append(b, h[:]...)
	}
	b = binary.AppendUvarint(b, uint64(n))
	b = appendBlock(b, authors)
	b = appendBlock(b, counts)
	b = appendBlock(b, parents)
	b = binary.AppendUvarint(b, uint64(nsig))
	b = append(b, sigs...)

	b = binary.AppendUvarint(b, uint64(len(runs.ops)))
	cursor := 0
	for i := range runs.ops {
		r := &runs.ops[i]
		b = binary.AppendUvarint(b, opHeader(r.kind, r.n, r.rev))
		b = binary.AppendVarint(b, int64(r.pos-cursor))
		cursor = r.pos
		if r.kind == Insert {
			cursor += r.n
		}
	}
	return appendText(b, runs.content)
}

func appendBlock(b, block []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(block)))
	return append(b, block...)
}

// appendText appends the inserted text, DEFLATE-compressed when that pays.
func appendText(b, text []byte) []byte {
	if len(text) >= 512 {
		// The compressed bytes go straight after the header, whose
		// compressed-length varint is written once their size is known.
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(text)))
		head := len(b)
		out := sliceWriter{b: b}
		w, _ := flateWriters.Get().(*flate.Writer)
		if w == nil {
			w, _ = flate.NewWriter(&out, textLevel)
		} else {
			w.Reset(&out)
		}
		w.Write(text)
		w.Close()
		w.Reset(nil)
		flateWriters.Put(w)
		if clen := len(out.b) - head; clen < len(text) {
			var lenBuf [binary.MaxVarintLen64]byte
			k := binary.PutUvarint(lenBuf[:], uint64(clen))
			out.b = append(out.b, lenBuf[:k]...)
			copy(out.b[head+k:], out.b[head:head+clen])
			copy(out.b[head:], lenBuf[:k])
			return out.b
		}
		b = out.b[:head-1-uvarintLen(uint64(len(text)))]
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...)
}

// textLevel is the DEFLATE level of the text block.
const textLevel = 5

// flateWriters holds DEFLATE compressors between encodings: one costs
// about a megabyte to allocate and clear. sync.Pool bounds it (the GC
// empties it).
var flateWriters sync.Pool

// sliceWriter appends what is written to b.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// maxInflate bounds how much text a compressed block may claim per input
// byte (DEFLATE cannot do better than about 1032:1).
const maxInflate = 1032

func (dec *decoder) text() []byte {
	mode := dec.byte()
	n := dec.uvarint()
	if dec.err != nil {
		return nil
	}
	switch mode {
	case 0:
		// A copy: the document keeps its text, the caller its buffer.
		return bytes.Clone(dec.bytes(int(min(n, uint64(len(dec.b)+1)))))
	case 1:
		clen := dec.uvarint()
		if dec.err != nil {
			return nil
		}
		if clen > uint64(len(dec.b)) || n > clen*maxInflate+64 {
			dec.fail("text block sizes %d/%d do not fit the input", n, clen)
			return nil
		}
		comp := dec.bytes(int(clen))
		out := make([]byte, n)
		r := flate.NewReader(bytes.NewReader(comp))
		if _, err := io.ReadFull(r, out); err != nil {
			dec.fail("text: %v", err)
			return nil
		}
		if k, _ := r.Read(make([]byte, 1)); k != 0 {
			dec.fail("text longer than declared")
			return nil
		}
		return out
	default:
		dec.fail("text block mode %d", mode)
		return nil
	}
}

// encoding is a document encoding parsed into its columns.
type encoding struct {
	id       DocID
	agents   []Author
	firstSeq []uint64
	ext      []Hash
	nc       int
	// The change columns, read as the changes are rebuilt.
	authors, counts, parents decoder
	runs                     *oplog // op runs and text, LVs from 0
	total                    int
	sigs                     []encSig // ascending by change index
}

// encSig is a signature of an encoding: of its change index.
type encSig struct {
	index int
	sig   []byte
}

// parseEncoding checks and splits an encoding into its columns.
func parseEncoding(data []byte) (*encoding, error) {
	e := &encoding{}
	id := &e.id
	dec := decoder{b: data}
	if m := dec.bytes(len(encMagic)); dec.err == nil && string(m) != encMagic {
		return nil, invalidf("not a document encoding")
	}
	v := dec.byte()
	if dec.err == nil && v != encVersion && v != encVersionUnsigned {
		return nil, invalidf("document encoding version %d (this build reads %d and %d)", v, encVersionUnsigned, encVersion)
	}
	copy(id[:], dec.bytes(16))
	na := dec.count(33)
	e.agents = make([]Author, na)
	e.firstSeq = make([]uint64, na)
	for i := range e.agents {
		copy(e.agents[i][:], dec.bytes(32))
		e.firstSeq[i] = dec.uvarint()
	}
	e.ext = make([]Hash, dec.count(32))
	for i := range e.ext {
		copy(e.ext[i][:], dec.bytes(32))
	}
	// Change boundaries are run-length encoded, so a history can hold many
	// more changes than the encoding has bytes; bound the expansion so
	// what a decoder allocates stays proportional to its input.
	if nc := dec.uvarint(); nc > maxChangesPerByte*uint64(len(data)) {
		dec.fail("%d changes in %d bytes", nc, len(data))
	} else {
		e.nc = int(nc)
	}
	e.authors = decoder{b: dec.bytes(dec.count(1))}
	e.counts = decoder{b: dec.bytes(dec.count(1))}
	e.parents = decoder{b: dec.bytes(dec.count(1))}
	if v == encVersion {
		e.sigs = make([]encSig, dec.count(1+ed25519.SignatureSize))
		next := 0
		for i := range e.sigs {
			delta := dec.uvarint()
			if dec.err == nil && delta >= uint64(e.nc-next) {
				dec.fail("signature %d: change index out of range", i)
			}
			e.sigs[i] = encSig{index: next + int(delta), sig: dec.bytes(ed25519.SignatureSize)}
			next = e.sigs[i].index + 1
		}
	}
	nr := dec.count(2)
	runs := newOplog()
	runs.ops = make([]opRun, 0, nr)
	cursor := 0
	total := 0
	for i := 0; i < nr && dec.err == nil; i++ {
		h := dec.uvarint()
		delta, k := binary.Varint(dec.b)
		if k <= 0 {
			dec.fail("bad varint")
			break
		}
		dec.b = dec.b[k:]
		n := h >> 2
		pos := int64(cursor) + delta
		if n == 0 || n > MaxEncodedOps || pos < 0 || pos > maxPos {
			dec.fail("op run %d: length %d at %d", i, n, pos)
			break
		}
		if h&1 == 1 && (h&2 == 0 || n == 1) {
			// Only a delete run of several ops has a direction; a stray
			// bit would change the text but no hash.
			dec.fail("op run %d: non-canonical direction", i)
			break
		}
		total += int(n)
		if total > MaxEncodedOps {
			dec.fail("more than %d ops", MaxEncodedOps)
			break
		}
		r := opRun{lv: total - int(n), n: int(n), pos: int(pos), kind: Insert, rev: h&1 == 1}
		if h&2 != 0 {
			r.kind = Delete
		}
		runs.ops = append(runs.ops, r)
		cursor = int(pos)
		if r.kind == Insert {
			cursor += int(n)
		}
	}
	text := dec.text()
	if dec.err == nil && len(dec.b) > 0 {
		dec.fail("%d trailing bytes", len(dec.b))
	}
	if dec.err != nil {
		return nil, dec.err
	}
	if !utf8.Valid(text) {
		return nil, invalidf("text is not UTF-8")
	}
	// Give insert runs their text. All-ASCII text (the common case) needs
	// no scan per run.
	allASCII := utf8.RuneCount(text) == len(text)
	off := 0
	for i := range runs.ops {
		r := &runs.ops[i]
		if r.kind != Insert {
			continue
		}
		r.cont = off
		if allASCII {
			if off+r.n > len(text) {
				return nil, invalidf("text ends before op run %d", i)
			}
			r.ascii = true
			off += r.n
			continue
		}
		k := 0
		ascii := true
		for j := 0; j < r.n; j++ {
			if off+k >= len(text) {
				return nil, invalidf("text ends before op run %d", i)
			}
			c := text[off+k]
			if c < utf8.RuneSelf {
				k++
				continue
			}
			ascii = false
			_, sz := utf8.DecodeRune(text[off+k:])
			k += sz
		}
		r.ascii = ascii
		off += k
	}
	if off != len(text) {
		return nil, invalidf("%d bytes of text left over", len(text)-off)
	}
	runs.content = text
	e.runs = runs
	e.total = total
	return e, nil
}

// next reads the next change's author, op count and parent references
// (back references: positive distances; externals: negative -1-index;
// nil with def true for the default parents).
func (e *encoding) next(i int, st *colState) (agent, count int, refs []int, def bool, err error) {
	if st.authLeft == 0 {
		st.authRun, st.authLeft = int(min(e.authors.uvarint(), uint64(len(e.agents)))), int(e.authors.uvarint())
		if e.authors.err == nil && (st.authRun >= len(e.agents) || st.authLeft == 0) {
			return 0, 0, nil, false, invalidf("change %d: bad author run", i)
		}
	}
	if st.cntLeft == 0 {
		st.cntVal, st.cntLeft = int(min(e.counts.uvarint(), MaxChangeOps+1)), int(e.counts.uvarint())
		if e.counts.err == nil && (st.cntVal == 0 || st.cntVal > MaxChangeOps || st.cntLeft == 0) {
			return 0, 0, nil, false, invalidf("change %d: bad op count run", i)
		}
	}
	if err := firstErr(e.authors.err, e.counts.err); err != nil {
		return 0, 0, nil, false, fmt.Errorf("change %d: %w", i, err)
	}
	st.authLeft--
	st.cntLeft--
	refs = st.refs[:0]
	if st.defLeft == 0 {
		t := e.parents.uvarint()
		if t&1 == 0 {
			st.defLeft = int(min(t>>1, uint64(e.nc)+1))
			if st.defLeft == 0 && e.parents.err == nil {
				return 0, 0, nil, false, invalidf("change %d: empty parent run", i)
			}
		} else {
			if t&2 != 0 {
				if i == 0 {
					return 0, 0, nil, false, invalidf("change 0 follows no previous change")
				}
				refs = append(refs, 1)
			}
			k := int(min(t>>2, uint64(len(e.parents.b))+1))
			if k > len(e.parents.b) {
				return 0, 0, nil, false, invalidf("change %d: bad parent count", i)
			}
			for j := 0; j < k && e.parents.err == nil; j++ {
				r := e.parents.uvarint()
				if r&1 == 0 {
					back := r >> 1
					if back == 0 || back > uint64(i) {
						return 0, 0, nil, false, invalidf("change %d: parent reference %d out of range", i, back)
					}
					refs = append(refs, int(back))
				} else {
					x := r >> 1
					if x >= uint64(len(e.ext)) {
						return 0, 0, nil, false, invalidf("change %d: external parent %d out of range", i, x)
					}
					refs = append(refs, -1-int(x))
				}
			}
		}
	}
	if e.parents.err != nil {
		return 0, 0, nil, false, fmt.Errorf("change %d parents: %w", i, e.parents.err)
	}
	st.refs = refs
	if st.defLeft > 0 {
		st.defLeft--
		return st.authRun, st.cntVal, nil, true, nil
	}
	return st.authRun, st.cntVal, refs, false, nil
}

// finish checks that the columns were used up exactly.
func (e *encoding) finish(st *colState, lv int) error {
	if lv != e.total {
		return invalidf("op counts cover %d of %d ops", lv, e.total)
	}
	if len(e.authors.b) > 0 || len(e.counts.b) > 0 || len(e.parents.b) > 0 || st.authLeft > 0 || st.cntLeft > 0 || st.defLeft > 0 {
		return invalidf("change columns do not match the change count")
	}
	return nil
}

type colState struct {
	authRun, authLeft, cntVal, cntLeft, defLeft int
	refs                                        []int
}

// decodeChanges unpacks an encoding into changes, hashes computed.
func decodeChanges(data []byte) (DocID, []*Change, error) {
	e, err := parseEncoding(data)
	if err != nil {
		return DocID{}, nil, err
	}
	id := e.id
	runs, total := e.runs, e.total
	cs := make([]*Change, 0, e.nc)
	seqs := append([]uint64(nil), e.firstSeq...)
	var st colState
	lv := 0
	var body []byte
	var hs hasher // by the encoding's author index
	for i := 0; i < e.nc; i++ {
		agent, cnt, refs, def, err := e.next(i, &st)
		if err != nil {
			return id, nil, err
		}
		c := &Change{Author: e.agents[agent], Seq: seqs[agent]}
		seqs[agent] += uint64(cnt)
		if def {
			if i > 0 {
				c.Parents = []Hash{cs[i-1].Hash}
			}
		} else {
			for _, r := range refs {
				if r > 0 {
					c.Parents = append(c.Parents, cs[i-r].Hash)
				} else {
					c.Parents = append(c.Parents, e.ext[-1-r])
				}
			}
		}
		sortHashes(c.Parents)
		for j := 1; j < len(c.Parents); j++ {
			if c.Parents[j] == c.Parents[j-1] {
				return id, nil, invalidf("change %d: duplicate parent", i)
			}
		}
		cntVal := cnt
		// Ops.
		end := lv + cntVal
		if end > total {
			return id, nil, invalidf("change %d: op counts exceed the op runs", i)
		}
		for s := lv; s < end; {
			ri := runs.opIndex(s)
			r := &runs.ops[ri]
			a, z := s-r.lv, min(end, r.end())-r.lv
			op := r.piece(a, z)
			if r.kind == Insert {
				op.Text = runs.runText(ri, a, z)
			}
			c.Ops = appendOp(c.Ops, op)
			s += z - a
		}
		lv = end
		body = appendChangeBody(hashPrefix(body[:0], id), c)
		c.Hash = hs.hash(agent, body)
		cs = append(cs, c)
	}
	if err := e.finish(&st, lv); err != nil {
		return id, nil, err
	}
	for _, s := range e.sigs {
		cs[s.index].Sig = slices.Clone(s.sig)
	}
	return id, cs, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Decode returns the document held by an encoding, with author as the
// local author. It trusts nothing: hashes are recomputed, every change must
// follow its author's previous one, every op must fit the document it was
// made in, and every signature the encoding carries must verify (it does
// not require any: see DecodeVerified). The columns go straight into the
// op log; one merge then produces the text.
func Decode(data []byte, author Author) (*Doc, error) {
	d, err := decodeDoc(data, author, false, false)
	if err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	return d, nil
}

// DecodeVerified is Decode for a document from a peer that must prove
// every change's authorship: besides what Decode checks, each author's
// last change must carry a valid signature. Since each change of an author
// follows (through hash links Decode checks) the author's previous one,
// that signature covers all of the author's changes. The Doc it returns
// verifies what it is given later (SetVerify). To run an admission hook on
// every change of a whole document, use New, SetVerify, SetAdmit and
// ApplyEncoded instead.
func DecodeVerified(data []byte, author Author) (*Doc, error) {
	d, err := decodeDoc(data, author, false, true)
	if err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	return d, nil
}

// Load is Decode for an encoding this device wrote itself and kept under a
// checksum (a store snapshot): it checks the structure and every op as
// Decode does, but computes change hashes only when one is first needed
// (a lookup, a seal, an encoding), since hashing every change of a long
// history dominates opening it, and keeps the signatures unchecked.
func Load(data []byte, author Author) (*Doc, error) {
	d, err := decodeDoc(data, author, true, false)
	if err != nil {
		return nil, fmt.Errorf("load document: %w", err)
	}
	return d, nil
}

func decodeDoc(data []byte, author Author, trusted, verify bool) (*Doc, error) {
	e, err := parseEncoding(data)
	if err != nil {
		return nil, err
	}
	if len(e.ext) > 0 {
		return nil, invalidf("the encoding depends on %d changes it does not hold", len(e.ext))
	}
	d := New(e.id, author)
	l := d.log
	for i, a := range e.agents {
		if l.agent(a) != i {
			return nil, invalidf("author %s listed twice", a)
		}
		if e.firstSeq[i] != 0 {
			return nil, invalidf("author %s starts at sequence %d", a, e.firstSeq[i])
		}
	}
	l.ops, l.content = e.runs.ops, e.runs.content
	var st colState
	var parents []int
	var hashes []Hash
	l.changes = make([]int, 0, e.nc)
	if !trusted {
		l.hashes.reserve(e.nc)
	}
	defer l.trimHashScratch()
	lv := 0
	for i := 0; i < e.nc; i++ {
		agent, cnt, refs, def, err := e.next(i, &st)
		if err != nil {
			return nil, err
		}
		if cnt > e.total-lv {
			return nil, invalidf("change %d: op counts exceed the op runs", i)
		}
		parents = parents[:0]
		if def {
			if i > 0 {
				parents = append(parents, lv-1)
			}
		} else {
			for _, r := range refs {
				// The last op of change i-r: where the change after it
				// starts, less one (change i starts at lv).
				end := lv
				if j := i - r + 1; j < i {
					end = l.changes[j]
				}
				parents = append(parents, end-1)
			}
			sortInts(parents)
			if err := l.checkAntichain(parents); err != nil {
				return nil, fmt.Errorf("change %d: %w", i, err)
			}
		}
		if seq := l.next[agent]; seq > 0 {
			prev := l.lvOf(agent, seq-1)
			if !containsInt(parents, prev) && !l.contains(parents, prev) {
				return nil, invalidf("change %d by %s does not follow its author's previous change", i, e.agents[agent])
			}
		}
		l.assign(agent, lv, cnt)
		l.addGraph(lv, cnt, parents)
		// Every change of an encoding has its own (author, sequence), so
		// none can repeat another.
		if trusted {
			l.addUnhashed(lv)
		} else {
			hashes = hashes[:0]
			if def {
				if i > 0 {
					hashes = append(hashes, *l.hashes.at(i - 1))
				}
			} else {
				for _, r := range refs {
					hashes = append(hashes, *l.hashes.at(i - r))
				}
				sortHashes(hashes)
			}
			l.addChange(lv, l.changeHash(lv, lv+cnt, hashes))
		}
		// The changes after this one that share its author, op count and
		// default parents (an author typing on alone) follow their
		// author's previous change by construction: take them whole,
		// with one graph and author run, and hash them as a chain.
		if k := min(st.authLeft, st.cntLeft, st.defLeft, (e.total-lv-cnt)/cnt); def && k > 0 && i > 0 {
			first := lv + cnt
			l.assign(agent, first, k*cnt)
			l.addGraph(first, k*cnt, []int{first - 1})
			if trusted {
				for j := range k {
					l.addUnhashed(first + j*cnt)
				}
			} else {
				l.hashChain(first, cnt, k)
			}
			st.authLeft -= k
			st.cntLeft -= k
			st.defLeft -= k
			i += k
			lv += k * cnt
		}
		lv += cnt
	}
	if err := e.finish(&st, lv); err != nil {
		return nil, err
	}
	if err := d.takeSigs(e, trusted, verify); err != nil {
		return nil, err
	}
	d.verify = verify
	if lv == 0 {
		return d, nil
	}
	// A fresh document: edits go straight into its text. If the merge
	// fails the whole document is discarded.
	m := merger{l: l, text: &d.text, cache: &d.cache}
	if err := m.merge(l.computeHeads(), []lvRange{{0, lv}}); err != nil {
		return nil, err
	}
	l.heads = m.frontier
	return d, nil
}

// checkAntichain rejects parents of which one is an ancestor of another.
func (l *oplog) checkAntichain(ps []int) error {
	for i := 1; i < len(ps); i++ {
		if ps[i] == ps[i-1] {
			return invalidf("duplicate parent")
		}
	}
	for i, x := range ps {
		for _, y := range ps[i+1:] {
			if l.contains([]int{y}, x) {
				return invalidf("parent %d is an ancestor of parent %d", x, y)
			}
		}
	}
	return nil
}

// takeSigs checks (unless trusted) and retains the signatures of a decoded
// encoding; with verify, every author's last change must be signed.
func (d *Doc) takeSigs(e *encoding, trusted, verify bool) error {
	l := d.log
	signed := make(map[int]bool, len(e.sigs))
	for _, s := range e.sigs {
		start, end := l.changes[s.index], l.changeEnd(s.index)
		agent, seq := l.agentAt(start)
		a := l.agents[agent]
		if !trusted && !verifySig(a, *l.hashes.at(s.index), s.sig) {
			return fmt.Errorf("change %d (%s) by %s: %w", s.index, *l.hashes.at(s.index), a, ErrBadSignature)
		}
		d.sigs.add(a, seq+uint64(end-start), s.sig)
		signed[s.index] = true
	}
	if !verify {
		return nil
	}
	for agent, next := range l.next {
		if next == 0 {
			continue
		}
		if ci := l.changeAt(l.lvOf(agent, next-1)); !signed[ci] {
			return fmt.Errorf("change %d (%s) by %s, its last: %w", ci, *l.hashes.at(ci), l.agents[agent], ErrUnsigned)
		}
	}
	return nil
}

// ApplyEncoded applies an encoding of changes (from EncodeSince or
// EncodeBatch) to d, checking and retaining its signatures as Apply does.
func (d *Doc) ApplyEncoded(data []byte) ([]Edit, error) {
	id, cs, err := decodeChanges(data)
	if err != nil {
		return nil, fmt.Errorf("decode changes: %w", err)
	}
	if id != d.id {
		return nil, invalidf("changes are for document %s, not %s", id, d.id)
	}
	return d.apply(cs, true)
}
