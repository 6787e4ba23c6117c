package crdt

import (
	"math"
	"math/bits"
	"slices"
)

// The tracker is Eg-walker's short-lived CRDT: a sequence of items (one per
// inserted character, in document order, run-length encoded as spans) with
// two states each. The prepare state says whether the item is visible in the
// version the next op was made at (the walk moves that version back and
// forth with retreat and advance); the effect state says whether it is
// visible in the text being produced. It starts as one placeholder span
// standing for the document at the walk's base version, and is thrown away
// when the walk ends or reaches a critical version.

const (
	underwater     = 1 << 60 // LVs of placeholder items start here
	placeholderLen = 1 << 40
	endLV          = math.MaxInt // origin right at the end of the document

	stNotYet   = 0 // not inserted yet in the prepare version
	stInserted = 1 // visible in the prepare version; >= 2: deleted (state-1 times)

	leafMax = 32
)

type tspan struct {
	lv, n   int
	ol      int // origin left of the first item; item i > 0 has lv+i-1
	or      int // origin right of every item
	state   int32
	everDel bool // deleted in the effect version
}

func (s *tspan) prep() int {
	if s.state == stInserted {
		return s.n
	}
	return 0
}

func (s *tspan) eff() int {
	if s.everDel {
		return 0
	}
	return s.n
}

// split cuts s after k items and returns the right part.
func (s *tspan) split(k int) tspan {
	r := *s
	r.lv += k
	r.n -= k
	r.ol = s.lv + k - 1
	s.n = k
	return r
}

// joins reports whether b, right after s in the sequence, can join it in
// one span: b continues s's LVs and origins and has the same states.
func (s *tspan) joins(b *tspan) bool {
	return b.lv == s.lv+s.n && b.ol == b.lv-1 && b.or == s.or && b.state == s.state && b.everDel == s.everDel
}

type leaf struct {
	spans      []tspan
	prep, eff  int
	total, idx int
	id         int32
}

func (lf *leaf) recount() {
	lf.prep, lf.eff, lf.total = 0, 0, 0
	for i := range lf.spans {
		s := &lf.spans[i]
		lf.prep += s.prep()
		lf.eff += s.eff()
		lf.total += s.n
	}
}

// marker records that the tracker holds the items of an insert op (for a
// placeholder run: in the leaf with id lid; real items are found through
// tracker.where) or, with lid == noLeaf, which items a delete op deleted
// (target, in op order reversed when rev). Markers hold no pointers, so the
// sorted marker slices move with plain memmove and cost the GC nothing to
// scan.
type marker struct {
	lv, n  int
	target int
	lid    int32
	rev    bool
}

const (
	noLeaf  = -1
	insLeaf = 0 // lid of the markers of real inserted items
)

type tracker struct {
	leaves []*leaf
	byID   []*leaf // leaves by id, for markers
	// Fenwick trees over the leaves' prep, eff and total counts, so
	// positions are found in O(log leaves); rebuilt when a leaf splits.
	fwPrep, fwEff, fwTotal []int
	idx                    []marker // markers of real LVs, ascending
	uw                     []marker // markers of placeholder items, ascending
	where                  lvLeaves // the leaf of every real item
	slack                  int      // placeholder items past the end of the base document
	nspans                 int      // spans in all leaves
	pieces                 []piece  // scratch for shift
}

// piece is a part [x, y) of the LVs of marker m.
type piece struct {
	m    marker
	x, y int
}

func newTracker() *tracker {
	lf := &leaf{spans: []tspan{{lv: underwater, n: placeholderLen, ol: -1, or: endLV, state: stInserted}}}
	lf.recount()
	t := &tracker{
		leaves: []*leaf{lf},
		byID:   []*leaf{lf},
		uw:     []marker{{lv: underwater, n: placeholderLen, lid: 0}},
		nspans: 1,
	}
	t.rebuild()
	return t
}

// rebuild recomputes the Fenwick trees from the leaves.
func (t *tracker) rebuild() {
	n := len(t.leaves)
	t.fwPrep = resize(t.fwPrep, n+1)
	t.fwEff = resize(t.fwEff, n+1)
	t.fwTotal = resize(t.fwTotal, n+1)
	for i, lf := range t.leaves {
		t.fwPrep[i+1], t.fwEff[i+1], t.fwTotal[i+1] = lf.prep, lf.eff, lf.total
	}
	for i := 1; i <= n; i++ {
		if j := i + i&-i; j <= n {
			t.fwPrep[j] += t.fwPrep[i]
			t.fwEff[j] += t.fwEff[i]
			t.fwTotal[j] += t.fwTotal[i]
		}
	}
}

// resize returns s cleared and of length n, reusing its array if it can;
// a new array at least doubles, so growing one step at a time (a tracker's
// Fenwick trees as leaves split) costs amortised O(1) per step.
func resize(s []int, n int) []int {
	if cap(s) >= n {
		s = s[:n]
		clear(s)
		return s
	}
	return make([]int, n, max(n, 2*cap(s)))
}

// appendNode extends the Fenwick trees by the node of lf, the new last
// leaf: node n covers leaves (n-lowbit(n), n], that is lf and the leaves
// before it down to n-lowbit(n)+1, whose sums the trees already give.
func (t *tracker) appendNode(lf *leaf) {
	n := len(t.leaves)
	lo := n - n&-n
	p1, e1, c1 := t.before(n - 1)
	p0, e0, c0 := t.before(lo)
	t.fwPrep = append(t.fwPrep, p1-p0+lf.prep)
	t.fwEff = append(t.fwEff, e1-e0+lf.eff)
	t.fwTotal = append(t.fwTotal, c1-c0+lf.total)
}

// add records that leaf li's counts changed by the deltas.
func (t *tracker) add(li, dPrep, dEff, dTotal int) {
	for i := li + 1; i < len(t.fwPrep); i += i & -i {
		t.fwPrep[i] += dPrep
		t.fwEff[i] += dEff
		t.fwTotal[i] += dTotal
	}
}

// before returns the counts of the leaves before leaf li.
func (t *tracker) before(li int) (prep, eff, total int) {
	for i := li; i > 0; i -= i & -i {
		prep += t.fwPrep[i]
		eff += t.fwEff[i]
		total += t.fwTotal[i]
	}
	return
}

type tcursor struct{ li, si, off int }

func (t *tracker) span(c tcursor) *tspan { return &t.leaves[c.li].spans[c.si] }

// roll moves c off the end of a span onto the start of the next one. It
// reports false at the end of the sequence.
func (t *tracker) roll(c *tcursor) bool {
	for {
		lf := t.leaves[c.li]
		if c.si < len(lf.spans) && c.off < lf.spans[c.si].n {
			return true
		}
		if c.si < len(lf.spans) {
			c.si++
			c.off = 0
			continue
		}
		if c.li+1 >= len(t.leaves) {
			return false
		}
		c.li++
		c.si, c.off = 0, 0
	}
}

// prepLen is the length of the document in the prepare version.
func (t *tracker) prepLen() int {
	p, _, _ := t.before(len(t.leaves))
	return p - t.slack
}

// effLen is the length of the effect version, placeholder included.
func (t *tracker) effLen() int {
	_, e, _ := t.before(len(t.leaves))
	return e
}

// findPrep returns the cursor at the item with prepare-visible index pos,
// and the item's position in the effect version (effPos of the cursor).
func (t *tracker) findPrep(pos int) (tcursor, int) {
	// Fenwick descent to the leaf holding pos; the nodes it adds up are
	// the leaf's prefix, so the effect counts come along.
	li, eff := 0, 0
	for step := 1 << (bits.Len(uint(len(t.fwPrep)-1)) - 1); step > 0; step >>= 1 {
		if j := li + step; j < len(t.fwPrep) && t.fwPrep[j] <= pos {
			li = j
			pos -= t.fwPrep[j]
			eff += t.fwEff[j]
		}
	}
	if li < len(t.leaves) {
		lf := t.leaves[li]
		for si := range lf.spans {
			s := &lf.spans[si]
			if s.state == stInserted && pos < s.n {
				if !s.everDel {
					eff += pos
				}
				return tcursor{li, si, pos}, eff
			}
			if s.state == stInserted {
				pos -= s.n
			}
			eff += s.eff()
		}
	}
	panic("crdt: tracker position out of range")
}

func (t *tracker) markers(lv int) *[]marker {
	if lv >= underwater {
		return &t.uw
	}
	return &t.idx
}

// findMarker returns the index of the first marker that ends after lv.
func findMarker(ms []marker, lv int) int {
	lo, hi := 0, len(ms)
	if k := hi - 1; k >= 0 && ms[k].lv <= lv {
		lo = k
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ms[m].lv+ms[m].n > lv {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// locate returns the cursor at item lv.
func (t *tracker) locate(lv int) tcursor {
	var lid int32
	if lv < underwater {
		lid = t.where.get(lv)
	} else {
		ms := t.uw
		i := findMarker(ms, lv)
		if i == len(ms) || ms[i].lv > lv {
			panic("crdt: tracker has no placeholder item for LV")
		}
		lid = ms[i].lid
	}
	if lid < 0 {
		panic("crdt: tracker has no item for LV")
	}
	lf := t.byID[lid]
	for si := range lf.spans {
		s := &lf.spans[si]
		if s.lv <= lv && lv < s.lv+s.n {
			return tcursor{lf.idx, si, lv - s.lv}
		}
	}
	panic("crdt: tracker index points at the wrong leaf")
}

// rank returns the number of items before c.
func (t *tracker) rank(c tcursor) int {
	_, _, r := t.before(c.li)
	lf := t.leaves[c.li]
	for si := 0; si < c.si && si < len(lf.spans); si++ {
		r += lf.spans[si].n
	}
	return r + c.off
}

// effPos returns the number of items before c visible in the effect version.
func (t *tracker) effPos(c tcursor) int {
	_, r, _ := t.before(c.li)
	lf := t.leaves[c.li]
	for si := 0; si < c.si && si < len(lf.spans); si++ {
		r += lf.spans[si].eff()
	}
	if c.si < len(lf.spans) && !lf.spans[c.si].everDel {
		r += c.off
	}
	return r
}

func (t *tracker) totalItems() int {
	_, _, n := t.before(len(t.leaves))
	return n
}

// rankAfter is the rank just after item lv (-1: the start).
func (t *tracker) rankAfter(lv int) int {
	if lv < 0 {
		return 0
	}
	return t.rank(t.locate(lv)) + 1
}

// rankBefore is the rank of item lv (endLV: the end).
func (t *tracker) rankBefore(lv int) int {
	if lv == endLV {
		return t.totalItems()
	}
	return t.rank(t.locate(lv))
}

// setMarker records m for LVs [m.lv, m.lv+m.n), replacing what was there.
func (t *tracker) setMarker(m marker) {
	p := t.markers(m.lv)
	s := *p
	end := m.lv + m.n
	i := findMarker(s, m.lv)
	if i == len(s) {
		if k := len(s) - 1; k >= 0 && m.lid != noLeaf && s[k].lid == m.lid && s[k].lv+s[k].n == m.lv {
			s[k].n += m.n
			return
		}
		*p = append(s, m)
		return
	}
	j := i
	for j < len(s) && s[j].lv < end {
		j++
	}
	var repl [3]marker
	k := 0
	if s[i].lv < m.lv {
		left := s[i]
		left.n = m.lv - left.lv
		if left.lid == noLeaf && left.rev {
			left.target += s[i].n - left.n
		}
		repl[k] = left
		k++
	}
	repl[k] = m
	k++
	if j > i && s[j-1].lv+s[j-1].n > end {
		right := s[j-1]
		cut := end - right.lv
		right.lv = end
		right.n -= cut
		if right.lid == noLeaf && !right.rev {
			right.target += cut
		}
		repl[k] = right
		k++
	}
	*p = slices.Replace(s, i, j, repl[:k]...)
}

// insertSpan puts s into the sequence at c (c.off may be inside a span,
// which is split) and returns where it went.
func (t *tracker) insertSpan(c tcursor, s tspan) {
	lf := t.leaves[c.li]
	si := c.si
	if si < len(lf.spans) && c.off > 0 {
		if c.off < lf.spans[si].n {
			right := lf.spans[si].split(c.off)
			lf.spans = slices.Insert(lf.spans, si+1, right)
			t.nspans++
		}
		si++
	}
	if si > 0 && lf.spans[si-1].joins(&s) {
		// Typing on: the run before grows.
		lf.spans[si-1].n += s.n
	} else {
		lf.spans = slices.Insert(lf.spans, si, s)
		t.nspans++
	}
	lf.prep += s.prep()
	lf.eff += s.eff()
	lf.total += s.n
	t.add(c.li, s.prep(), s.eff(), s.n)
	t.setMarker(marker{lv: s.lv, n: s.n, lid: insLeaf})
	t.where.set(s.lv, s.n, lf.id)
	t.maybeSplit(c.li)
}

// maybeSplit splits leaf li in two when it is over full and repoints the
// markers of the items that moved.
func (t *tracker) maybeSplit(li int) {
	lf := t.leaves[li]
	if len(lf.spans) <= leafMax {
		return
	}
	half := len(lf.spans) / 2
	nl := &leaf{spans: append(make([]tspan, 0, leafMax+8), lf.spans[half:]...), id: int32(len(t.byID))}
	t.byID = append(t.byID, nl)
	clear(lf.spans[half:])
	lf.spans = lf.spans[:half]
	lf.recount()
	nl.recount()
	if li+1 == len(t.leaves) {
		// The last leaf split (typing at the end): the Fenwick trees
		// gain a node instead of being rebuilt.
		t.add(li, -nl.prep, -nl.eff, -nl.total)
		t.leaves = append(t.leaves, nl)
		nl.idx = li + 1
		t.appendNode(nl)
	} else {
		t.leaves = slices.Insert(t.leaves, li+1, nl)
		for i := li + 1; i < len(t.leaves); i++ {
			t.leaves[i].idx = i
		}
		t.rebuild()
	}
	for i := range nl.spans {
		s := &nl.spans[i]
		if s.lv >= underwater {
			t.setMarker(marker{lv: s.lv, n: s.n, lid: nl.id})
		} else {
			t.where.set(s.lv, s.n, nl.id)
		}
	}
}

// mutate applies fn to the items [lv, lv+n), splitting spans at the edges.
func (t *tracker) mutate(lv, n int, fn func(*tspan)) {
	for n > 0 {
		c := t.locate(lv)
		lf := t.leaves[c.li]
		si := c.si
		if c.off > 0 {
			right := lf.spans[si].split(c.off)
			lf.spans = slices.Insert(lf.spans, si+1, right)
			t.nspans++
			si++
		}
		s := &lf.spans[si]
		if s.n > n {
			right := s.split(n)
			lf.spans = slices.Insert(lf.spans, si+1, right)
			t.nspans++
			s = &lf.spans[si]
		}
		k := s.n
		p0, e0 := s.prep(), s.eff()
		fn(s)
		dp, de := s.prep()-p0, s.eff()-e0
		lf.prep += dp
		lf.eff += de
		t.add(c.li, dp, de, 0)
		t.join(lf, si)
		t.maybeSplit(c.li)
		lv += k
		n -= k
	}
}

// join merges span si of lf with its neighbours where they join.
func (t *tracker) join(lf *leaf, si int) {
	sp := lf.spans
	if si+1 < len(sp) && sp[si].joins(&sp[si+1]) {
		sp[si].n += sp[si+1].n
		sp = slices.Delete(sp, si+1, si+2)
		t.nspans--
	}
	if si > 0 && sp[si-1].joins(&sp[si]) {
		sp[si-1].n += sp[si].n
		sp = slices.Delete(sp, si, si+1)
		t.nspans--
	}
	lf.spans = sp
}

// retreat and advance move the prepare version back over, or forward over,
// the ops [lv, lv+n), which the tracker has applied before.
func (t *tracker) retreat(lv, n int) { t.shift(lv, n, -1) }
func (t *tracker) advance(lv, n int) { t.shift(lv, n, +1) }

func (t *tracker) shift(lv, n int, dir int32) {
	end := lv + n
	// Collect the marker pieces first: mutating can reshape the index.
	pieces := t.pieces[:0]
	ms := t.idx
	for i := findMarker(ms, lv); i < len(ms) && ms[i].lv < end; i++ {
		m := ms[i]
		pieces = append(pieces, piece{m, max(lv, m.lv), min(end, m.lv+m.n)})
	}
	t.pieces = pieces
	if dir < 0 {
		slices.Reverse(pieces)
	}
	for _, p := range pieces {
		m := p.m
		if m.lid != noLeaf {
			t.mutate(p.x, p.y-p.x, func(s *tspan) {
				if dir < 0 {
					s.state = stNotYet
				} else {
					s.state = stInserted
				}
			})
			continue
		}
		var ts int
		if m.rev {
			ts = m.target + m.n - (p.y - m.lv)
		} else {
			ts = m.target + (p.x - m.lv)
		}
		t.mutate(ts, p.y-p.x, func(s *tspan) { s.state += dir })
	}
}

// applyInsert integrates n items [lv, lv+n) inserted at prepare position pos
// by agent, and returns their position in the effect version.
func (t *tracker) applyInsert(l *oplog, lv, n, pos int) int {
	var c tcursor
	ol, eff := -1, 0
	if pos > 0 {
		c, eff = t.findPrep(pos - 1)
		s := t.span(c)
		ol = s.lv + c.off
		if !s.everDel {
			eff++ // the item itself
		}
		c.off++
	}
	// Origin right: the next item that exists in the prepare version.
	or := endLV
	rc := c
	for t.roll(&rc) {
		s := t.span(rc)
		if s.state != stNotYet {
			or = s.lv + rc.off
			break
		}
		rc.off = s.n
	}
	item := tspan{lv: lv, n: n, ol: ol, or: or, state: stInserted}
	c, moved := t.integrate(l, item, c)
	if moved {
		eff = t.effPos(c)
	}
	t.insertSpan(c, item)
	return eff
}

// integrate finds where item goes among the concurrent items (those not yet
// inserted in the prepare version) between its origins. The rule is YATA's
// as modified by Yjs and Diamond Types, which orders like FugueMax: items
// with the same origins order by author key, smaller first.
//
// It reports whether the place it returns is past c.
func (t *tracker) integrate(l *oplog, item tspan, c tcursor) (tcursor, bool) {
	if !t.roll(&c) {
		return c, false
	}
	c0 := c
	left := -1 // rank of c0, computed when first needed
	scanStart, scanning := c, false
	var myAgent int
	var mySeq uint64
	agentKnown := false
	for {
		if !t.roll(&c) {
			break
		}
		other := t.span(c)
		otherLV := other.lv + c.off
		if otherLV == item.or {
			break
		}
		otherOL := otherLV - 1
		if c.off == 0 {
			otherOL = other.ol
		}
		ol := t.rankAfter(otherOL)
		if left < 0 {
			left = t.rank(c0)
		}
		if ol < left {
			break
		}
		if ol == left {
			if item.or == other.or {
				if !agentKnown {
					myAgent, mySeq = l.agentAt(item.lv)
					agentKnown = true
				}
				oa, os := l.agentAt(otherLV)
				cmp := l.agents[myAgent].Compare(l.agents[oa])
				if cmp < 0 || (cmp == 0 && mySeq < os) {
					break
				}
				scanning = false
			} else {
				myR := t.rankBefore(item.or)
				otherR := t.rankBefore(other.or)
				if otherR < myR {
					if !scanning {
						scanning = true
						scanStart = c
					}
				} else {
					scanning = false
				}
			}
		}
		c.off = other.n
	}
	if !scanning {
		scanStart = c
	}
	return scanStart, scanStart != c0
}

// applyDelete applies up to n deletes starting with op lv at prepare
// position pos (a forward run deletes [pos, pos+n) from the left, a backward
// one from the right). It returns how many ops it consumed, where they land
// in the effect version, and whether they delete anything there (false when
// a concurrent delete got there first).
func (t *tracker) applyDelete(lv, pos, n int, rev bool) (k, effPos int, deleted bool) {
	var c tcursor
	if !rev {
		c, effPos = t.findPrep(pos)
		k = min(n, t.span(c).n-c.off)
	} else {
		c, effPos = t.findPrep(pos + n - 1)
		k = min(n, c.off+1)
		c.off -= k - 1
		if !t.span(c).everDel {
			effPos -= k - 1
		}
	}
	s := t.span(c)
	target := s.lv + c.off
	deleted = !s.everDel
	t.mutate(target, k, func(s *tspan) {
		s.state++
		s.everDel = true
	})
	t.setMarker(marker{lv: lv, n: k, target: target, lid: noLeaf, rev: rev})
	return k, effPos, deleted
}

// holds reports whether the tracker has applied every op in ranges, or
// will before it needs them: ops from LV from on are applied by the merge
// that asks.
func (t *tracker) holds(ranges []lvRange, from int) bool {
	for _, r := range ranges {
		at := r.start
		for i := findMarker(t.idx, at); at < min(r.end, from); i++ {
			if i == len(t.idx) || t.idx[i].lv > at {
				return false
			}
			at = t.idx[i].lv + t.idx[i].n
		}
	}
	return true
}

// totalSpans counts the spans in the tracker.
func (t *tracker) totalSpans() int { return t.nspans }
