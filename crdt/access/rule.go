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
//     the record's revoker, if its record fails Check, or if an effective
//     revocation earlier in the order, in another change, applies to its
//     revoker's proof (the rank rule of Cut included), whether it causally
//     precedes the event or is concurrent with it. Otherwise it becomes
//     effective, for good: a revocation later in the order that applies to
//     its revoker rejects the revoker's later changes (Authorize) but does
//     not void a revocation already decided.
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
		if by, cut := r.appliesTo(ev.Change, ev.Record.Proof); cut {
			r.void = append(r.void, VoidEvent{ev, fmt.Errorf("revoker cut off by revocation in change %x: %w", by.Change[:8], ErrRevoked)})
			continue
		}
		r.effective = append(r.effective, ev)
	}
	return r
}

// DecideUnordered settles revocation records for a party that holds them
// but not the history that orders them (a relay, which stores only
// ciphertext). It fails closed: every event whose author is its record's
// revoker and whose record passes Check is effective, whatever other
// records say, so of two admins who revoke each other both are cut off
// there. Decide's void rule would need the causal order; without it, a
// record's claimed time or id could be chosen to win. Its Ruling is for
// actions (KindRead, KindRelay); it places no change. Any caller may use
// it.
func DecideUnordered(events []RevocationEvent, doc DocID, root Key) *Ruling {
	r := &Ruling{h: unordered{}}
	for _, ev := range events {
		var err error
		switch {
		case ev.Record == nil || ev.Record.Proof == nil:
			err = fmt.Errorf("no record or no proof: %w", ErrMalformed)
		case ev.Author != ev.Record.Revoker():
			err = fmt.Errorf("record carried by %s, not its revoker: %w", Fingerprint(ev.Author[:]), ErrWrongAudience)
		default:
			err = ev.Record.Check(doc, root)
		}
		if err != nil {
			r.void = append(r.void, VoidEvent{ev, err})
			continue
		}
		r.effective = append(r.effective, ev)
	}
	return r
}

// unordered is the causal order DecideUnordered knows: none.
type unordered struct{}

func (unordered) Precedes(a, b ChangeRef) bool { return false }

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

// Cut reports whether the change with ref change, made under proof (not
// nil), is rejected, and by which revocation, placing change in the
// History Decide was given (Authorize may place it in another, see
// Policy.History): some effective revocation applies to a link of proof
// and causally precedes change (the author had seen the revocation when it
// made the change).
func (r *Ruling) Cut(change ChangeRef, proof *Token) (RevocationEvent, bool) {
	if r == nil {
		return RevocationEvent{}, false
	}
	return r.cutIn(r.h, change, proof)
}

// cutIn is Cut with change placed in h. A revocation applies
// to a link if it names the link's token id or audience key and the link
// is at least as deep as the revoker's own proof (the rank rule: an admin
// can revoke its peers and what lies below them, never the links its own
// authority comes through).
//
// The rule for concurrent changes: a change concurrent with the
// revocation (made without having seen it), a change in its causal past
// and the revocation's own change are kept. Every replica decides alike,
// since the causal order is the same everywhere. A nil Ruling cuts
// nothing.
func (r *Ruling) cutIn(h History, change ChangeRef, proof *Token) (RevocationEvent, bool) {
	if r == nil || len(r.effective) == 0 {
		return RevocationEvent{}, false
	}
	links, n := chainLinks(proof)
	for _, ev := range r.effective {
		if ev.Change != change && appliesAny(ev.Record, links[:n]) && h.Precedes(ev.Change, change) {
			return ev, true
		}
	}
	return RevocationEvent{}, false
}

// appliesTo reports whether an effective revocation in a change other than
// change applies to a link of proof, wherever it stands in the history
// (Decide's rule for revocations).
func (r *Ruling) appliesTo(change ChangeRef, proof *Token) (RevocationEvent, bool) {
	links, n := chainLinks(proof)
	for _, ev := range r.effective {
		if ev.Change != change && appliesAny(ev.Record, links[:n]) {
			return ev, true
		}
	}
	return RevocationEvent{}, false
}

// chainLinks returns the links of proof's chain, leaf first.
func chainLinks(proof *Token) ([MaxDepth]Link, int) {
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
	return links, n
}

// appliesAny reports whether rec revokes one of links.
func appliesAny(rec *Revocation, links []Link) bool {
	for _, l := range links {
		if applies(rec, l) {
			return true
		}
	}
	return false
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
	// KindRelay is, like KindRead, an action at a time rather than a
	// change: a relay storing or handing out a document's ciphertext. It
	// needs Relay, and every effective revocation that applies to the
	// proof refuses it.
	KindRelay
	// KindRead is not a change but an action at a time: reading the
	// document (a peer syncing it, a device opening it). It needs Read, and
	// it has no place in the history, so every effective revocation that
	// applies to the proof refuses it, wherever the revocation stands.
	KindRead
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
	case KindRead:
		return Read
	}
	return None
}

// ChangeInfo is what Authorize needs to know about a change (or, for
// KindRead, an action).
type ChangeInfo struct {
	// Ref is the change's hash (unused for KindRead).
	Ref ChangeRef
	// Author is the key that signed the change (or acts).
	Author Key
	// Kind is what the change does.
	Kind Kind
	// Time is the time tokens are checked at. For a change, so that every
	// replica decides alike whenever it receives it, it must come from the
	// change itself: the time its author put in it, or, for changes that
	// carry no time, the proof's NotBefore (which checks the chain's
	// structure, signatures and nested lifetimes, but not expiry: expiry is
	// then enforced on actions, KindRead, at the receiver's clock).
	// Rejecting a live change whose Time is far from the receiver's clock
	// is the receiver's job, not this package's. For KindRead it is the
	// acting device's clock.
	Time time.Time
}

// Policy is the per-document state Authorize decides against.
type Policy struct {
	Doc  DocID
	Root Key
	// Ruling is the outcome of Decide over the history the change is part of;
	// nil means no revocations.
	Ruling *Ruling
	// History, if not nil, is the causal order Authorize places the change
	// in against the ruling's revocations; nil means the History given to
	// Decide. A replica that decides on a change before adding it to its
	// history passes one that places it by its parents. Only
	// Precedes(revocation's change, c.Ref) is asked.
	History History
	// Cache, if not nil, is passed to Verify.
	Cache *SigCache
}

// Authorize is the one authorization decision of Quire: every replica
// calls it on every change it admits and for every action it allows (and a
// relay calls it for its own mandate and for every member's request). For a change c it
// decides whether c may be part of the document's history: proof verifies
// for c.Author at c.Time, grants the right c.Kind needs, and no effective
// revocation that applies to proof causally precedes c (see Ruling.Cut).
// For the actions KindRead and KindRelay it decides whether c.Author may
// read (or relay) the document at c.Time: proof verifies then, grants the
// right, and no effective revocation applies to it. It returns the proof's rights or an error wrapping the
// sentinel that decided.
//
// It is pure: its verdict depends on its arguments only (no clock, no
// I/O; Policy.Cache only saves work), so every replica decides alike.
func Authorize(c ChangeInfo, proof *Token, p Policy) (Rights, error) {
	what := fmt.Sprintf("change %x", c.Ref[:8])
	action := c.Kind == KindRead || c.Kind == KindRelay
	switch c.Kind {
	case KindRead:
		what = "read by " + Fingerprint(c.Author[:])
	case KindRelay:
		what = "relay by " + Fingerprint(c.Author[:])
	}
	need := c.Kind.Needs()
	if need == None {
		return None, fmt.Errorf("authorize %s: kind %d: %w", what, c.Kind, ErrMalformed)
	}
	if proof == nil {
		return None, fmt.Errorf("authorize %s: no proof: %w", what, ErrMalformed)
	}
	vp := VerifyParams{Doc: p.Doc, Root: p.Root, Audience: c.Author, Now: c.Time, Cache: p.Cache}
	if action && p.Ruling != nil {
		vp.Revoked = p.Ruling
	}
	rights, err := Verify(proof, vp)
	if err != nil {
		return None, fmt.Errorf("authorize %s: %w", what, err)
	}
	if !rights.Covers(need) {
		return None, fmt.Errorf("authorize %s: holds %v, needs %v: %w", what, rights, need, ErrInsufficientRights)
	}
	if action || p.Ruling == nil {
		return rights, nil
	}
	h := p.History
	if h == nil {
		h = p.Ruling.h
	}
	if by, cut := p.Ruling.cutIn(h, c.Ref, proof); cut {
		return None, fmt.Errorf("authorize %s: after revocation in change %x: %w", what, by.Change[:8], ErrRevoked)
	}
	return rights, nil
}
