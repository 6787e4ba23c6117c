package crdt

import (
	"crypto/ed25519"
	"fmt"
	"unicode/utf8"
)

// Doc is one replica of a document: its whole history (the op log) and its
// current text. A Doc is a plain value: it is not safe for concurrent use,
// and its owner (one goroutine per open document) serialises all calls.
type Doc struct {
	id   DocID
	log  *oplog
	text rope

	author Author
	me     int // the local author's index in the log, -1 until it edits
	sealed []*Change

	pending pending
	cache   trackerCache // the tracker the last merge left, if any
	buf     []byte       // scratch for encoding changes

	signer ed25519.PrivateKey    // signs sealed changes, if set
	verify bool                  // remote input must be signed (SetVerify)
	admit  func(c *Change) error // admission hook (SetAdmit)
	sigs   sigTable              // retained signatures
}

// New returns an empty document id whose local edits are made by author.
func New(id DocID, author Author) *Doc {
	l := newOplog()
	l.id = id
	return &Doc{id: id, log: l, author: author, me: -1}
}

// ID returns the document id.
func (d *Doc) ID() DocID { return d.id }

// Author returns the local author.
func (d *Doc) Author() Author { return d.author }

// Text returns the current text.
func (d *Doc) Text() string { return d.text.String() }

// Len returns the length of the text in code points.
func (d *Doc) Len() int { return d.text.Len() }

// Slice returns n code points of the text starting at pos.
func (d *Doc) Slice(pos, n int) string {
	if pos < 0 || n < 0 || pos+n > d.text.Len() {
		return ""
	}
	return d.text.Slice(pos, n)
}

// Ops returns the number of ops in the history.
func (d *Doc) Ops() int { return d.log.len() }

func (d *Doc) localAgent() int {
	if d.me < 0 {
		d.me = d.log.agent(d.author)
	}
	return d.me
}

// local appends n local ops to the log on top of the current version.
func (d *Doc) local(kind OpKind, pos, n int, text string) {
	l := d.log
	if d.log.open >= 0 && l.len()-d.log.open+n > MaxChangeOps {
		d.sealOpen()
	}
	lv := l.len()
	if d.log.open < 0 {
		d.log.open = lv
	}
	l.assign(d.localAgent(), lv, n)
	l.addGraph(lv, n, l.heads)
	l.pushOp(kind, pos, n, false, text)
	if len(l.heads) == 1 {
		l.heads[0] = lv + n - 1
	} else {
		l.heads = []int{lv + n - 1}
	}
}

// Insert inserts text at pos (in code points) as a local edit. The edit
// belongs to the open local change until Seal.
func (d *Doc) Insert(pos int, text string) error {
	if pos < 0 || pos > d.text.Len() {
		return fmt.Errorf("insert at %d in a document of %d: %w", pos, d.text.Len(), ErrPosition)
	}
	if len(text) == 1 && text[0] < utf8.RuneSelf {
		// One typed ASCII character: the common case.
		d.local(Insert, pos, 1, text)
		d.text.Insert(pos, text, 1)
		return nil
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("insert: %w: text is not UTF-8", ErrInvalid)
	}
	n := utf8.RuneCountInString(text)
	for n > 0 {
		// Split huge pastes so no change exceeds MaxChangeOps.
		k, s := n, text
		if k > MaxChangeOps {
			k = MaxChangeOps
			s = text[:byteOffset([]byte(text), n, k)]
		}
		d.local(Insert, pos, k, s)
		d.text.Insert(pos, s, k)
		pos, text, n = pos+k, text[len(s):], n-k
	}
	return nil
}

// Delete deletes n code points at pos as a local edit.
func (d *Doc) Delete(pos, n int) error {
	if pos < 0 || n < 0 || pos+n > d.text.Len() {
		return fmt.Errorf("delete %d at %d in a document of %d: %w", n, pos, d.text.Len(), ErrPosition)
	}
	for n > 0 {
		k := min(n, MaxChangeOps)
		d.local(Delete, pos, k, "")
		d.text.Delete(pos, k)
		n -= k
	}
	return nil
}

// Seal closes the open local change, if any, and returns every local change
// sealed since the last call, oldest first. These are what the caller must
// persist and then send. Edits are sealed on demand, so typing costs one
// change (and one signature) per seal, not per keystroke. With a signer
// (SetSigner) every returned change carries its signature.
func (d *Doc) Seal() []*Change {
	d.sealOpen()
	out := d.sealed
	d.sealed = nil
	return out
}

func (d *Doc) sealOpen() {
	if d.log.open < 0 {
		return
	}
	c := d.buildChange(d.log.open, d.log.len())
	d.log.addChange(d.log.open, c.Hash)
	d.log.open = -1
	if d.signer != nil {
		d.signLocal(c)
	}
	d.sealed = append(d.sealed, c)
}

// buildChange returns the change made of LVs [start, end), one author's
// consecutive ops, with its hash.
func (d *Doc) buildChange(start, end int) *Change {
	l := d.log
	agent, seq := l.agentAt(start)
	c := &Change{Author: l.agents[agent], Seq: seq}
	for _, p := range l.parentsOf(start) {
		ci := l.changeAt(p)
		if ci < 0 || l.changeEnd(ci)-1 != p {
			panic("crdt: change parent is not the end of a sealed change")
		}
		c.Parents = append(c.Parents, l.hashOf(ci))
	}
	sortHashes(c.Parents)
	var text []byte
	d.buf, c.Ops, text = l.appendBodyText(hashPrefix(d.buf[:0], d.id), start, end, c.Parents, nil)
	c.Hash = l.hasher.hash(agent, d.buf)
	splitText(c.Ops, string(text))
	return c
}

// splitText gives each insert op of ops its part of text.
func splitText(ops []Op, text string) {
	// text holds exactly the code points the inserts insert; if it has
	// as many bytes, they are all ASCII and each op takes op.Len bytes.
	runes := 0
	for i := range ops {
		if ops[i].Kind == Insert {
			runes += ops[i].Len
		}
	}
	ascii := runes == len(text)
	for i := range ops {
		if op := &ops[i]; op.Kind == Insert {
			n := 0
			if ascii {
				n = op.Len
			}
			for k := 0; k < op.Len && !ascii; k++ {
				if text[n] < utf8.RuneSelf {
					n++
				} else {
					_, sz := utf8.DecodeRuneInString(text[n:])
					n += sz
				}
			}
			op.Text, text = text[:n], text[n:]
		}
	}
}

// Has reports whether the document holds the change h.
func (d *Doc) Has(h Hash) bool { return d.log.findChange(h) >= 0 }

// Heads returns the current version as the hashes of its head changes,
// sorted. An unsealed local change is not part of it: Seal first.
func (d *Doc) Heads() []Hash {
	return d.hashesOf(d.sealedHeads())
}

func (d *Doc) sealedHeads() []int {
	if d.log.open < 0 {
		return d.log.heads
	}
	return d.log.parentsOf(d.log.open)
}

func (d *Doc) hashesOf(f []int) []Hash {
	out := make([]Hash, 0, len(f))
	for _, lv := range f {
		out = append(out, d.log.hashOf(d.log.changeAt(lv)))
	}
	sortHashes(out)
	return out
}

// Vector returns the current version as per-author op counts.
func (d *Doc) Vector() Vector {
	d.sealOpen()
	v := make(Vector, len(d.log.agents))
	for i, a := range d.log.agents {
		if d.log.next[i] > 0 {
			v[a] = d.log.next[i]
		}
	}
	return v
}

// frontierOf resolves change hashes to a frontier of LVs.
func (d *Doc) frontierOf(heads []Hash) ([]int, error) {
	f := make([]int, 0, len(heads))
	for _, h := range heads {
		ci := d.log.findChange(h)
		if ci < 0 {
			return nil, fmt.Errorf("change %s: %w", h, ErrUnknownVersion)
		}
		f = append(f, d.log.changeEnd(ci)-1)
	}
	sortInts(f)
	return reduceFrontier(d.log, f), nil
}

// reduceFrontier drops members of f that are ancestors of others.
func reduceFrontier(l *oplog, f []int) []int {
	out := f[:0:0]
	for i, x := range f {
		dominated := false
		for j, y := range f {
			if i != j && y > x && l.contains([]int{y}, x) {
				dominated = true
				break
			}
		}
		if !dominated && (len(out) == 0 || out[len(out)-1] != x) {
			out = append(out, x)
		}
	}
	return out
}

// ChangesSince returns, oldest first, every sealed change not covered by v,
// each with its signature if d retains it.
func (d *Doc) ChangesSince(v Vector) []*Change {
	d.sealOpen()
	l := d.log
	var out []*Change
	for ci := range l.changes {
		start, end := l.changes[ci], l.changeEnd(ci)
		agent, seq := l.agentAt(start)
		if v[l.agents[agent]] >= seq+uint64(end-start) {
			continue
		}
		c := d.buildChange(start, end)
		c.Sig = d.retainedSig(ci)
		out = append(out, c)
	}
	return out
}

// TextAt returns the text at the version heads.
func (d *Doc) TextAt(heads []Hash) (string, error) {
	f, err := d.frontierOf(heads)
	if err != nil {
		return "", err
	}
	var r rope
	if _, err := d.checkout(&r, nil, f); err != nil {
		return "", err
	}
	return r.String(), nil
}

// Diff returns the edits that turn the text at version from into the text
// at the version holding both from and to.
func (d *Doc) Diff(from, to []Hash) ([]Edit, error) {
	f, err := d.frontierOf(from)
	if err != nil {
		return nil, err
	}
	t, err := d.frontierOf(to)
	if err != nil {
		return nil, err
	}
	var r rope
	f, err = d.checkout(&r, nil, f)
	if err != nil {
		return nil, err
	}
	target := reduceFrontier(d.log, mergeInts(f, t))
	_, newSpans := d.log.diff(f, target)
	m := merger{l: d.log, frontier: f, docLen: r.Len(), collect: true}
	if err := m.merge(target, newSpans); err != nil {
		return nil, err
	}
	return m.edits, nil
}

// checkout brings the branch (r, at version from) to target and returns
// the new version.
func (d *Doc) checkout(r *rope, from []int, target []int) ([]int, error) {
	_, newSpans := d.log.diff(from, target)
	m := merger{l: d.log, frontier: append([]int(nil), from...), docLen: r.Len(), collect: true}
	if err := m.merge(target, newSpans); err != nil {
		return nil, err
	}
	applyEdits(r, m.edits)
	return m.frontier, nil
}

func applyEdits(r *rope, edits []Edit) {
	for _, e := range edits {
		if e.Del > 0 {
			r.Delete(e.Pos, e.Del)
		}
		if e.Text != "" {
			r.Insert(e.Pos, e.Text, utf8.RuneCountInString(e.Text))
		}
	}
}

func mergeInts(a, b []int) []int {
	out := append(append([]int(nil), a...), b...)
	sortInts(out)
	return out
}
