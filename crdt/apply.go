package crdt

import (
	"errors"
	"fmt"
	"slices"
)

// Limits of the buffer of changes that wait for their parents. When it is
// full a new waiting change is dropped (ErrBufferFull): catch-up with the
// peer will deliver it again after its parents.
const (
	MaxPendingChanges = 4096
	MaxPendingOps     = 1 << 20
)

type pending struct {
	byHash map[Hash]*Change
	ops    int
}

// Missing returns the hashes of changes that buffered changes wait for and
// that this replica does not have, sorted.
func (d *Doc) Missing() []Hash {
	var out []Hash
	seen := map[Hash]bool{}
	for _, c := range d.pending.byHash {
		for _, p := range c.Parents {
			if !seen[p] && !d.Has(p) && d.pending.byHash[p] == nil {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sortHashes(out)
	return out
}

// Pending returns the number of buffered changes waiting for parents.
func (d *Doc) Pending() int { return len(d.pending.byHash) }

// Apply integrates remote changes, in any order and any number of times.
// Changes whose parents are missing wait in a bounded buffer and apply when
// the parents arrive. It returns the edits made to the text, in order, and
// an error for each change that was rejected (the others still apply).
// Unless d verifies (SetVerify), callers must have checked each change's
// hash: Apply then trusts c.Hash (see DecodeChange). Signatures that are
// present are always checked, and the ones d retains are kept (see
// SigSpacing); a verifying Doc also requires them (see SetVerify).
func (d *Doc) Apply(cs ...*Change) ([]Edit, error) {
	return d.apply(cs, false)
}

// apply is Apply; hashed says the changes' hashes were computed from their
// content by this package (decodeChanges).
func (d *Doc) apply(cs []*Change, hashed bool) ([]Edit, error) {
	d.sealOpen()
	var errs []error
	if d.verify || d.admit != nil || anySigned(cs) {
		cs, errs = d.screen(cs, hashed)
	}
	// Changes whose parents are here or earlier in cs form a batch that is
	// merged in one pass; the rest wait.
	var one [1]*Change // a single change needs no allocation
	ready := one[:0]
	var inBatch map[Hash]bool // nil for one change: reads of a nil map are fine
	for _, c := range cs {
		if d.Has(c.Hash) || inBatch[c.Hash] || len(d.pending.byHash) > 0 && d.pending.byHash[c.Hash] != nil {
			continue
		}
		ok := true
		for _, p := range c.Parents {
			if !inBatch[p] && !d.Has(p) {
				ok = false
				break
			}
		}
		if !ok {
			if err := d.buffer(c); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if len(cs) > 1 {
			if inBatch == nil {
				inBatch = make(map[Hash]bool, len(cs))
			}
			inBatch[c.Hash] = true
		}
		ready = append(ready, c)
	}
	var edits []Edit
	for len(ready) > 0 {
		e, errs2 := d.integrate(ready)
		if edits == nil {
			edits = e
		} else {
			edits = append(edits, e...)
		}
		errs = append(errs, errs2...)
		ready = d.releasePending()
	}
	return edits, errors.Join(errs...)
}

const (
	stDup = iota
	stReady
	stWait
)

// classify decides whether c is already here, ready to apply, or waiting.
func (d *Doc) classify(c *Change) (int, error) {
	st, _, err := d.check(c)
	return st, err
}

// check classifies c and, when it is ready, returns its parents as LVs,
// in a buffer the next check reuses.
func (d *Doc) check(c *Change) (int, []int, error) {
	if d.Has(c.Hash) {
		return stDup, nil, nil
	}
	return d.checkNew(c)
}

// checkNew is check for a change the caller knows d does not hold.
func (d *Doc) checkNew(c *Change) (int, []int, error) {
	l := d.log
	if len(c.Ops) == 0 {
		return 0, nil, fmt.Errorf("change %s: %w: no ops", c.Hash, ErrInvalid)
	}
	var next uint64
	agent, known := l.agentOf(c.Author)
	if known {
		next = l.next[agent]
	}
	if c.Seq < next {
		return 0, nil, fmt.Errorf("change %s by %s reuses sequence %d (have %d): %w", c.Hash, c.Author, c.Seq, next, ErrEquivocation)
	}
	parents := l.scratch.parents[:0]
	defer func() { l.scratch.parents = parents[:0] }()
	for _, p := range c.Parents {
		ci := l.findChange(p)
		if ci < 0 {
			return stWait, nil, nil
		}
		parents = append(parents, l.changeEnd(ci)-1)
	}
	if c.Seq > next {
		return 0, nil, fmt.Errorf("change %s by %s starts at sequence %d, want %d: %w", c.Hash, c.Author, c.Seq, next, ErrInvalid)
	}
	sortInts(parents)
	if err := l.checkAntichain(parents); err != nil {
		return 0, nil, fmt.Errorf("change %s: %w", c.Hash, err)
	}
	if c.Seq > 0 {
		// An author always builds on its own previous change.
		prev := l.lvOf(agent, c.Seq-1) // c.Seq == next > 0: the author is known
		if !containsInt(parents, prev) && !l.contains(parents, prev) {
			return 0, nil, fmt.Errorf("change %s by %s does not follow its author's previous change: %w", c.Hash, c.Author, ErrInvalid)
		}
	}
	return stReady, parents, nil
}

func (d *Doc) buffer(c *Change) error {
	p := &d.pending
	if len(p.byHash) >= MaxPendingChanges || p.ops+c.Len() > MaxPendingOps {
		return fmt.Errorf("change %s: %w", c.Hash, ErrBufferFull)
	}
	if p.byHash == nil {
		p.byHash = map[Hash]*Change{}
	}
	p.byHash[c.Hash] = c
	p.ops += c.Len()
	return nil
}

// releasePending removes and returns buffered changes that are now ready,
// dropping those that turned out invalid or duplicate.
func (d *Doc) releasePending() []*Change {
	var ready []*Change
	for h, c := range d.pending.byHash {
		st, err := d.classify(c)
		if err == nil && st == stWait {
			continue
		}
		delete(d.pending.byHash, h)
		d.pending.ops -= c.Len()
		if err == nil && st == stReady {
			ready = append(ready, c)
		}
	}
	// Map order is random; apply in an order that respects each author's
	// sequence so the batch does not trip over itself.
	slices.SortFunc(ready, func(a, b *Change) int {
		if c := a.Author.Compare(b.Author); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
	return ready
}

// integrate adds ready changes to the log and merges them into the text as
// one batch. If the batch fails it is rolled back and retried one change
// at a time, so one bad change cannot take good ones with it.
func (d *Doc) integrate(ready []*Change) ([]Edit, []error) {
	e, err := d.integrateBatch(ready)
	if err == nil {
		return e, nil
	}
	if len(ready) == 1 {
		return nil, []error{err}
	}
	var edits []Edit
	var errs []error
	for _, c := range ready {
		st, err := d.classify(c)
		switch {
		case err != nil:
			errs = append(errs, err)
		case st == stWait:
			if err := d.buffer(c); err != nil {
				errs = append(errs, err)
			}
		case st == stReady:
			e, err := d.integrateBatch([]*Change{c})
			edits = append(edits, e...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return edits, errs
}

// integrateBatch adds changes (each ready once the ones before it are in)
// and merges them, all or nothing.
func (d *Doc) integrateBatch(cs []*Change) ([]Edit, error) {
	l := d.log
	mark := l.mark()
	start := l.len()
	target := append(l.scratch.target[:0], l.heads...)
	defer func() { l.scratch.target = target[:0] }()
	for i, c := range cs {
		// Callers pass changes d did not hold, each once: only one that
		// an earlier change of the batch made a duplicate needs a lookup.
		var st int
		var parents []int
		var err error
		if i == 0 {
			st, parents, err = d.checkNew(c)
		} else {
			st, parents, err = d.check(c)
		}
		if err == nil && st == stDup {
			continue
		}
		if err != nil || st != stReady {
			l.rollback(mark)
			if err == nil {
				err = fmt.Errorf("change %s: %w: parents not in batch order", c.Hash, ErrInvalid)
			}
			return nil, err
		}
		lv := l.len()
		n := c.Len()
		l.assign(l.agent(c.Author), lv, n)
		l.addGraph(lv, n, parents)
		for i := range c.Ops {
			op := &c.Ops[i]
			l.pushOp(op.Kind, op.Pos, op.Len, op.Rev, op.Text)
		}
		l.addChange(lv, c.Hash)
		target = advanceFrontierInPlace(target, parents, lv+n-1)
	}
	if l.len() == start {
		return nil, nil
	}
	// The merger advances the heads in place: the mark holds a copy.
	m := merger{l: l, frontier: l.heads, docLen: d.text.Len(), collect: true, cache: &d.cache}
	if err := m.merge(target, []lvRange{{start, l.len()}}); err != nil {
		l.rollback(mark)
		return nil, fmt.Errorf("apply %d changes: %w", len(cs), err)
	}
	l.heads = m.frontier
	applyEdits(&d.text, m.edits)
	for _, c := range cs {
		if c.Sig != nil {
			d.sigs.add(c.Author, c.Seq+uint64(c.Len()), c.Sig)
		}
	}
	return m.edits, nil
}

func anySigned(cs []*Change) bool {
	for _, c := range cs {
		if c.Sig != nil {
			return true
		}
	}
	return false
}

// logMark is the size of every table of the log, to roll back to.
type logMark struct {
	n, ops, graph, aa, changes, agents int
	content                            int
	heads                              []int
	lastOp                             opRun
	lastGraph                          gEntry
	lastAA                             aaRun
	seqs                               []int
	next                               []uint64
}

func (l *oplog) mark() *logMark {
	// At most one mark is live at a time: it is the log's markBuf, filled
	// in place, and its arrays are reused.
	m := &l.markBuf
	m.n, m.ops, m.graph, m.aa = l.len(), len(l.ops), len(l.graph), len(l.aa)
	m.changes, m.agents, m.content = len(l.changes), len(l.agents), len(l.content)
	m.heads = append(m.heads[:0], l.heads...)
	m.next = append(m.next[:0], l.next...)
	if m.ops > 0 {
		m.lastOp = l.ops[m.ops-1]
	}
	if m.graph > 0 {
		m.lastGraph = l.graph[m.graph-1]
	}
	if m.aa > 0 {
		m.lastAA = l.aa[m.aa-1]
	}
	m.seqs = m.seqs[:0]
	for _, s := range l.seqs {
		m.seqs = append(m.seqs, len(s))
	}
	return m
}

// rollback restores the log to mark. Appends only ever grow the last run
// of each table or add runs after it, so restoring the lengths and the last
// runs is enough.
func (l *oplog) rollback(m *logMark) {
	l.ops = l.ops[:m.ops]
	if m.ops > 0 {
		l.ops[m.ops-1] = m.lastOp
	}
	l.content = l.content[:m.content]
	l.graph = l.graph[:m.graph]
	if m.graph > 0 {
		l.graph[m.graph-1] = m.lastGraph
	}
	l.aa = l.aa[:m.aa]
	if m.aa > 0 {
		l.aa[m.aa-1] = m.lastAA
	}
	// The hash index steps over the slots of changes rolled back.
	l.indexed = min(l.indexed, m.changes)
	l.hashes.truncate(m.changes)
	l.changes = l.changes[:m.changes]
	for _, a := range l.agents[m.agents:] {
		delete(l.agentIdx, a)
	}
	l.agents = l.agents[:m.agents]
	l.seqs = l.seqs[:m.agents]
	l.next = append(l.next[:0], m.next...)
	for i := range l.seqs {
		l.seqs[i] = l.seqs[i][:m.seqs[i]]
		// The last seq run may have grown: recompute it from the aa runs.
		if k := len(l.seqs[i]) - 1; k >= 0 {
			s := &l.seqs[i][k]
			s.n = int(l.next[i] - s.seq)
		}
	}
	l.heads = slices.Clone(m.heads) // m.heads is the mark's reused array
}
