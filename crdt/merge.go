package crdt

import (
	"fmt"
	"slices"
)

// merger brings a branch (a frontier and the length of its text) forward to
// include more of the op log, producing the edits to its text. This is
// Eg-walker: ops whose parents are the branch's version apply as they are;
// concurrent ones go through a tracker built for the conflicting part of the
// history only, and dropped again at every critical version.
type merger struct {
	l        *oplog
	frontier []int // the branch's version, as ops are applied
	docLen   int
	edits    []Edit
	// collect is false when only the version and validation matter.
	collect bool
	// text, when set, receives the edits directly instead of m.edits.
	text *rope
	// cache, when set, holds the tracker a previous merge on this branch
	// left behind, and receives the one this merge leaves.
	cache *trackerCache
}

// mergeScratch holds the buffers a log's merges reuse, so that applying
// one remote change allocates next to nothing. Merges on a log never
// overlap.
type mergeScratch struct {
	// ones backs the one-parent lists of chunks that start inside a graph
	// entry; it is emptied when a merge starts.
	ones                 []int
	newChunks, oldChunks []chunk
	back, fwd, behind    []lvRange
	ahead                []lvRange // discarded half of mergeCached's diff
	edits                []Edit    // the block merges' first edits come from (addEdit)
	// A diff mergeCached computed that walkNew's first moveTo would
	// compute again: back and fwd hold the diff from diffFrom to diffTo
	// while diffKnown.
	diffKnown        bool
	diffFrom, diffTo []int
	sufMin           []int
	parents, target  []int  // a checked change's parents; a batch's target
	one              [1]int // a one-op version
	two              [1]int // a chunk's one parent
}

// maxScratch bounds the buffers a log keeps between merges, in items: a
// big merge (decoding a whole history) drops its buffers when done instead
// of pinning them for the document's lifetime.
const maxScratch = 1024

func (sc *mergeScratch) trim() {
	if cap(sc.ones) > maxScratch {
		sc.ones = nil
	}
	if cap(sc.newChunks) > maxScratch {
		sc.newChunks = nil
	}
	if cap(sc.oldChunks) > maxScratch {
		sc.oldChunks = nil
	}
	if cap(sc.back) > maxScratch {
		sc.back = nil
	}
	if cap(sc.fwd) > maxScratch {
		sc.fwd = nil
	}
	if cap(sc.behind) > maxScratch {
		sc.behind = nil
	}
	if cap(sc.ahead) > maxScratch {
		sc.ahead = nil
	}
	if cap(sc.sufMin) > maxScratch {
		sc.sufMin = nil
	}
}

// trackerCache keeps a tracker alive between merges of one branch while it
// sees concurrent edits, so each new remote change costs a few retreats and
// advances instead of replaying the conflict zone again.
type trackerCache struct {
	t        *tracker
	base     []int // the version the placeholder stands for
	prep     []int // the tracker's prepare version
	frontier []int // the branch version the tracker's effect state matches
	logLen   int   // ops in the log when it was saved: later ops are not in it yet
}

// maxCachedChunks bounds the merges that use the cached tracker; bigger
// ones build their own.
const maxCachedChunks = 64

// maxKeptSpans bounds the tracker a branch keeps between merges; a bigger
// one is dropped at the next critical version.
const maxKeptSpans = 1 << 14

// chunk is a piece of a graph entry: ops [start, end) whose first op has
// parents.
type chunk struct {
	start, end int
	parents    []int
}

// chunks splits ascending LV ranges at graph entry boundaries, into out
// (whose contents it discards).
func (l *oplog) chunks(out []chunk, spans []lvRange) []chunk {
	out = out[:0]
	sc := &l.scratch
	if len(spans) == 1 && spans[0].end-spans[0].start > 1 {
		// A big merge (a whole history): one allocation for its chunks.
		sp := spans[0]
		out = slices.Grow(out, l.entryAt(sp.end-1)-l.entryAt(sp.start)+1)
	}
	for _, sp := range spans {
		// The entries of a span are consecutive.
		ei := l.entryAt(sp.start)
		for s := sp.start; s < sp.end; ei++ {
			e := &l.graph[ei]
			end := min(sp.end, e.end)
			parents := e.parents
			if s != e.start {
				// Earlier chunks keep their slices if ones moves.
				sc.ones = append(sc.ones, s-1)
				k := len(sc.ones)
				parents = sc.ones[k-1 : k : k]
			}
			out = append(out, chunk{s, end, parents})
			s = end
		}
	}
	return out
}

// merge applies the ops in newSpans (ascending, all in the history of
// target and none in the branch's) to the branch.
func (m *merger) merge(target []int, newSpans []lvRange) (err error) {
	l := m.l
	sc := &l.scratch
	sc.ones = sc.ones[:0]
	sc.diffKnown = false
	defer sc.trim()
	if m.cache != nil {
		defer func() {
			if err != nil {
				*m.cache = trackerCache{}
			}
		}()
		if m.cache.t != nil {
			ok, cerr := m.mergeCached(newSpans)
			if ok || cerr != nil {
				return cerr
			}
			*m.cache = trackerCache{}
		}
	}
	if len(m.frontier) == 0 {
		// From the root no op is concurrent with the branch: walkNew
		// applies directly up to the first concurrent op and starts a
		// tracker from there.
		sc.newChunks = l.chunks(sc.newChunks, newSpans)
		return m.walkNew(nil, nil, nil, sc.newChunks)
	}
	// Fast-forward while the next ops were made right on top of the branch.
	for len(newSpans) > 0 {
		sp := newSpans[0]
		e := &l.graph[l.entryAt(sp.start)]
		onTop := len(m.frontier) == 1 && m.frontier[0] == sp.start-1
		if sp.start == e.start {
			onTop = equalInts(e.parents, m.frontier)
		}
		if !onTop {
			break
		}
		end := min(sp.end, e.end)
		if err := m.applyDirect(sp.start, end); err != nil {
			return err
		}
		m.setFrontier1(end - 1)
		if end == sp.end {
			newSpans = newSpans[1:]
		} else {
			newSpans[0].start = end
		}
	}
	if len(newSpans) == 0 {
		return nil
	}
	common, conflict, onlyNew := l.findConflicting(m.frontier, target)
	t := newTracker()
	sc.oldChunks = l.chunks(sc.oldChunks, conflict)
	prep, err := m.walk(t, common, sc.oldChunks, false)
	if err != nil {
		return err
	}
	t.slack = t.effLen() - m.docLen
	sc.newChunks = l.chunks(sc.newChunks, onlyNew)
	return m.walkNew(t, common, prep, sc.newChunks)
}

// mergeCached merges using the cached tracker if it can: every new op must
// descend from the tracker's base version. It reports false if it cannot.
func (m *merger) mergeCached(newSpans []lvRange) (bool, error) {
	l := m.l
	c := m.cache
	sc := &l.scratch
	sc.newChunks = l.chunks(sc.newChunks, newSpans)
	chunks := sc.newChunks
	if len(chunks) > maxCachedChunks {
		return false, nil
	}
	t := c.t
	// Every new op must descend from the tracker's base: moving to its
	// parents must only touch ops the tracker holds.
	prep := c.prep
	for _, ch := range chunks {
		sc.back, sc.fwd = l.diffInto(prep, ch.parents, sc.back, sc.fwd)
		if !t.holds(sc.back, c.logLen) || !t.holds(sc.fwd, c.logLen) {
			return false, nil
		}
		m.l.scratch.one[0] = ch.end - 1
		prep = m.l.scratch.one[:]
	}
	if len(chunks) == 1 {
		// walkNew's first move is the diff just computed, if no op
		// goes in behind it.
		sc.diffKnown = true
		sc.diffFrom = append(sc.diffFrom[:0], c.prep...)
		sc.diffTo = append(sc.diffTo[:0], chunks[0].parents...)
	}
	// Ops the branch applied since (local edits) go in without effect.
	sc.behind, sc.ahead = l.diffInto(m.frontier, c.frontier, sc.behind, sc.ahead)
	sc.oldChunks = l.chunks(sc.oldChunks, sc.behind)
	prep, err := m.walk(t, c.prep, sc.oldChunks, false)
	if err != nil {
		return true, err
	}
	return true, m.walkNew(t, c.base, prep, chunks)
}

func (m *merger) setFrontier1(lv int) {
	m.frontier = append(m.frontier[:0], lv)
}

// applyDirect applies ops [start, end) to the text as they are.
func (m *merger) applyDirect(start, end int) error {
	l := m.l
	for ri := l.opIndex(start); start < end; ri++ {
		r := &l.ops[ri]
		i, j := start-r.lv, min(end, r.end())-r.lv
		n := j - i
		pos := r.piecePos(i, j)
		if r.kind == Insert {
			if pos > m.docLen {
				return invalidf("op %d inserts at %d in a document of %d", start, pos, m.docLen)
			}
			m.insert(ri, i, j, pos)
			m.docLen += n
		} else {
			if pos+n > m.docLen {
				return invalidf("op %d deletes %d at %d in a document of %d", start, n, pos, m.docLen)
			}
			m.delete(pos, n)
			m.docLen -= n
		}
		start += n
	}
	return nil
}

// moveTo retreats and advances the tracker's prepare version from prep to
// parents.
func (m *merger) moveTo(t *tracker, prep, parents []int) {
	sc := &m.l.scratch
	known := sc.diffKnown
	sc.diffKnown = false
	if equalInts(prep, parents) {
		return
	}
	if !known || !equalInts(prep, sc.diffFrom) || !equalInts(parents, sc.diffTo) {
		sc.back, sc.fwd = m.l.diffInto(prep, parents, sc.back, sc.fwd)
	}
	back, fwd := sc.back, sc.fwd
	for i := len(back) - 1; i >= 0; i-- {
		t.retreat(back[i].start, back[i].end-back[i].start)
	}
	for _, r := range fwd {
		t.advance(r.start, r.end-r.start)
	}
}

// walk applies chunks (ops already in the branch's text) to the tracker
// without emitting edits, and returns the prepare version it ends at.
func (m *merger) walk(t *tracker, prep []int, chunks []chunk, emit bool) ([]int, error) {
	if len(chunks) == 0 {
		return prep, nil
	}
	for _, c := range chunks {
		m.moveTo(t, prep, c.parents)
		if err := m.applyTracked(t, c.start, c.end, emit); err != nil {
			return nil, err
		}
		prep = m.l.scratch.one[:]
		prep[0] = c.end - 1
	}
	return []int{prep[0]}, nil
}

// walkNew applies new chunks through the tracker, emitting their edits. At
// a critical version (everything applied so far is its ancestor and
// everything still to come its descendant) the tracker is dropped; until
// the next concurrent op, ops apply directly.
func (m *merger) walkNew(t *tracker, base, prep []int, chunks []chunk) error {
	// sufMin[i]: the smallest parent of chunks[i:] (-1 for a root chunk).
	sc := &m.l.scratch
	sc.sufMin = resize(sc.sufMin, len(chunks)+1)
	sufMin := sc.sufMin
	sufMin[len(chunks)] = int(^uint(0) >> 1)
	for i := len(chunks) - 1; i >= 0; i-- {
		p := -1
		if len(chunks[i].parents) > 0 {
			p = chunks[i].parents[0]
		}
		sufMin[i] = min(p, sufMin[i+1])
	}
	for i, c := range chunks {
		if t == nil && equalInts(c.parents, m.frontier) {
			// Critical: apply directly what no later op is concurrent with.
			ffEnd := c.end
			if next := sufMin[i+1]; next < c.end-1 {
				ffEnd = max(c.start, next+1)
			}
			if ffEnd > c.start {
				if err := m.applyDirect(c.start, ffEnd); err != nil {
					return err
				}
				m.setFrontier1(ffEnd - 1)
				c.start = ffEnd
				m.l.scratch.two[0] = ffEnd - 1
				c.parents = m.l.scratch.two[:]
			}
			if c.start == c.end {
				continue
			}
		}
		if t == nil {
			t = newTracker()
			t.slack = placeholderLen - m.docLen
			prep = append([]int(nil), m.frontier...)
			base = prep
		}
		m.moveTo(t, prep, c.parents)
		if err := m.applyTracked(t, c.start, c.end, true); err != nil {
			return err
		}
		prep = m.l.scratch.one[:]
		prep[0] = c.end - 1
		m.frontier = advanceFrontierInPlace(m.frontier, c.parents, c.end-1)
		if len(m.frontier) == 1 && m.frontier[0] == c.end-1 && sufMin[i+1] >= c.end-1 &&
			(i+1 < len(chunks) || m.cache == nil || t.totalSpans() > maxKeptSpans) {
			// Critical: drop the tracker. At the end of a merge a small
			// one is kept instead: the next remote change is likely
			// concurrent with what follows and can reuse it.
			t = nil
		}
	}
	if c := m.cache; c != nil {
		if t == nil {
			*c = trackerCache{}
		} else {
			// The old cache's versions are dead: reuse their arrays. The
			// fields are set one by one, so a merge that keeps the same
			// tracker writes no pointer it need not (each costs a write
			// barrier while the GC runs).
			if c.t != t {
				c.t = t
			}
			if len(c.base) != len(base) || len(base) > 0 && &c.base[0] != &base[0] {
				c.base = base
			}
			c.prep = append(c.prep[:0], prep...)
			c.frontier = append(c.frontier[:0], m.frontier...)
			c.logLen = m.l.len()
		}
	}
	return nil
}

// applyTracked integrates ops [start, end) into the tracker, whose prepare
// version is their parents', emitting their effect on the text if emit.
func (m *merger) applyTracked(t *tracker, start, end int, emit bool) error {
	l := m.l
	for ri := l.opIndex(start); start < end; ri++ {
		r := &l.ops[ri]
		i, j := start-r.lv, min(end, r.end())-r.lv
		n := j - i
		pos := r.piecePos(i, j)
		if r.kind == Insert {
			if pos > t.prepLen() {
				return invalidf("op %d inserts at %d in a document of %d", start, pos, t.prepLen())
			}
			p := t.applyInsert(l, start, n, pos)
			if emit {
				m.insert(ri, i, j, p)
				m.docLen += n
			}
		} else {
			if pos+n > t.prepLen() {
				return invalidf("op %d deletes %d at %d in a document of %d", start, n, pos, t.prepLen())
			}
			for lv, left := start, n; left > 0; {
				k, p, deleted := t.applyDelete(lv, pos, left, r.rev)
				if emit && deleted {
					m.delete(p, k)
					m.docLen -= k
				}
				lv += k
				left -= k
			}
		}
		start += n
	}
	return nil
}

// insert emits the insertion of ops [i, j) of insert run ri at pos.
func (m *merger) insert(ri, i, j, pos int) {
	switch {
	case m.text != nil:
		l := m.l
		bs, be := l.runByteRange(ri, i, j)
		m.text.insertBytes(pos, l.content[bs:be], j-i)
	case m.collect:
		// The text shares the log's content: bytes below its length are
		// never written again (appends go past it, and a rollback only
		// drops bytes of a failed batch, whose edits are dropped too).
		l := m.l
		bs, be := l.runByteRange(ri, i, j)
		m.addEdit(Edit{Pos: pos, Text: unsafeString(l.content[bs:be])})
	}
}

// delete emits the deletion of n code points at pos.
func (m *merger) delete(pos, n int) {
	switch {
	case m.text != nil:
		m.text.Delete(pos, n)
	case m.collect:
		m.addEdit(Edit{Pos: pos, Del: n})
	}
}

// addEdit appends e to the merge's edits. A merge's first edit goes in a
// slot of a shared block (editBlock edits long) with room for just one,
// so applying a typed change, which makes one edit, allocates a block
// every editBlock changes instead of a slice each time; a second edit
// moves the slice out, as append does. The returned slices never
// overlap: a slot is handed out once.
func (m *merger) addEdit(e Edit) {
	if m.edits == nil {
		sc := &m.l.scratch
		if len(sc.edits) == cap(sc.edits) {
			sc.edits = make([]Edit, 0, editBlock)
		}
		k := len(sc.edits)
		sc.edits = sc.edits[:k+1]
		m.edits = sc.edits[k : k : k+1]
	}
	m.edits = append(m.edits, e)
}

// editBlock is how many first edits share one allocation.
const editBlock = 32

func (e Edit) String() string {
	if e.Del > 0 {
		return fmt.Sprintf("del %d@%d", e.Del, e.Pos)
	}
	return fmt.Sprintf("ins %q@%d", e.Text, e.Pos)
}

// advanceFrontierInPlace returns f advanced by a run of ops ending at last
// whose first op has the given parents. It reuses f's array: callers
// own f.
func advanceFrontierInPlace(f []int, parents []int, last int) []int {
	out := f[:0]
	for _, x := range f {
		if !containsInt(parents, x) {
			out = append(out, x)
		}
	}
	out = append(out, last)
	sortInts(out)
	return out
}
