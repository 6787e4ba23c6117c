package crdt

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sort"
	"unicode/utf8"
)

// The op log is the full history of a document in local-version (LV) space:
// every single-character op gets the next integer when this replica learns
// it, so LV order is a topological order of the causal graph. All tables are
// run-length encoded and append-only.

// opRun is a run of ops of one kind whose positions continue each other.
type opRun struct {
	lv    int // first LV
	n     int // ops in the run
	pos   int // see Op
	cont  int // inserts: byte offset of the text in oplog.content
	kind  OpKind
	rev   bool // deletes: backspace order
	ascii bool // inserts: the text is ASCII (bytes == code points)
}

func (r *opRun) end() int { return r.lv + r.n }

// piece returns ops [i, j) of run r as one op run, without text.
func (r *opRun) piece(i, j int) Op {
	return Op{Kind: r.kind, Pos: r.piecePos(i, j), Len: j - i, Rev: r.kind == Delete && r.rev}
}

// piecePos returns the position of ops [i, j) of r taken as one run: an
// insert starts i code points in, a backward delete covers the range its
// last op ends at, a forward delete stays put.
func (r *opRun) piecePos(i, j int) int {
	switch {
	case r.kind == Insert:
		return r.pos + i
	case r.rev:
		return r.pos + r.n - j
	default:
		return r.pos
	}
}

// gEntry is a run of the causal graph: LVs [start, end) where each op's
// parent is the previous one, and the first op's parents are parents.
type gEntry struct {
	start, end int
	parents    []int // sorted ascending
	// shadow is the smallest LV s such that every LV in [s, end) is an
	// ancestor of end-1. It makes common ancestry checks O(1).
	shadow int
}

// aaRun assigns LVs [lv, lv+n) to an author's sequence numbers [seq, seq+n).
type aaRun struct {
	lv, n int
	agent int
	seq   uint64
}

// seqRun maps an author's sequence numbers [seq, seq+n) to LVs [lv, lv+n).
type seqRun struct {
	seq uint64
	lv  int
	n   int
}

type oplog struct {
	agents   []Author
	agentIdx map[Author]int
	aa       []aaRun
	seqs     [][]seqRun // per agent, ascending seq
	next     []uint64   // per agent: next sequence number

	graph []gEntry
	ops   []opRun
	// content is all inserted text in LV order.
	content []byte

	// changes holds the first LV of every sealed change (change i is LVs
	// [changes[i], changes[i+1])); hashes holds the hashes of a prefix of
	// them (all, except after Load until one is needed).
	changes []int
	hashes  hashList
	// hashIdx finds a change by hash.
	hashIdx changeIndex

	heads   []int    // frontier of the whole log
	arena   []int    // backing store of graph entries' parents
	indexed int      // changes [0, indexed) are in hashIdx
	id      DocID    // what change hashes cover
	heapBuf []lvItem // scratch for graph walks
	// hints are the table indexes the last lookups found: walks in LV
	// order find the next one there or just after. Lookups check them.
	hints   struct{ op, aa, agent int }
	markBuf logMark // arrays the live mark reuses
	scratch mergeScratch
	// hasher hashes changes; hbuf and hops are its scratch for bodies.
	hasher hasher
	hbuf   []byte
	hops   []Op
	// hashPrimed[agent]: the hasher's slot agent holds the first block
	// of the agent's change hashes (see primeHash).
	hashPrimed []bool
	// open is the first LV of the unsealed local change, or -1: those ops
	// belong to no change yet.
	open int
}

func newOplog() *oplog {
	return &oplog{agentIdx: map[Author]int{}, open: -1}
}

func (l *oplog) len() int {
	if len(l.ops) == 0 {
		return 0
	}
	return l.ops[len(l.ops)-1].end()
}

// agentOf returns the index of author a, if the log has one. Changes
// arrive in runs by one author, so the last author found is compared
// before the map is asked.
func (l *oplog) agentOf(a Author) (int, bool) {
	if h := l.hints.agent; h < len(l.agents) && l.agents[h] == a {
		return h, true
	}
	i, ok := l.agentIdx[a]
	if ok {
		l.hints.agent = i
	}
	return i, ok
}

func (l *oplog) agent(a Author) int {
	if i, ok := l.agentOf(a); ok {
		return i
	}
	i := len(l.agents)
	l.agents = append(l.agents, a)
	l.agentIdx[a] = i
	l.seqs = append(l.seqs, nil)
	l.next = append(l.next, 0)
	return i
}

// assign records that the next n LVs (starting at lv) are ops of agent
// starting at its next sequence number.
func (l *oplog) assign(agent, lv, n int) {
	seq := l.next[agent]
	l.next[agent] += uint64(n)
	if k := len(l.aa) - 1; k >= 0 {
		last := &l.aa[k]
		if last.agent == agent && last.lv+last.n == lv && last.seq+uint64(last.n) == seq {
			last.n += n
			s := &l.seqs[agent][len(l.seqs[agent])-1]
			s.n += n
			return
		}
	}
	l.aa = appendDoubling(l.aa, aaRun{lv: lv, n: n, agent: agent, seq: seq})
	if ss := l.seqs[agent]; len(ss) > 0 {
		s := &ss[len(ss)-1]
		if s.seq+uint64(s.n) == seq && s.lv+s.n == lv {
			s.n += n
			return
		}
	}
	l.seqs[agent] = append(l.seqs[agent], seqRun{seq: seq, lv: lv, n: n})
}

// agentAt returns the author index and sequence number of lv.
func (l *oplog) agentAt(lv int) (int, uint64) {
	aa := l.aa
	if h := l.hints.aa; h < len(aa) && aa[h].lv <= lv && lv < aa[h].lv+aa[h].n {
		return aa[h].agent, aa[h].seq + uint64(lv-aa[h].lv)
	}
	lo, hi := 0, len(aa)
	if k := hi - 1; k >= 0 && aa[k].lv <= lv {
		lo = k
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if aa[m].lv+aa[m].n > lv {
			hi = m
		} else {
			lo = m + 1
		}
	}
	l.hints.aa = lo
	r := &aa[lo]
	return r.agent, r.seq + uint64(lv-r.lv)
}

// lvOf returns the LV of agent's op seq, or -1.
func (l *oplog) lvOf(agent int, seq uint64) int {
	ss := l.seqs[agent]
	// Checking an author's previous op asks for its newest run.
	if k := len(ss) - 1; k >= 0 && ss[k].seq <= seq && seq < ss[k].seq+uint64(ss[k].n) {
		return ss[k].lv + int(seq-ss[k].seq)
	}
	i := sort.Search(len(ss), func(i int) bool { return ss[i].seq+uint64(ss[i].n) > seq })
	if i == len(ss) || ss[i].seq > seq {
		return -1
	}
	return ss[i].lv + int(seq-ss[i].seq)
}

// addGraph records that LVs [lv, lv+n) follow parents (sorted).
func (l *oplog) addGraph(lv, n int, parents []int) {
	if k := len(l.graph) - 1; k >= 0 {
		last := &l.graph[k]
		if last.end == lv && len(parents) == 1 && parents[0] == lv-1 {
			last.end += n
			return
		}
	}
	shadow := lv
	if len(parents) > 0 && parents[len(parents)-1] == lv-1 {
		// Everything the previous op directly contains is ours too.
		shadow = l.graph[l.entryAt(lv-1)].shadow
	}
	l.graph = appendDoubling(l.graph, gEntry{start: lv, end: lv + n, parents: l.keepParents(parents), shadow: shadow})
}

// keepParents copies parents into the log's parent arena: entries share a
// few large arrays instead of one small allocation each.
func (l *oplog) keepParents(p []int) []int {
	if len(p) == 0 {
		return nil
	}
	if cap(l.arena)-len(l.arena) < len(p) {
		l.arena = make([]int, 0, max(256, min(2*cap(l.arena), 1<<16), len(p)))
	}
	start := len(l.arena)
	l.arena = append(l.arena, p...)
	return l.arena[start:len(l.arena):len(l.arena)]
}

// entryAt returns the index of the graph entry containing lv.
func (l *oplog) entryAt(lv int) int {
	g := l.graph
	if k := len(g) - 1; k >= 0 && g[k].start <= lv {
		return k
	}
	lo, hi := 0, len(g)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g[m].end > lv {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// entryNear is entryAt for an lv at or before entry hint, as in walks that
// go back through the graph: it gallops back from hint, so a step to a
// nearby entry costs a few comparisons.
func (l *oplog) entryNear(lv, hint int) int {
	g := l.graph
	if hint < 0 || hint >= len(g) || g[hint].end <= lv {
		return l.entryAt(lv)
	}
	if g[hint].start <= lv {
		return hint
	}
	// g[hi].start > lv: the entry is before hi.
	hi, step := hint, 1
	lo := hi - step
	for lo > 0 && g[lo].start > lv {
		hi = lo
		step *= 2
		lo = hi - step
	}
	lo = max(lo, 0)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g[m].end > lv {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// parentsOf returns the parents of lv.
func (l *oplog) parentsOf(lv int) []int {
	e := &l.graph[l.entryAt(lv)]
	if lv == e.start {
		return e.parents
	}
	return []int{lv - 1}
}

// pushOp appends a run of n ops at LV l.len(), merging it into the last
// run the way appendOp merges a change's ops. For inserts text holds the
// run's text.
func (l *oplog) pushOp(kind OpKind, pos, n int, rev bool, text string) {
	if kind == Insert || n == 1 {
		rev = false
	}
	if k := len(l.ops) - 1; k >= 0 && l.ops[k].kind == kind {
		last := &l.ops[k]
		if kind == Insert {
			if pos == last.pos+last.n {
				last.n += n
				l.content = append(l.content, text...)
				last.ascii = last.ascii && len(text) == n
				return
			}
		} else if take, mode := delMerge(last.pos, last.n, last.rev, pos, n, rev); take > 0 {
			if mode == 2 {
				last.rev = true
				last.pos = pos
			}
			last.n += take
			if take == n {
				return
			}
			n -= take
			if n == 1 {
				rev = false
			}
		}
	}
	r := opRun{lv: l.len(), n: n, pos: pos, kind: kind, rev: rev}
	if kind == Insert {
		r.cont = len(l.content)
		r.ascii = len(text) == n
		l.content = append(l.content, text...)
	}
	l.ops = appendDoubling(l.ops, r)
}

// opIndex returns the index of the op run containing lv.
func (l *oplog) opIndex(lv int) int {
	ops := l.ops
	if k := len(ops) - 1; k >= 0 && ops[k].lv <= lv {
		return k
	}
	// Walks (replaying, hashing a history) read the runs in order.
	for h := l.hints.op; h < len(ops) && h <= l.hints.op+1; h++ {
		if ops[h].lv <= lv && lv < ops[h].lv+ops[h].n {
			l.hints.op = h
			return h
		}
	}
	lo, hi := 0, len(ops)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ops[m].lv+ops[m].n > lv {
			hi = m
		} else {
			lo = m + 1
		}
	}
	l.hints.op = lo
	return lo
}

// runText returns the text of ops [i, j) of insert run ri.
func (l *oplog) runText(ri int, i, j int) string {
	bs, be := l.runByteRange(ri, i, j)
	return string(l.content[bs:be])
}

// runBytes returns the content bytes of insert run ri.
func (l *oplog) runBytes(ri int) []byte {
	r := &l.ops[ri]
	end := len(l.content)
	for k := ri + 1; k < len(l.ops); k++ {
		if l.ops[k].kind == Insert {
			end = l.ops[k].cont
			break
		}
	}
	return l.content[r.cont:end]
}

// changeAt returns the index of the sealed change containing lv.
func (l *oplog) changeAt(lv int) int {
	c := l.changes
	if k := len(c) - 1; k >= 0 && c[k] <= lv {
		return k
	}
	return sort.Search(len(c), func(i int) bool { return c[i] > lv }) - 1
}

// changeEnd returns the end LV of change i.
func (l *oplog) changeEnd(i int) int {
	if i+1 < len(l.changes) {
		return l.changes[i+1]
	}
	if l.open >= 0 {
		return l.open
	}
	return l.len()
}

func hashKey(h Hash) uint64 {
	return uint64(h[0]) | uint64(h[1])<<8 | uint64(h[2])<<16 | uint64(h[3])<<24 |
		uint64(h[4])<<32 | uint64(h[5])<<40 | uint64(h[6])<<48 | uint64(h[7])<<56
}

// findChange returns the index of the change with hash h, or -1.
func (l *oplog) findChange(h Hash) int {
	l.ensureIndexed()
	// Live changes usually name the latest changes as parents: look at
	// those first, in the cache, before the index.
	n := l.indexed
	for k := n - 1; k >= 0 && k >= n-recentChanges; k-- {
		if *l.hashes.at(k) == h {
			return k
		}
	}
	return l.hashIdx.find(&l.hashes, n, h)
}

// recentChanges is how many of the latest changes findChange compares
// before it asks the index.
const recentChanges = 4

// hashOf returns the hash of change ci.
func (l *oplog) hashOf(ci int) Hash {
	l.ensureHashed()
	return *l.hashes.at(ci)
}

// addChange records a sealed change starting at lv with hash h. The hash
// index catches up lazily, on the next lookup.
func (l *oplog) addChange(lv int, h Hash) {
	if l.hashes.len() != len(l.changes) {
		// Callers look parents up (or build the change's parents) first,
		// which hashes everything before.
		panic("crdt: a hashed change added before earlier ones were hashed")
	}
	l.changes = appendDoubling(l.changes, lv)
	l.hashes.push(h)
}

// addUnhashed records a change whose hash is computed when first needed
// (documents loaded from this device's own checksummed storage).
func (l *oplog) addUnhashed(lv int) {
	l.changes = append(l.changes, lv)
}

// ensureHashed computes the hashes of changes added unhashed. A change's
// hash covers its parents' hashes, so they are computed in order.
func (l *oplog) ensureHashed() {
	if l.hashes.len() == len(l.changes) {
		return
	}
	l.hashes.reserve(len(l.changes))
	var hashes []Hash
	for ci := l.hashes.len(); ci < len(l.changes); ci++ {
		start := l.changes[ci]
		hashes = hashes[:0]
		for _, p := range l.parentsOf(start) {
			if ci > 0 && p == start-1 {
				hashes = append(hashes, *l.hashes.at(ci - 1))
			} else {
				hashes = append(hashes, *l.hashes.at(l.changeAt(p)))
			}
		}
		sortHashes(hashes)
		l.hashes.push(l.changeHash(start, l.changeEnd(ci), hashes))
	}
	l.trimHashScratch()
}

// changeHash returns the hash of the change made of LVs [start, end) with
// the given parents' hashes (sorted), encoding it from the log.
func (l *oplog) changeHash(start, end int, parents []Hash) Hash {
	agent, seq := l.agentAt(start)
	ri := l.opIndex(start)
	if r := &l.ops[ri]; start < end && end <= r.end() {
		// Inside one run (every typed change): its one op encodes as
		// it is, with no op list to build.
		i, j := start-r.lv, end-r.lv
		if agent < len(l.hashPrimed) && l.hashPrimed[agent] && rawState() {
			// The hasher's slot for the author holds the first block
			// (hashPrefix, version, the start of the author's key):
			// only the rest is built and hashed.
			if sum, ok := l.hashRest(agent, seq, parents, ri, i, j); ok {
				return sum
			}
		}
		b := hashPrefix(l.hbuf[:0], l.id)
		b = appendChangeHead(b, &l.agents[agent], seq, parents)
		b = l.appendRunOp(b, ri, i, j)
		l.hbuf = b
		sum := l.hasher.hash(agent, b)
		l.primeHash(agent)
		return sum
	}
	l.hbuf, l.hops = l.appendBody(hashPrefix(l.hbuf[:0], l.id), start, end, parents, l.hops)
	return l.hasher.hash(agent, l.hbuf)
}

// hashChain hashes and records the k changes of cnt ops each that start at
// LV first, all by the author of the last recorded change and each made
// right on top of the one before: its hash is the only parent. This is an
// author typing on alone, most of a decoded history; the ops are read run
// by run, with no lookup per change, and a change inside one run has the
// rest of its message (after the author's first block) written straight
// into the hasher's block buffer (chainRest).
func (l *oplog) hashChain(first, cnt, k int) {
	agent, seq := l.agentAt(first)
	prev := *l.hashes.at(l.hashes.len() - 1)
	ri := l.opIndex(first)
	primed := agent < len(l.hashPrimed) && l.hashPrimed[agent] && rawState()
	tail := l.agents[agent][firstAuthorBytes:]
	// In a non-ASCII insert run, code point ci starts at content byte cb:
	// the changes go forward through a run, so finding each one's text
	// is a step, not a scan from the run's start.
	cri, ci, cb := -1, 0, 0
	for s, end := first, first+k*cnt; s < end; s += cnt {
		for l.ops[ri].end() <= s {
			ri++
		}
		r := &l.ops[ri]
		ok := false
		if primed && s+cnt <= r.end() {
			i, j := s-r.lv, s+cnt-r.lv
			var text []byte
			if r.kind == Insert {
				if r.ascii {
					text = l.content[r.cont+i : r.cont+j]
				} else {
					if cri != ri || ci > i {
						cri, ci, cb = ri, 0, r.cont
					}
					cb += byteOffset(l.content[cb:], -1, i-ci)
					n := byteOffset(l.content[cb:], -1, j-i)
					text = l.content[cb : cb+n]
					ci, cb = j, cb+n
				}
			}
			if n := l.chainRest(tail, seq, &prev, r, i, j, text); n >= 0 {
				prev, ok = l.hasher.blockAfter(agent, n)
			}
		}
		if !ok {
			prev = l.changeHash(s, s+cnt, []Hash{prev})
		}
		l.addChange(s, prev)
		seq += uint64(cnt)
	}
}

// chainRest writes into the hasher's block buffer what follows the
// author's first block in the message of the change at seq whose only
// parent is parent and whose ops are [i, j) of run r (text: an insert's
// text): the end of the author's key (tail), then what appendSeqParents
// and appendRunOp write. It returns the length, or -1 if the message
// might not fit (see blockAfter).
func (l *oplog) chainRest(tail []byte, seq uint64, parent *Hash, r *opRun, i, j int, text []byte) int {
	b := &l.hasher.blk
	// The fixed bytes, the parent and four varints at their longest.
	if len(tail)+2+len(Hash{})+1+4*binary.MaxVarintLen64+len(text) > maxBlockRest {
		return -1
	}
	// Byte by byte: every piece is a few bytes, too short to pay for a
	// call to copy.
	k := 0
	for _, c := range tail {
		b[k] = c
		k++
	}
	k = putUvarint(b, k, seq)
	b[k] = 1 // one parent
	k++
	*(*Hash)(b[k : k+len(Hash{})]) = *parent
	k += len(Hash{})
	b[k] = 1 // one op
	k++
	k = putUvarint(b, k, opHeader(r.kind, j-i, r.kind == Delete && r.rev && j-i > 1))
	k = putUvarint(b, k, uint64(r.piecePos(i, j)))
	if r.kind == Insert {
		k = putUvarint(b, k, uint64(len(text)))
		for _, c := range text {
			b[k] = c
			k++
		}
	} else {
		b[k] = 0 // no text
		k++
	}
	return k
}

// putUvarint writes v as a uvarint into b at k and returns the end.
func putUvarint(b *[2 * sha256.BlockSize]byte, k int, v uint64) int {
	for v >= 0x80 {
		b[k] = byte(v) | 0x80
		v >>= 7
		k++
	}
	b[k] = byte(v)
	return k + 1
}

// hashRest returns the hash of the change by agent at seq with the given
// parents made of ops [i, j) of run ri, building only the rest of the
// message after the author's first block, which the hasher's slot for the
// agent holds (the caller checks hashPrimed and rawState). A rest that
// fits two blocks (any typed change or merge of a few parents) is written
// into the hasher's block buffer and padded there.
func (l *oplog) hashRest(agent int, seq uint64, parents []Hash, ri, i, j int) (Hash, bool) {
	h := &l.hasher
	b := append(h.blk[:0], l.agents[agent][firstAuthorBytes:]...)
	b = l.appendRunOp(appendSeqParents(b, seq, parents), ri, i, j)
	if len(b) <= maxBlockRest {
		// b is still h.blk: a slice no longer than its array never
		// leaves it.
		return h.blockAfter(agent, len(b))
	}
	sum, rest, ok := h.hashAfter(agent, append(l.hbuf[:0], b...))
	l.hbuf = rest
	return sum, ok
}

// appendRunOp appends the op list of a change made of ops [i, j) of run
// ri: one op, and its text.
func (l *oplog) appendRunOp(b []byte, ri, i, j int) []byte {
	r := &l.ops[ri]
	b = append(b, 1)
	b = binary.AppendUvarint(b, opHeader(r.kind, j-i, r.kind == Delete && r.rev && j-i > 1))
	b = binary.AppendUvarint(b, uint64(r.piecePos(i, j)))
	if r.kind == Insert {
		bs, be := l.runByteRange(ri, i, j)
		b = binary.AppendUvarint(b, uint64(be-bs))
		return append(b, l.content[bs:be]...)
	}
	return append(b, 0)
}

// primeHash records that the hasher's slot for agent now holds the first
// block of the agent's change hashes in this log (every message hashed
// with slot agent starts with that block, as hash put it there, unless it
// was too short to use the slot; hashAfter checks the slot is filled), so
// changeHash can hash only what follows it.
func (l *oplog) primeHash(agent int) {
	if firstAuthorBytes < 0 || firstAuthorBytes > len(Author{}) {
		return
	}
	for len(l.hashPrimed) <= agent {
		l.hashPrimed = append(l.hashPrimed, false)
	}
	l.hashPrimed[agent] = true
}

// trimHashScratch drops changeHash's buffers when a big change grew them,
// rather than keep them for the document's lifetime.
func (l *oplog) trimHashScratch() {
	if cap(l.hbuf) > 64<<10 {
		l.hbuf = nil
	}
	if cap(l.hops) > maxScratch {
		l.hops = nil
	}
}

// ensureIndexed adds every change to the hash index.
func (l *oplog) ensureIndexed() {
	if l.indexed == len(l.changes) {
		return
	}
	l.ensureHashed()
	for ci := l.indexed; ci < len(l.changes); ci++ {
		l.hashIdx.add(&l.hashes, ci)
	}
	l.indexed = len(l.changes)
}

// appendDoubling appends x to s, doubling the capacity when s is full. The
// log's tables only grow, one run at a time; append's gentler growth for
// large slices would copy them about four times over.
func appendDoubling[T any](s []T, x T) []T {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 8))
	}
	return append(s, x)
}

func containsInt(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// runByteRange returns the byte range in content of ops [i, j) of insert
// run ri. Non-ASCII runs are scanned from whichever end is nearer, so
// reading the tail of a long run (as merges do while it is being typed)
// costs what the tail holds.
func (l *oplog) runByteRange(ri, i, j int) (int, int) {
	r := &l.ops[ri]
	if r.ascii {
		return r.cont + i, r.cont + j
	}
	b := l.runBytes(ri)
	if i <= r.n-j {
		bi := byteOffset(b, -1, i)
		return r.cont + bi, r.cont + bi + byteOffset(b[bi:], -1, j-i)
	}
	// From the end: step back over r.n-j, then j-i code points.
	be := len(b)
	for k := 0; k < r.n-j; k++ {
		be = runeStart(b, be)
	}
	bs := be
	for k := 0; k < j-i; k++ {
		bs = runeStart(b, bs)
	}
	return r.cont + bs, r.cont + be
}

// runeStart returns the start of the code point that ends at byte end.
func runeStart(b []byte, end int) int {
	end--
	for end > 0 && !utf8.RuneStart(b[end]) {
		end--
	}
	return end
}
