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
//     revocation point and kept writing;
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
	k := c.rev.Revoker()
	if !ed25519.Verify(k[:], c.message(), c.sig[:]) {
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

// afterCut reports whether change c's causal past holds every head of k
// (c's parents must all be in d).
func afterCut(d *crdt.Doc, c *crdt.Change, k *cut) (bool, error) {
	for _, p := range c.Parents {
		if !d.Has(p) {
			return false, errUndecidable
		}
	}
	for _, h := range k.heads {
		if !d.Has(h) {
			return false, nil // c's past is in d, so it cannot hold h
		}
		in := false
		for _, p := range c.Parents {
			ok, err := d.Precedes(h, []crdt.Hash{p})
			if err != nil {
				return false, err
			}
			if ok {
				in = true
				break
			}
		}
		if !in {
			return false, nil
		}
	}
	return true, nil
}

// cutsApplied reports whether an effective cut rejects change c, which d
// holds: c's author is cut off by it and c is causally after it (not in
// its past, with all its heads in c's past).
func (m *membership) cutsApplied(c *crdt.Change, d *crdt.Doc) bool {
	author := access.Key(c.Author)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.members[author]
	if t == nil {
		return false
	}
	for _, ev := range m.ruling.Effective() {
		k := m.revs[[32]byte(ev.Change)]
		if k == nil || !m.cutsLocked(k, t, author) {
			continue
		}
		after := true
		for _, h := range k.heads {
			if !d.Has(h) {
				after = false
				break
			}
			if ok, err := d.Precedes(h, []crdt.Hash{c.Hash}); err != nil || !ok || h == c.Hash {
				after = false
				break
			}
		}
		if after {
			return true
		}
	}
	return false
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
