package crdt

// Graph queries over the op log's causal graph. Versions are frontiers:
// sorted sets of LVs none of which is an ancestor of another; the empty
// frontier is the root (the empty document).

// lvRange is the half-open LV range [start, end).
type lvRange struct{ start, end int }

// pushRev adds [start, end) to spans that are built in descending order,
// merging with the previous span when they touch.
func pushRev(spans []lvRange, start, end int) []lvRange {
	if start >= end {
		return spans
	}
	if k := len(spans) - 1; k >= 0 && spans[k].start == end {
		spans[k].start = start
		return spans
	}
	return append(spans, lvRange{start, end})
}

func reverseRanges(s []lvRange) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

const (
	flagA uint8 = iota
	flagB
	flagShared
)

type lvItem struct {
	lv   int
	flag uint8
}

// contains reports whether frontier f has lv in its history.
func (l *oplog) contains(f []int, lv int) bool {
	for _, x := range f {
		if x == lv {
			return true
		}
		if x > lv && l.graph[l.entryAt(x)].shadow <= lv {
			return true
		}
	}
	h := lvHeap(l.heapBuf[:0])
	defer func() { l.heapBuf = h[:0] }()
	for _, x := range f {
		if x > lv {
			h.push(lvItem{lv: x})
		}
	}
	hint := -1
	for len(h) > 0 {
		// The walk goes back from the newest ops: each entry is found
		// from the one before, a few steps away.
		x := h.pop().lv
		hint = l.entryNear(x, hint)
		e := &l.graph[hint]
		if e.shadow <= lv {
			return true
		}
		for len(h) > 0 && h.top().lv >= e.start {
			h.pop()
		}
		for _, p := range e.parents {
			if p == lv {
				return true
			}
			if p > lv {
				h.push(lvItem{lv: p})
			}
		}
	}
	return false
}

// diff returns the LV ranges only in the history of a and only in the
// history of b, each in ascending order.
func (l *oplog) diff(a, b []int) (onlyA, onlyB []lvRange) {
	return l.diffInto(a, b, nil, nil)
}

// diffInto is diff writing into the buffers onlyA and onlyB (whose
// contents it discards), so that a walk reuses them from step to step.
func (l *oplog) diffInto(a, b []int, onlyA, onlyB []lvRange) ([]lvRange, []lvRange) {
	onlyA, onlyB = onlyA[:0], onlyB[:0]
	if equalInts(a, b) {
		return onlyA, onlyB
	}
	hint := -1
	if len(a) == 1 && len(b) == 1 {
		x, y := a[0], b[0]
		ex, ey := l.entryAt(x), l.entryAt(y)
		if x > y && ex == ey {
			return append(onlyA, lvRange{y + 1, x + 1}), onlyB
		}
		if y > x && ex == ey {
			return onlyA, append(onlyB, lvRange{x + 1, y + 1})
		}
		// The walk starts at the later of the two: its entry is known.
		hint = ex
		if y > x {
			hint = ey
		}
	}
	h := lvHeap(l.heapBuf[:0])
	for _, x := range a {
		h.push(lvItem{x, flagA})
	}
	for _, x := range b {
		h.push(lvItem{x, flagB})
	}
	shared := 0
	for len(h) > 0 {
		it := h.pop()
		lv, flag := it.lv, it.flag
		if flag == flagShared {
			shared--
		}
		for len(h) > 0 && h.top().lv == lv {
			if h.top().flag != flag {
				flag = flagShared
			}
			if h.top().flag == flagShared {
				shared--
			}
			h.pop()
		}
		hint = l.entryNear(lv, hint)
		e := &l.graph[hint]
		for len(h) > 0 && h.top().lv >= e.start {
			top := h.pop()
			if top.flag != flag {
				switch flag {
				case flagA:
					onlyA = pushRev(onlyA, top.lv+1, lv+1)
				case flagB:
					onlyB = pushRev(onlyB, top.lv+1, lv+1)
				}
				lv = top.lv
				flag = flagShared
			}
			if top.flag == flagShared {
				shared--
			}
		}
		switch flag {
		case flagA:
			onlyA = pushRev(onlyA, e.start, lv+1)
		case flagB:
			onlyB = pushRev(onlyB, e.start, lv+1)
		}
		for _, p := range e.parents {
			h.push(lvItem{p, flag})
			if flag == flagShared {
				shared++
			}
		}
		if len(h) == shared {
			break
		}
	}
	l.heapBuf = h[:0]
	reverseRanges(onlyA)
	reverseRanges(onlyB)
	return onlyA, onlyB
}

// timePoint is a version in findConflicting's queue: its highest LV and the
// rest of it (sorted), so a merge version stays one item until it is the
// highest thing left.
type timePoint struct {
	last   int // -1: the root
	merged []int
	flag   uint8
}

// tpLater orders findConflicting's queue: the highest LV first and, at the
// same LV, the bigger version.
func tpLater(a, b timePoint) bool {
	if a.last != b.last {
		return a.last > b.last
	}
	return len(a.merged) > len(b.merged)
}

func tpEqual(a, b timePoint) bool {
	return a.last == b.last && equalInts(a.merged, b.merged)
}

func tpFrom(f []int, flag uint8) timePoint {
	if len(f) == 0 {
		return timePoint{last: -1, flag: flag}
	}
	return timePoint{last: f[len(f)-1], merged: f[:len(f)-1], flag: flag}
}

// findConflicting walks back from versions a and b until their histories
// meet in a single version, the common version. Every op it passes is a
// descendant of that version. It returns the common version, the ops only
// in b's history (the new ops, ascending) and the rest (ascending).
func (l *oplog) findConflicting(a, b []int) (common []int, conflict, onlyB []lvRange) {
	h := heap[timePoint]{before: tpLater}
	h.push(tpFrom(a, flagA))
	h.push(tpFrom(b, flagB))
	visit := func(start, end int, flag uint8) {
		if flag == flagB {
			onlyB = pushRev(onlyB, start, end)
		} else {
			conflict = pushRev(conflict, start, end)
		}
	}
	for {
		tp := h.pop()
		t, flag := tp.last, tp.flag
		if t < 0 {
			common = nil
			break
		}
		for h.len() > 0 && tpEqual(h.top(), tp) {
			if h.top().flag != flag {
				flag = flagShared
			}
			h.pop()
		}
		if h.len() == 0 {
			common = append(append([]int(nil), tp.merged...), t)
			break
		}
		for _, m := range tp.merged {
			h.push(timePoint{last: m, flag: flag})
		}
		e := &l.graph[l.entryAt(t)]
		end := t + 1
		for h.len() > 0 && h.top().last >= e.start {
			next := h.pop()
			if next.last+1 < end {
				visit(next.last+1, end, flag)
				end = next.last + 1
			}
			if next.flag != flag {
				flag = flagShared
			}
			for _, m := range next.merged {
				h.push(timePoint{last: m, flag: next.flag})
			}
		}
		visit(e.start, end, flag)
		h.push(tpFrom(e.parents, flag))
	}
	reverseRanges(conflict)
	reverseRanges(onlyB)
	return common, conflict, onlyB
}

// computeHeads returns the frontier of the whole log: the last ops that no
// other op follows.
func (l *oplog) computeHeads() []int {
	n := l.len()
	if n == 0 {
		return nil
	}
	// Only the last op of an entry can be a head; it is not one if some
	// entry names it as a parent.
	followed := make([]bool, len(l.graph))
	for ei, e := range l.graph {
		for _, p := range e.parents {
			if i := l.entryNear(p, ei-1); l.graph[i].end-1 == p {
				followed[i] = true
			}
		}
	}
	var heads []int
	for i, e := range l.graph {
		if !followed[i] {
			heads = append(heads, e.end-1)
		}
	}
	return heads
}
