package app

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// A cut is a revocation placed in the document's history: the revoker
// signs the revocation's id together with the heads of the document as it
// had it when it revoked. Every replica then decides the revoked key's
// changes the same way, whatever order it learns things in:
//
//   - a change by a key the revocation cuts (see access.Decide and the rank
//     rule) is rejected if it is causally after the cut: its causal past
//     holds every one of the cut's heads. The revoked device saw the
//     revocation point and kept writing. access.Authorize decides, with the
//     cut placed in the history by placement;
//   - its changes in the cut's past, and its changes concurrent with the
//     cut, are kept. That is the deterministic rule for concurrent work:
//     what the revoked device wrote without having seen the document at the
//     revocation point stays (the revoker may remove it by editing, like
//     any text). A revoked device cannot keep reaching peers to exploit
//     this: every peer that knows the cut refuses its sessions and gossip
//     at once, and forwards nothing of its change stream.
//
// Mutual revocations are settled by access.Decide with the records all
// concurrent (they are not changes of the DAG), so by record id.
type cut struct {
	rev   *access.Revocation
	heads []crdt.Hash
	sig   [ed25519.SignatureSize]byte
}

const (
	cutDomain = "quire/cut/v1\x00"
	maxHeads  = 256
)

var errCut = errors.New("malformed cut record")

func (c *cut) message() []byte {
	id := c.rev.ID()
	b := append([]byte(cutDomain), id[:]...)
	b = binary.AppendUvarint(b, uint64(len(c.heads)))
	for _, h := range c.heads {
		b = append(b, h[:]...)
	}
	return b
}

// newCut signs a cut of r at heads with the revoker's key.
func newCut(r *access.Revocation, heads []crdt.Hash, key ed25519.PrivateKey) *cut {
	c := &cut{rev: r, heads: heads}
	copy(c.sig[:], ed25519.Sign(key, c.message()))
	return c
}

// check verifies the revocation (access rules) and the cut's signature by
// the revoker.
func (c *cut) check(doc access.DocID, root access.Key) error {
	if err := c.rev.Check(doc, root); err != nil {
		return err
	}
	if !access.VerifySignature(c.rev.Revoker(), c.message(), c.sig[:]) {
		return fmt.Errorf("cut of revocation %x: %w", c.rev.ID(), access.ErrBadSignature)
	}
	return nil
}

func (c *cut) encode() []byte {
	r := c.rev.Encode()
	b := binary.AppendUvarint(nil, uint64(len(r)))
	b = append(b, r...)
	b = binary.AppendUvarint(b, uint64(len(c.heads)))
	for _, h := range c.heads {
		b = append(b, h[:]...)
	}
	return append(b, c.sig[:]...)
}

func decodeCut(b []byte) (*cut, error) {
	r := reader{b: b}
	c := &cut{}
	rb := r.bytes(r.count(2 * access.MaxTokenSize))
	n := r.count(maxHeads)
	for range n {
		var h crdt.Hash
		copy(h[:], r.bytes(len(h)))
		c.heads = append(c.heads, h)
	}
	copy(c.sig[:], r.bytes(ed25519.SignatureSize))
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", errCut, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCut, len(r.b))
	}
	rev, err := access.DecodeRevocation(rb)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCut, err)
	}
	c.rev = rev
	return c, nil
}

// errUndecidable rejects, for now, a change by a cut key whose parents are
// not all here: whether it is after the cut cannot be told yet. It is not
// quarantined; catch-up offers it again once its parents are here.
var errUndecidable = errors.New("change by a revoked key cannot be placed against the revocation yet")

// placement is the access.History that access.Authorize places change c
// in against the cuts (access.Policy.History): cut k precedes c if c's
// causal past holds every head of k, that is, if every head is one of c's
// parents or precedes one (c need not be in d yet, its parents must). It
// answers only that question, the only one Authorize asks: cuts are not
// changes of the DAG, and among themselves they are concurrent
// (noHistory). If c cannot be placed (no document, or a parent missing),
// unplaced is set and every cut is taken to precede c, so that the caller
// can tell "rejected whatever c's place" from "undecidable yet".
type placement struct {
	d        *crdt.Doc
	c        *crdt.Change
	cuts     map[[32]byte]*cut
	unplaced bool
}

func newPlacement(d *crdt.Doc, c *crdt.Change, cuts map[[32]byte]*cut) *placement {
	pl := &placement{d: d, c: c, cuts: cuts, unplaced: d == nil}
	for _, p := range c.Parents {
		if pl.unplaced || !d.Has(p) {
			pl.unplaced = true
			break
		}
	}
	return pl
}

// Precedes implements access.History (see placement).
func (pl *placement) Precedes(a, b access.ChangeRef) bool {
	k := pl.cuts[[32]byte(a)]
	if k == nil || b != access.ChangeRef(pl.c.Hash) {
		return false
	}
	if pl.unplaced {
		return true
	}
	for _, h := range k.heads {
		if !pl.d.Has(h) {
			return false // c's past is in d, so it cannot hold h
		}
		if ok, err := pl.d.Precedes(h, pl.c.Parents); err != nil || !ok {
			return false
		}
	}
	return true
}

// cutsApplied reports whether an effective cut rejects change c, which d
// holds: access.Authorize, placing c in d, rejects it as after a
// revocation of its author.
func (m *membership) cutsApplied(c *crdt.Change, d *crdt.Doc) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.members[access.Key(c.Author)]
	if t == nil {
		return false
	}
	_, err := access.Authorize(changeInfo(c, t), t, m.policyLocked(newPlacement(d, c, m.revs)))
	return errors.Is(err, access.ErrRevoked)
}

// enforceCuts removes from the document every change an effective cut
// rejects, with everything built on it, by rebuilding the document from
// the rest: a replica that applied such a change before it learned of the
// cut ends where one that learned of the cut first did. The removed
// changes are quarantined. Revocations are rare and this is linear in the
// history. On the goroutine.
func (a *docActor) enforceCuts() {
	a.access.mu.Lock()
	none := len(a.access.revs) == 0
	a.access.mu.Unlock()
	if none {
		return
	}
	all := a.doc.ChangesSince(nil)
	removed := map[crdt.Hash]bool{}
	for _, c := range all {
		drop := false
		for _, p := range c.Parents {
			if removed[p] {
				drop = true
				break
			}
		}
		if !drop && a.access.cutsApplied(c, a.doc) {
			drop = true
		}
		if drop {
			removed[c.Hash] = true
			a.quarantine(c, fmt.Errorf("change %s: after its author's revocation, or built on such a change: %w: %w", c.Hash, ErrUnauthorized, access.ErrRevoked))
		}
	}
	if len(removed) == 0 {
		return
	}
	keep := make([]*crdt.Change, 0, len(all)-len(removed))
	for _, c := range all {
		if !removed[c.Hash] {
			keep = append(keep, c)
		}
	}
	nd := crdt.New(a.id, a.p.author())
	if _, err := nd.Apply(keep...); err != nil {
		a.log.Error("rebuild after revocation", "err", err)
		return
	}
	a.doc = nd
	a.configureDoc()
	a.titleV.Store(Title(a.doc.Text()))
	a.rev++
	a.emit(Event{Kind: EventResync})
	a.log.Warn("removed changes made after their author's revocation", "changes", len(removed))
}
