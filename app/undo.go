package app

import (
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/quire-dev/quire/crdt"
)

// Undo and redo of this device's own edits.
//
// Each undo step is a list of primitive ops (insert or delete) that, applied
// in order to the current text, revert one group of local edits. The steps
// form a chain: the top step applies to the current text, the one below it
// to the text the top step's ops produce, and so on. A local edit pushes its
// inverse on top, so the steps below stay valid unchanged. A remote edit r
// (another person's work) is transformed through the chain from the top
// down (operational transformation's inclusion transform in both
// directions): each step is rewritten to apply after r, and r is rewritten
// to apply after that step, ready for the next one down. So undoing never
// removes or restores other people's text, only this device's. The redo
// chain works the same way.

// Undo history limits.
const (
	// maxUndo bounds the steps kept in each of the undo and redo chains;
	// when a new step would exceed it, the oldest step is forgotten.
	maxUndo = 500
	// maxStepOps bounds the ops in one step; a group of edits that would
	// exceed it starts a new step instead.
	maxStepOps = 64
	// undoGroupGap is how long a pause in typing may be for the next
	// keystroke still to join the same undo step.
	undoGroupGap = 2 * time.Second
)

// op is a primitive text op in code points: insert text at pos, or (text
// empty) delete n code points at pos.
type op struct {
	pos, n int
	text   string
}

func (o op) isInsert() bool { return o.text != "" }

// length is the number of code points the op inserts or deletes.
func (o op) length() int {
	if o.isInsert() {
		return utf8.RuneCountInString(o.text)
	}
	return o.n
}

// opsOf splits edits (each a delete then an insert) into primitive ops.
func opsOf(edits []crdt.Edit) []op {
	out := make([]op, 0, len(edits))
	for _, e := range edits {
		if e.Del > 0 {
			out = append(out, op{pos: e.Pos, n: e.Del})
		}
		if e.Text != "" {
			out = append(out, op{pos: e.Pos, text: e.Text})
		}
	}
	return out
}

// editsOf turns primitive ops into edits.
func editsOf(ops []op) []crdt.Edit {
	out := make([]crdt.Edit, 0, len(ops))
	for _, o := range ops {
		if o.isInsert() {
			out = append(out, crdt.Edit{Pos: o.pos, Text: o.text})
		} else if o.n > 0 {
			out = append(out, crdt.Edit{Pos: o.pos, Del: o.n})
		}
	}
	return out
}

// transform rewrites two op lists that both apply to the same text: a2
// applies after b and does what a did, b2 applies after a and does what b
// did. Where both insert at one position, a's text goes first if aFirst.
// Text inserted inside a range the other side deletes survives: the
// deletion is split around it.
func transform(a, b []op, aFirst bool) (a2, b2 []op) {
	switch {
	case len(a) == 0 || len(b) == 0:
		return a, b
	case len(a) == 1 && len(b) == 1:
		return transform1(a[0], b[0], aFirst)
	case len(a) > 1:
		head, b1 := transform(a[:1], b, aFirst)
		rest, b2 := transform(a[1:], b1, aFirst)
		return slices.Concat(head, rest), b2
	default:
		a1, head := transform(a, b[:1], aFirst)
		a2, rest := transform(a1, b[1:], aFirst)
		return a2, slices.Concat(head, rest)
	}
}

func transform1(a, b op, aFirst bool) ([]op, []op) {
	switch {
	case a.isInsert() && b.isInsert():
		if a.pos < b.pos || (a.pos == b.pos && aFirst) {
			return []op{a}, []op{{pos: b.pos + a.length(), text: b.text}}
		}
		return []op{{pos: a.pos + b.length(), text: a.text}}, []op{b}
	case a.isInsert():
		return insertDelete(a, b)
	case b.isInsert():
		b2, a2 := insertDelete(b, a)
		return a2, b2
	default:
		return deleteDelete(a, b), deleteDelete(b, a)
	}
}

// insertDelete transforms insert ins and delete del against each other.
func insertDelete(ins, del op) (ins2, del2 []op) {
	n := ins.length()
	switch {
	case ins.pos <= del.pos:
		return []op{ins}, []op{{pos: del.pos + n, n: del.n}}
	case ins.pos >= del.pos+del.n:
		return []op{{pos: ins.pos - del.n, text: ins.text}}, []op{del}
	default: // inside the deleted range: keep the insert, split the delete
		before := ins.pos - del.pos
		return []op{{pos: del.pos, text: ins.text}},
			[]op{{pos: del.pos, n: before}, {pos: del.pos + n, n: del.n - before}}
	}
}

// deleteDelete returns delete a after delete b: a without what b already
// deleted, moved by what b deleted before it; nil if nothing is left.
func deleteDelete(a, b op) []op {
	aEnd, bEnd := a.pos+a.n, b.pos+b.n
	overlap := max(0, min(aEnd, bEnd)-max(a.pos, b.pos))
	pos := a.pos
	if b.pos < a.pos {
		pos -= min(bEnd, a.pos) - b.pos
	}
	if n := a.n - overlap; n > 0 {
		return []op{{pos: pos, n: n}}
	}
	return nil
}

// step is one undoable (or redoable) group of edits: ops that revert it.
type step struct {
	ops []op
}

// history is a document's undo and redo chains. It is owned by the
// document's actor goroutine.
type history struct {
	undo, redo []step
	// The open group: the next local edit joins the top undo step if it
	// continues typing or deleting where the last one left off, soon
	// enough.
	groupOpen bool
	groupKind byte // 'i' typing, 'd' deleting
	groupEnd  int  // where the next keystroke of the group would be
	groupLast rune // the last character typed in the group
	groupAt   time.Time
	replaying bool // applying an undo or redo: edits are not recorded
}

// local records a local edit: at pos, deleted (the text removed) was
// replaced by ins.
func (h *history) local(pos int, deleted, ins string, now time.Time) {
	if h.replaying {
		return
	}
	nDel, nIns := utf8.RuneCountInString(deleted), utf8.RuneCountInString(ins)
	if nDel == 0 && nIns == 0 {
		return
	}
	var inv []op
	if nIns > 0 {
		inv = append(inv, op{pos: pos, n: nIns})
	}
	if nDel > 0 {
		inv = append(inv, op{pos: pos, text: deleted})
	}
	h.redo = nil
	if h.joins(pos, nDel, ins, now) {
		top := &h.undo[len(h.undo)-1]
		top.ops = compact(slices.Concat(inv, top.ops))
	} else {
		h.undo = pushStep(h.undo, step{ops: inv})
	}
	h.groupOpen, h.groupAt = true, now
	switch {
	case nDel == 0 && nIns == 1:
		h.groupKind, h.groupEnd = 'i', pos+1
		h.groupLast, _ = utf8.DecodeRuneInString(ins)
	case nIns == 0 && nDel == 1:
		h.groupKind, h.groupEnd = 'd', pos
	default:
		h.groupOpen = false // pastes, replacements and cuts are steps of their own
	}
}

// joins reports whether a single-character edit continues the open group.
// Typing starts a new step at each word: a non-space after a space.
func (h *history) joins(pos, nDel int, ins string, now time.Time) bool {
	if !h.groupOpen || len(h.undo) == 0 || now.Sub(h.groupAt) > undoGroupGap ||
		len(h.undo[len(h.undo)-1].ops) >= maxStepOps {
		return false
	}
	switch {
	case h.groupKind == 'i' && nDel == 0 && utf8.RuneCountInString(ins) == 1 && pos == h.groupEnd:
		r, _ := utf8.DecodeRuneInString(ins)
		return !(unicode.IsSpace(h.groupLast) && !unicode.IsSpace(r))
	case h.groupKind == 'd' && ins == "" && nDel == 1:
		return pos == h.groupEnd || pos+1 == h.groupEnd // delete or backspace
	}
	return false
}

// remote transforms both chains through edits made by someone else (or by
// this device outside the history's knowledge).
func (h *history) remote(edits []crdt.Edit) {
	if h.replaying || len(edits) == 0 || (len(h.undo) == 0 && len(h.redo) == 0) {
		h.groupOpen = false
		return
	}
	r := opsOf(edits)
	rebaseChain(h.undo, r)
	rebaseChain(h.redo, r)
	h.undo = dropEmpty(h.undo)
	h.redo = dropEmpty(h.redo)
	h.groupOpen = false
}

// rebaseChain rewrites each step of chain, top first, to apply after r.
func rebaseChain(chain []step, r []op) {
	for i := len(chain) - 1; i >= 0 && len(r) > 0; i-- {
		chain[i].ops, r = transform(chain[i].ops, r, false)
	}
}

// dropEmpty removes steps whose every op was cancelled by others' edits
// (someone else deleted all the text a step would remove).
func dropEmpty(chain []step) []step {
	return slices.DeleteFunc(chain, func(s step) bool {
		return !slices.ContainsFunc(s.ops, func(o op) bool { return o.length() > 0 })
	})
}

// pushStep appends s to chain, forgetting the oldest step beyond maxUndo.
func pushStep(chain []step, s step) []step {
	chain = append(chain, s)
	if len(chain) > maxUndo {
		chain = slices.Delete(chain, 0, len(chain)-maxUndo)
	}
	return chain
}

// compact merges neighbouring ops that typing produces: successive
// deletes of one run and successive inserts of one run.
func compact(ops []op) []op {
	out := ops[:0:0]
	for _, o := range ops {
		if o.length() == 0 {
			continue
		}
		if n := len(out); n > 0 {
			if m, ok := merge(out[n-1], o); ok {
				out[n-1] = m
				continue
			}
		}
		out = append(out, o)
	}
	return out
}

// merge combines op a followed by op b into one op, if they touch.
func merge(a, b op) (op, bool) {
	switch {
	case !a.isInsert() && !b.isInsert() && b.pos == a.pos:
		return op{pos: a.pos, n: a.n + b.n}, true
	case !a.isInsert() && !b.isInsert() && b.pos+b.n == a.pos:
		return op{pos: b.pos, n: a.n + b.n}, true
	case a.isInsert() && b.isInsert() && b.pos == a.pos+a.length():
		return op{pos: a.pos, text: a.text + b.text}, true
	case a.isInsert() && b.isInsert() && b.pos == a.pos:
		return op{pos: a.pos, text: b.text + a.text}, true
	}
	return op{}, false
}

// inverse returns the ops that revert ops, given the text each delete
// removed (removed[i] for ops[i]).
func inverse(ops []op, removed []string) []op {
	out := make([]op, 0, len(ops))
	for i := len(ops) - 1; i >= 0; i-- {
		o := ops[i]
		if o.isInsert() {
			out = append(out, op{pos: o.pos, n: o.length()})
		} else {
			out = append(out, op{pos: o.pos, text: removed[i]})
		}
	}
	return compact(out)
}

// replay applies the top step of from to the document, pushes its inverse
// onto to, and returns the edits applied. On the actor's goroutine.
func (a *docActor) replay(from, to *[]step) ([]crdt.Edit, error) {
	h := &a.hist
	if len(*from) == 0 {
		return nil, nil
	}
	s := (*from)[len(*from)-1]
	*from = (*from)[:len(*from)-1]
	h.groupOpen = false
	h.replaying = true
	defer func() { h.replaying = false }()
	removed := make([]string, len(s.ops))
	var done []op
	for i, o := range s.ops {
		var err error
		if o.isInsert() {
			err = a.edit(o.pos, 0, o.text)
		} else {
			removed[i] = a.doc.Slice(o.pos, o.n)
			err = a.edit(o.pos, o.n, "")
		}
		if err != nil {
			// Only a broken invariant gets here (the chain is kept in step
			// with the text); forget the history rather than guess.
			h.undo, h.redo = nil, nil
			return editsOf(done), err
		}
		done = append(done, o)
	}
	*to = pushStep(*to, step{ops: inverse(s.ops, removed)})
	return editsOf(s.ops), nil
}
