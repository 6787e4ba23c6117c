package access

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"
	"time"
)

// ChangeRef names a change of a document's history: the hash of its encoding.
type ChangeRef [32]byte

// History is the causal order of a document's changes, implemented by the
// crdt side over its hash DAG.
type History interface {
	// Precedes reports whether change a is in the causal past of change b
	// (b depends on a, directly or transitively). No change precedes itself.
	Precedes(a, b ChangeRef) bool
}

// RevocationEvent is a revocation record as found in the history: the
// record, the change that carries it, and that change's author. The
// author must be the record's revoker: the cut a revocation makes is the
// revoker's view of the history, so no one else may choose it by carrying
// the record in a change of theirs.
type RevocationEvent struct {
	Change ChangeRef
	Author Key
	Record *Revocation
}

// VoidEvent is a revocation event that Decide ignored, and why.
type VoidEvent struct {
	RevocationEvent
	Err error
}

// Ruling is the outcome of Decide: which revocations count, in the order
// they were decided. It is immutable.
type Ruling struct {
	h         History
	effective []RevocationEvent
	void      []VoidEvent
}

// Decide settles the revocation records of one history, deterministically:
// the result depends only on the set of events and the causal order, never
// on the order they arrived in or on the order of events.
//
// The rule:
//
//  1. Events are put in one total order: a linear extension of the causal
//     order in which, among the events whose causal predecessors are all
//     placed, the one with the smallest change ref goes first (for two
//     records in the same change, the smallest record id).
//  2. Walking that order, an event is void if its change's author is not
//     the record's revoker, if its record fails Check, or if its revoker is
//     cut off (see Cut) by an effective revocation earlier in the order.
//     Otherwise it becomes effective, for good: a revocation later in the
//     order that cuts its revoker off rejects the revoker's other changes
//     (Authorize) but does not void a revocation already decided.
//
// So of two admins who revoke each other concurrently, the one whose change
// comes first in the order wins and the other's revocation is void; if one
// revocation causally follows the other, the earlier one wins.
//
// Decide calls Precedes O(n²) times for n events; revocations are rare.
// Any caller may use it.
func Decide(h History, events []RevocationEvent, doc DocID, root Key) *Ruling {
	r := &Ruling{h: h}
	valid := make([]RevocationEvent, 0, len(events))
	for _, ev := range events {
		if ev.Record == nil || ev.Record.Proof == nil {
			r.void = append(r.void, VoidEvent{ev, fmt.Errorf("no record or no proof: %w", ErrMalformed)})
			continue
		}
		valid = append(valid, ev)
	}
	for _, ev := range order(h, valid) {
		if ev.Author != ev.Record.Revoker() {
			r.void = append(r.void, VoidEvent{ev, fmt.Errorf("record carried by %s, not its revoker: %w", Fingerprint(ev.Author[:]), ErrWrongAudience)})
			continue
		}
		if err := ev.Record.Check(doc, root); err != nil {
			r.void = append(r.void, VoidEvent{ev, err})
			continue
		}
		if by, cut := r.Cut(ev.Change, ev.Record.Proof); cut {
			r.void = append(r.void, VoidEvent{ev, fmt.Errorf("revoker cut off by revocation in change %x: %w", by.Change[:8], ErrRevoked)})
			continue
		}
		r.effective = append(r.effective, ev)
	}
	return r
}

// order returns events deduplicated and in Decide's total order.
func order(h History, events []RevocationEvent) []RevocationEvent {
	type item struct {
		ev RevocationEvent
		id [32]byte
	}
	items := make([]item, 0, len(events))
	for _, ev := range events {
		items = append(items, item{ev, ev.Record.ID()})
	}
	sort.Slice(items, func(i, j int) bool {
		if c := bytes.Compare(items[i].ev.Change[:], items[j].ev.Change[:]); c != 0 {
			return c < 0
		}
		return bytes.Compare(items[i].id[:], items[j].id[:]) < 0
	})
	// Drop exact duplicates (same change, same record).
	uniq := items[:0]
	for i, it := range items {
		if i > 0 && it.ev.Change == items[i-1].ev.Change && it.id == items[i-1].id {
			continue
		}
		uniq = append(uniq, it)
	}
	items = uniq
	// Count causal predecessors among the events.
	preds := make([]int, len(items))
	for i := range items {
		for j := range items {
			if items[j].ev.Change != items[i].ev.Change && h.Precedes(items[j].ev.Change, items[i].ev.Change) {
				preds[i]++
			}
		}
	}
	// Kahn's algorithm, always taking the smallest ready item (items are sorted).
	out := make([]RevocationEvent, 0, len(items))
	done := make([]bool, len(items))
	for len(out) < len(items) {
		next := -1
		for i := range items {
			if !done[i] && preds[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			panic("access: History.Precedes is not a partial order")
		}
		done[next] = true
		out = append(out, items[next].ev)
		for i := range items {
			if !done[i] && items[i].ev.Change != items[next].ev.Change && h.Precedes(items[next].ev.Change, items[i].ev.Change) {
				preds[i]--
			}
		}
	}
	return out
}

// Effective returns the revocations that count, in decision order.
func (r *Ruling) Effective() []RevocationEvent {
	if r == nil {
		return nil
	}
	return append([]RevocationEvent(nil), r.effective...)
}

// Void returns the revocations that do not count, with the reason: first
// those without a record or proof, then the others in decision order.
func (r *Ruling) Void() []VoidEvent {
	if r == nil {
		return nil
	}
	return append([]VoidEvent(nil), r.void...)
}

// Cut reports whether the change with ref change, made under proof (not nil), is
// rejected, and by which revocation: some effective revocation applies to a
// link of proof and change is not that revocation's own change nor in its
// causal past. A revocation applies to a link if it names the link's token
// id or audience key and the link is at least as deep as the revoker's own
// proof (the rank rule: an admin can revoke its peers and what lies below
// them, never the links its own authority comes through). A revocation thus cuts its
// target off at the changes the revoker had seen; the target's concurrent
// and later changes are rejected. A nil Ruling cuts nothing.
func (r *Ruling) Cut(change ChangeRef, proof *Token) (RevocationEvent, bool) {
	if r == nil || len(r.effective) == 0 {
		return RevocationEvent{}, false
	}
	var links [MaxDepth]Link
	n := 0
	enc := proof.Encode()
	for t := proof; t != nil && n < MaxDepth; t = t.Parent {
		links[n] = Link{ID: sha256.Sum256(enc), Audience: t.Audience}
		if t.Parent != nil {
			enc = enc[tokenHeader+2 : len(enc)-sigSize]
		}
		n++
	}
	for i := range n {
		links[i].Depth = n - i
	}
	for _, ev := range r.effective {
		hit := false
		for i := 0; i < n && !hit; i++ {
			hit = applies(ev.Record, links[i])
		}
		if hit && change != ev.Change && !r.h.Precedes(change, ev.Change) {
			return ev, true
		}
	}
	return RevocationEvent{}, false
}

// Revoked reports whether an effective revocation applies to l, at any
// point of the history (see Cut for the rank rule). It makes Ruling a
// Revocations for live checks, for example a relay deciding whether to keep
// serving a peer.
func (r *Ruling) Revoked(l Link) bool {
	if r == nil {
		return false
	}
	for _, ev := range r.effective {
		if applies(ev.Record, l) {
			return true
		}
	}
	return false
}

// applies reports whether rec revokes link l: it names l's token id or
// audience key, and l is at or below the revoker's own depth.
func applies(rec *Revocation, l Link) bool {
	return rec.targets(l.ID, l.Audience) && l.Depth >= rec.Proof.Depth()
}

// Kind is the kind of change (or action) an author makes, which decides the
// right it needs.
type Kind uint8

// The kinds of change.
const (
	// KindText edits the document text; needs Write.
	KindText Kind = iota + 1
	// KindComment adds or resolves a comment; needs Comment.
	KindComment
	// KindAccess carries access records (revocations, token grants); needs Admin.
	KindAccess
	// KindRelay stores and forwards a document's ciphertext; needs Relay.
	KindRelay
)

// Needs returns the right k requires, or None for an unknown kind.
func (k Kind) Needs() Rights {
	switch k {
	case KindText:
		return Write
	case KindComment:
		return Comment
	case KindAccess:
		return Admin
	case KindRelay:
		return Relay
	}
	return None
}

// ChangeInfo is what Authorize needs to know about a change.
type ChangeInfo struct {
	// Ref is the change's hash.
	Ref ChangeRef
	// Author is the key that signed the change.
	Author Key
	// Kind is what the change does.
	Kind Kind
	// Time is the time the author put in the change. Tokens are checked at
	// this time so that every replica decides alike whenever it receives the
	// change; rejecting a live change whose Time is far from the receiver's
	// clock is the receiver's job, not this package's.
	Time time.Time
}

// Policy is the per-document state Authorize decides against.
type Policy struct {
	Doc  DocID
	Root Key
	// Ruling is the outcome of Decide over the history the change is part of;
	// nil means no revocations.
	Ruling *Ruling
	// Cache, if not nil, is passed to Verify.
	Cache *SigCache
}

// Authorize decides whether c may be part of the document's history, given
// the author's proof: proof verifies for c.Author at c.Time, grants the
// right c.Kind needs, and no effective revocation cuts c off. It returns the
// proof's rights or an error wrapping the sentinel that decided. Every
// replica and every relay calls it on every change, so it must stay pure.
func Authorize(c ChangeInfo, proof *Token, p Policy) (Rights, error) {
	need := c.Kind.Needs()
	if need == None {
		return None, fmt.Errorf("authorize change %x: kind %d: %w", c.Ref[:8], c.Kind, ErrMalformed)
	}
	if proof == nil {
		return None, fmt.Errorf("authorize change %x: no proof: %w", c.Ref[:8], ErrMalformed)
	}
	rights, err := Verify(proof, VerifyParams{Doc: p.Doc, Root: p.Root, Audience: c.Author, Now: c.Time, Cache: p.Cache})
	if err != nil {
		return None, fmt.Errorf("authorize change %x: %w", c.Ref[:8], err)
	}
	if !rights.Covers(need) {
		return None, fmt.Errorf("authorize change %x: holds %v, needs %v: %w", c.Ref[:8], rights, need, ErrInsufficientRights)
	}
	if by, cut := p.Ruling.Cut(c.Ref, proof); cut {
		return None, fmt.Errorf("authorize change %x: cut off by revocation in change %x: %w", c.Ref[:8], by.Change[:8], ErrRevoked)
	}
	return rights, nil
}
