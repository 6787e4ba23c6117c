package app

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/store"
)

// Verdict is what a document says about a message from the network.
type Verdict int

// Verdicts. Reject penalises the peer that sent the message.
const (
	Accept Verdict = iota + 1
	Ignore
	Reject
)

// validateLive checks a live message before it is applied or forwarded:
// size, encoding, the change's hash and signature, and its author's
// capability. It runs on the network's goroutines, not the actor's.
func (a *docActor) validateLive(payload []byte) (*liveMsg, Verdict, error) {
	m, err := decodeLive(a.id, payload)
	if err != nil {
		return nil, Reject, err
	}
	switch m.kind {
	case msgChange:
		if m.proof != nil && m.proof.Audience == access.Key(m.change.Author) {
			a.access.mu.Lock()
			_, perr := a.access.verifyTimeless(m.proof, m.proof.Audience)
			a.access.mu.Unlock()
			if perr == nil {
				a.access.learn(m.proof)
			}
		}
		if err := a.access.admit(m.change, nil); err != nil {
			if errors.Is(err, errUndecidable) {
				return nil, Ignore, err
			}
			a.quarantine(m.change, err)
			return nil, Reject, err
		}
		return m, Accept, nil
	case msgRecords:
		for _, r := range m.revs {
			if err := r.check(a.access.doc, a.access.root); err != nil {
				return nil, Reject, fmt.Errorf("revocation: %w", err)
			}
		}
		return m, Accept, nil
	}
	return nil, Reject, errWire
}

// deliverLive hands a validated live message to the actor.
func (a *docActor) deliverLive(m *liveMsg) {
	switch m.kind {
	case msgChange:
		a.post(func() {
			if err := a.applyRemote([]*crdt.Change{m.change}); err != nil {
				a.log.Debug("apply live change", "err", err)
			}
		})
	case msgRecords:
		a.acceptRecords(m.proofs, m.revs)
	}
}

// acceptRecords learns proofs and revocations a peer sent.
func (a *docActor) acceptRecords(proofs []*access.Token, revs []*cut) {
	for _, t := range proofs {
		a.access.mu.Lock()
		_, err := a.access.verifyTimeless(t, t.Audience)
		a.access.mu.Unlock()
		if err == nil {
			a.access.learn(t)
		}
	}
	for _, r := range revs {
		isNew, cut, err := a.access.addRevocation(r)
		if err != nil {
			a.log.Debug("revocation rejected", "err", err)
			continue
		}
		if isNew {
			// Not a.post: this may run on the actor itself, whose queue
			// could be full.
			go a.post(func() {
				a.enforceCuts()
				a.revoked(cut, r)
			})
		}
	}
}

// quarantine keeps a rejected change for audit: it is never applied or
// forwarded. The store keeps at most maxQuarantine per document.
func (a *docActor) quarantine(c *crdt.Change, reason error) {
	if c == nil {
		return
	}
	a.log.Warn("change rejected", "change", c.Hash.String(), "author", c.Author.String(), "reason", reason)
	a.p.quarantine(a.id, c, reason)
}

// batchRecords is the records block a catch-up batch starts with.
func (a *docActor) batchRecords() []byte {
	proofs, revs := a.access.records()
	return appendRecords(nil, proofs, revs)
}

// applyBatch applies a catch-up batch from a peer: records first, then the
// changes, each admitted like a live change. On the actor.
func (a *docActor) applyBatch(data []byte) error {
	r := reader{b: data}
	proofs, revs, err := decodeRecords(&r)
	if err != nil {
		return err
	}
	a.acceptRecords(proofs, revs)
	if len(r.b) == 0 {
		return nil
	}
	before := a.doc.Vector()
	edits, err := a.doc.ApplyEncoded(r.b)
	if cs := a.doc.ChangesSince(before); len(cs) > 0 {
		errc := a.p.db.AppendAsync(a.id, cs...)
		go func() {
			if err := <-errc; err != nil {
				a.log.Error("store caught-up changes", "err", err)
			}
		}()
	}
	if len(edits) > 0 {
		a.titleV.Store(Title(a.doc.Text()))
		a.emitEdits(edits, false)
	}
	return err
}

// maxQuarantine bounds the rejected changes kept per document; beyond it
// new rejections are logged but not stored.
const maxQuarantine = 1024

// quarantine stores a rejected change with the reason.
func (p *Peer) quarantine(id DocID, c *crdt.Change, reason error) {
	prefix := quarantinePrefix(id)
	p.qmu.Lock()
	n, ok := p.quarantined[id]
	if !ok {
		// Counted once per document and process, so a peer sending a
		// stream of refused changes costs a Put each, not a scan each.
		names, err := p.db.Names(store.Tokens)
		if err != nil {
			p.qmu.Unlock()
			return
		}
		for _, name := range names {
			if strings.HasPrefix(name, prefix) {
				n++
			}
		}
	}
	if n >= maxQuarantine {
		p.quarantined[id] = n
		p.qmu.Unlock()
		return
	}
	p.quarantined[id] = n + 1 // an overcount if the change was quarantined before: harmless
	p.qmu.Unlock()
	rec := binary.AppendUvarint(nil, uint64(len(reason.Error())))
	rec = append(rec, reason.Error()...)
	rec = append(rec, c.Encode()...)
	if err := p.db.Put(store.Tokens, prefix+hex.EncodeToString(c.Hash[:]), rec); err != nil {
		p.log.Warn("quarantine change", "err", err)
	}
}

// Rejected is a change this device refused, kept for audit.
type Rejected struct {
	Change crdt.Hash
	Author crdt.Author
	Reason string
}

// Quarantined returns the changes this device rejected for the document,
// with the reasons.
func (p *Peer) Quarantined(id DocID) ([]Rejected, error) {
	names, err := p.db.Names(store.Tokens)
	if err != nil {
		return nil, err
	}
	var out []Rejected
	for _, name := range names {
		if !strings.HasPrefix(name, quarantinePrefix(id)) {
			continue
		}
		b, err := p.db.Get(store.Tokens, name)
		if err != nil {
			continue
		}
		r := reader{b: b}
		reason := string(r.bytes(r.count(1 << 16)))
		c, err := crdt.DecodeChange(id, r.b)
		if r.err != nil || err != nil {
			continue
		}
		out = append(out, Rejected{Change: c.Hash, Author: c.Author, Reason: reason})
	}
	return out, nil
}

// configureDoc makes the document sign what this device seals and verify
// and admit what peers send.
func (a *docActor) configureDoc() {
	if err := a.doc.SetSigner(a.p.key); err != nil {
		panic("app: identity key does not match the document author: " + err.Error())
	}
	a.doc.SetVerify(true)
	a.doc.SetAdmit(func(c *crdt.Change) error { return a.access.admit(c, a.doc) })
}
