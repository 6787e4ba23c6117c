package app

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/store"
)

// ErrUnauthorized wraps every refusal of a change, a peer or an action for
// want of a capability; the access sentinel it also wraps says why.
var ErrUnauthorized = errors.New("unauthorized")

// Token record names in the store (store.Tokens).
func proofName(id DocID) string         { return "proof/" + id.String() }
func memberPrefix(id DocID) string      { return "member/" + id.String() + "/" }
func revocationPrefix(id DocID) string  { return "revocation/" + id.String() + "/" }
func quarantinePrefix(id DocID) string  { return "quarantine/" + id.String() + "/" }
func keyHex(k access.Key) string        { return hex.EncodeToString(k[:]) }
func rootOf(t *access.Token) access.Key { return chainRoot(t).Issuer }

func chainRoot(t *access.Token) *access.Token {
	for t.Parent != nil {
		t = t.Parent
	}
	return t
}

func (p *Peer) putProof(id DocID, t *access.Token) error {
	return p.db.Put(store.Tokens, proofName(id), t.Encode())
}

// proof returns this device's capability for document id.
func (p *Peer) proof(id DocID) (*access.Token, error) {
	b, err := p.db.Get(store.Tokens, proofName(id))
	if err != nil {
		return nil, err
	}
	return access.Decode(b)
}

// membership is what a replica knows about who may do what in one
// document: its own proof, the proofs other authors presented, and the
// revocations it has seen. Validators on network goroutines read it while
// the document's goroutine updates it, hence the lock.
//
// Changes are checked without a clock: a proof admits its audience's
// changes if the chain is valid at the proof's own start (so every replica
// decides alike whenever it checks) and no effective revocation cuts it.
// Lifetimes are enforced where a clock is meaningful: when a peer proves
// read access over a connection, and when this device edits.
type membership struct {
	p    *Peer
	id   DocID
	doc  access.DocID
	self access.Key

	mu      sync.Mutex // a Mutex, not RWMutex: every verification may write cache
	root    access.Key
	own     *access.Token
	members map[access.Key]*access.Token
	revs    map[[32]byte]*cut // by revocation id
	ruling  *access.Ruling
	cache   *access.SigCache // not safe for concurrent use: Verify with it only under mu.Lock, never RLock
}

// noHistory orders revocation records that are not in the CRDT history:
// all are concurrent, so access.Decide orders them by record id.
type noHistory struct{}

func (noHistory) Precedes(a, b access.ChangeRef) bool { return false }

func (p *Peer) loadMembership(id DocID) (*membership, error) {
	own, err := p.proof(id)
	if err != nil {
		return nil, fmt.Errorf("document %s: this device's capability: %w", id, err)
	}
	m := &membership{p: p, id: id, doc: access.DocID(id), self: p.self, own: own, root: rootOf(own),
		members: map[access.Key]*access.Token{}, revs: map[[32]byte]*cut{},
		cache: access.NewSigCache(4096)}
	m.members[p.self] = own
	names, err := p.db.Names(store.Tokens)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, memberPrefix(id)):
			b, err := p.db.Get(store.Tokens, n)
			if err != nil {
				return nil, err
			}
			if t, err := access.Decode(b); err == nil {
				m.learnLocked(t)
			}
		case strings.HasPrefix(n, revocationPrefix(id)):
			b, err := p.db.Get(store.Tokens, n)
			if err != nil {
				return nil, err
			}
			if c, err := decodeCut(b); err == nil && c.check(m.doc, m.root) == nil {
				m.revs[c.rev.ID()] = c
			}
		}
	}
	m.decideLocked()
	return m, nil
}

// decideLocked recomputes the ruling over the known revocations.
func (m *membership) decideLocked() {
	evs := make([]access.RevocationEvent, 0, len(m.revs))
	for id, c := range m.revs {
		evs = append(evs, access.RevocationEvent{Change: access.ChangeRef(id), Author: c.rev.Revoker(), Record: c.rev})
	}
	m.ruling = access.Decide(noHistory{}, evs, m.doc, m.root)
}

// learnLocked keeps t as its audience's proof if it is better (more
// rights, then later expiry) than the one known.
func (m *membership) learnLocked(t *access.Token) bool {
	if t.Doc != m.doc || rootOf(t) != m.root {
		return false
	}
	old := m.members[t.Audience]
	if old != nil && (old.Rights.Level() > t.Rights.Level() ||
		old.Rights.Level() == t.Rights.Level() && old.Expiry >= t.Expiry) {
		return false
	}
	m.members[t.Audience] = t
	return true
}

// policyLocked returns the document's access.Policy, placing changes by
// h (nil for actions, KindRead).
func (m *membership) policyLocked(h access.History) access.Policy {
	return access.Policy{Doc: m.doc, Root: m.root, Ruling: m.ruling, History: h, Cache: m.cache}
}

// verifyTimeless checks t for audience at t's own start (see membership),
// every effective revocation applying.
func (m *membership) verifyTimeless(t *access.Token, audience access.Key) (access.Rights, error) {
	return access.Authorize(access.ChangeInfo{Author: audience, Kind: access.KindRead, Time: time.Unix(t.NotBefore, 0)},
		t, m.policyLocked(nil))
}

// clockFor returns the time to check token t at on this device: its
// clock, except that a clock earlier than t's start counts as t's start.
// Changes are admitted without a clock (see membership), so a device whose
// clock runs behind (a dead battery, a wrong time zone) would otherwise be
// unable to edit or sync documents whose tokens every other replica
// accepts; expiry, the limit that matters, still applies.
func (m *membership) clockFor(t *access.Token) time.Time {
	now := m.p.cfg.Now()
	for l := t; l != nil; l = l.Parent {
		if start := time.Unix(l.NotBefore, 0); now.Before(start) {
			now = start
		}
	}
	return now
}

// canWrite reports whether this device may edit now.
func (m *membership) canWrite() bool { return m.rights().Covers(access.Write) }

// rights returns this device's rights now (None if its proof no longer
// verifies or has been revoked).
func (m *membership) rights() access.Rights {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := access.Authorize(access.ChangeInfo{Author: m.self, Kind: access.KindRead, Time: m.clockFor(m.own)},
		m.own, m.policyLocked(nil))
	if err != nil {
		return access.None
	}
	return r
}

// admit decides, by access.Authorize, whether change c may enter the
// document: its author holds a proof granting Write (checked at the
// proof's start: changes carry no time, see membership), and no effective
// revocation that applies to the proof precedes c (c's causal past holds
// every head of the revocation's cut). d is the document, for placing c
// against cuts; with d nil (network validators, which may not touch the
// document) or a parent of c missing, a change that a cut would reject if
// it came after it is undecidable and refused for now (errUndecidable).
func (m *membership) admit(c *crdt.Change, d *crdt.Doc) error {
	author := access.Key(c.Author)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.members[author]
	if t == nil {
		return fmt.Errorf("change %s by %s: no capability known for its author: %w", c.Hash, access.Fingerprint(author[:]), ErrUnauthorized)
	}
	pl := newPlacement(d, c, m.revs)
	_, err := access.Authorize(changeInfo(c, t), t, m.policyLocked(pl))
	switch {
	case err == nil:
		return nil
	case pl.unplaced && errors.Is(err, access.ErrRevoked):
		return fmt.Errorf("change %s by %s: %w", c.Hash, access.Fingerprint(author[:]), errUndecidable)
	default:
		return fmt.Errorf("change %s by %s: %w: %w", c.Hash, access.Fingerprint(author[:]), ErrUnauthorized, err)
	}
}

// changeInfo describes c, made under proof t, for access.Authorize: a text
// change, checked at t's start since changes carry no time.
func changeInfo(c *crdt.Change, t *access.Token) access.ChangeInfo {
	return access.ChangeInfo{Ref: access.ChangeRef(c.Hash), Author: access.Key(c.Author), Kind: access.KindText,
		Time: time.Unix(t.NotBefore, 0)}
}

// checkPeer decides whether the peer with key remote, presenting proof,
// may read the document now. A valid proof is remembered, so the peer's
// changes (forwarded by anyone) can be admitted later.
func (m *membership) checkPeer(remote access.Key, proof []byte) (access.Rights, error) {
	t, err := access.Decode(proof)
	if err != nil {
		return access.None, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	m.mu.Lock()
	r, err := access.Authorize(access.ChangeInfo{Author: remote, Kind: access.KindRead, Time: m.clockFor(t)},
		t, m.policyLocked(nil))
	m.mu.Unlock()
	if err != nil {
		return access.None, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	m.learn(t)
	return r, nil
}

// learn records a proof presented for the document (after checking it is
// at least structurally this document's) and stores it.
func (m *membership) learn(t *access.Token) {
	m.mu.Lock()
	ok := m.learnLocked(t)
	m.mu.Unlock()
	if ok && t.Audience != m.self {
		if err := m.p.db.Put(store.Tokens, memberPrefix(m.id)+keyHex(t.Audience), t.Encode()); err != nil {
			m.p.log.Warn("store member capability", "err", err)
		}
	}
}

// addRevocation checks and records cut c. It returns whether c was new and
// the keys whose access it (or a resulting re-decision) cut.
func (m *membership) addRevocation(c *cut) (bool, []access.Key, error) {
	if err := c.check(m.doc, m.root); err != nil {
		return false, nil, err
	}
	id := c.rev.ID()
	m.mu.Lock()
	if m.revs[id] != nil {
		m.mu.Unlock()
		return false, nil, nil
	}
	before := m.allowedLocked()
	m.revs[id] = c
	m.decideLocked()
	after := m.allowedLocked()
	m.mu.Unlock()
	if err := m.p.db.Put(store.Tokens, revocationPrefix(m.id)+hex.EncodeToString(id[:]), c.encode()); err != nil {
		m.p.log.Warn("store revocation", "err", err)
	}
	var cut []access.Key
	for k := range before {
		if !after[k] {
			cut = append(cut, k)
		}
	}
	slices.SortFunc(cut, func(a, b access.Key) int { return strings.Compare(keyHex(a), keyHex(b)) })
	return true, cut, nil
}

// allowedLocked returns the member keys whose proofs verify (timelessly).
func (m *membership) allowedLocked() map[access.Key]bool {
	ok := map[access.Key]bool{}
	for k, t := range m.members {
		if _, err := m.verifyTimeless(t, k); err == nil {
			ok[k] = true
		}
	}
	return ok
}

// revoked reports whether key k has been cut off the document.
func (m *membership) revoked(k access.Key) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.members[k]
	if t == nil {
		return false
	}
	_, err := m.verifyTimeless(t, k)
	return errors.Is(err, access.ErrRevoked)
}

// records returns every proof and revocation known, for a peer.
func (m *membership) records() (proofs []*access.Token, revs []*cut) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.members {
		proofs = append(proofs, t)
	}
	for _, r := range m.revs {
		revs = append(revs, r)
	}
	slices.SortFunc(proofs, func(a, b *access.Token) int { return strings.Compare(keyHex(a.Audience), keyHex(b.Audience)) })
	slices.SortFunc(revs, func(a, b *cut) int {
		x, y := a.rev.ID(), b.rev.ID()
		return strings.Compare(string(x[:]), string(y[:]))
	})
	return proofs, revs
}

// maySync reports whether this device may open a sync session with the
// device k, which shows k the document id and this device's proof (the
// keys of its chain). Only with a device it knows: the root, a member, a
// key in a member's chain. Or, while it knows no member beyond its own
// proof's chain, with anyone: a device that has just joined may find the
// inviter away and another member at hand, and what it shows is its own
// new proof. The root never offers a document to a stranger, so a
// document nobody was invited to is never named to anyone.
func (m *membership) maySync(k access.Key) bool {
	if k == m.self {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	chain := map[access.Key]bool{m.root: true}
	for t := m.own; t != nil; t = t.Parent {
		chain[t.Issuer], chain[t.Audience] = true, true
	}
	if chain[k] {
		return true
	}
	met := false
	for a, t := range m.members {
		for ; t != nil; t = t.Parent {
			if t.Audience == k || t.Issuer == k {
				return true
			}
		}
		met = met || !chain[a]
	}
	return !met && m.self != m.root
}

// revocationIDs returns the ids of the revocations the document holds.
func (m *membership) revocationIDs() [][32]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([][32]byte, 0, len(m.revs))
	for id := range m.revs {
		ids = append(ids, id)
	}
	return ids
}

// Member is one device with access to a document.
type Member struct {
	Key         access.Key
	Fingerprint string
	Rights      access.Rights
	Expiry      time.Time
	Revoked     bool
	Self        bool
}

// Members returns the devices this replica knows to hold a capability for
// the document, revoked ones included.
func (d *Doc) Members() []Member {
	m := d.a.access
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for k, t := range m.members {
		_, err := m.verifyTimeless(t, k)
		out = append(out, Member{Key: k, Fingerprint: access.Fingerprint(k[:]), Rights: t.Rights.Level(),
			Expiry: time.Unix(t.Expiry, 0), Revoked: errors.Is(err, access.ErrRevoked), Self: k == m.self})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return out
}

// Rights returns what this device may do in the document now.
func (d *Doc) Rights() access.Rights { return d.a.access.rights().Level() }

// Invite creates an invite link granting rights on the document until
// expiry, delegated from this device's capability. Whoever holds the link
// can join; revoking the invite (RevokeInvite) cuts off everyone who
// joined through it.
func (d *Doc) Invite(rights access.Rights, expiry time.Time) (string, error) {
	m := d.a.access
	m.mu.Lock()
	own := m.own
	m.mu.Unlock()
	now := d.a.p.cfg.Now()
	if exp := time.Unix(own.Expiry, 0); expiry.After(exp) {
		expiry = exp
	}
	inv, err := access.NewInvite(own, d.a.p.key, access.Grant{Rights: rights &^ access.Relay, NotBefore: now.Add(-time.Minute), Expiry: expiry}, d.a.p.cfg.Rand)
	if err != nil {
		return "", fmt.Errorf("invite: %w", err)
	}
	key, err := d.a.p.docKey(d.a.id, own)
	if errors.Is(err, ErrNoDocKey) {
		return inv.String(), nil // the invitee syncs directly only, like this device
	} else if err != nil {
		return "", fmt.Errorf("invite: %w", err)
	}
	return withDocKey(inv.String(), key), nil
}

// Join accepts an invite link: this device delegates the invite's
// capability to itself and the document appears in the list, empty until a
// peer that holds it is reachable. Joining a document already here
// upgrades this device's capability if the invite grants more.
func (p *Peer) Join(link string) (_ DocID, err error) {
	link, key, err := splitDocKey(link)
	if err != nil {
		return DocID{}, err
	}
	inv, err := access.ParseInvite(link)
	if err != nil {
		return DocID{}, err
	}
	if key != nil {
		defer func() {
			if _, kerr := p.db.Get(store.Tokens, docKeyName(DocID(inv.Doc))); errors.Is(kerr, store.ErrNotFound) && err == nil {
				err = p.db.Put(store.Tokens, docKeyName(DocID(inv.Doc)), key)
			}
		}()
	}
	tok, err := inv.Accept(ed25519.PublicKey(p.self[:]), p.cfg.Now(), p.cfg.Rand)
	if err != nil {
		return DocID{}, err
	}
	id := DocID(inv.Doc)
	if old, err := p.proof(id); err == nil {
		if old.Rights.Level() >= tok.Rights.Level() && old.Expiry >= tok.Expiry {
			return id, nil
		}
		if rootOf(old) != rootOf(tok) {
			return id, fmt.Errorf("join: the invite names another owner for document %s than the one this device knows: %w", id, ErrUnauthorized)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return id, err
	} else if err := p.db.Create(id, ""); err != nil {
		return id, err
	}
	if err := p.putProof(id, tok); err != nil {
		return id, err
	}
	if a := p.actor(id); a != nil {
		a.access.mu.Lock()
		a.access.own = tok
		a.access.members[p.self] = tok
		a.access.mu.Unlock()
	}
	return id, nil
}

// RevokeKey revokes a device's access to the document (and everything it
// delegated). Every connected peer cuts it off as soon as the record
// reaches it.
func (d *Doc) RevokeKey(k access.Key) error { return d.revoke(access.TargetKey, k) }

// RevokeInvite revokes an invite link and every device that joined
// through it.
func (d *Doc) RevokeInvite(link string) error {
	link, _, err := splitDocKey(link)
	if err != nil {
		return err
	}
	inv, err := access.ParseInvite(link)
	if err != nil {
		return err
	}
	return d.revoke(access.TargetToken, inv.Token.ID())
}

func (d *Doc) revoke(kind access.TargetKind, target [32]byte) error {
	m := d.a.access
	m.mu.Lock()
	own := m.own
	m.mu.Unlock()
	r, err := access.Revoke(own, d.a.p.key, kind, target, d.a.p.cfg.Now())
	if err != nil {
		return err
	}
	var heads []crdt.Hash
	if err := d.a.do(func() { d.a.seal(); heads = d.a.doc.Heads() }); err != nil {
		return err
	}
	if len(heads) > maxHeads {
		heads = heads[:maxHeads] // a frontier this wide never occurs in practice; the cut is then earlier
	}
	c := newCut(r, heads, d.a.p.key)
	_, keys, err := m.addRevocation(c)
	if err != nil {
		return err
	}
	return d.a.do(func() {
		d.a.enforceCuts()
		d.a.revoked(keys, c)
	})
}

// revoked acts on a new revocation: tell peers (it spreads like a change)
// and drop every cut-off peer from the document. On the goroutine.
func (a *docActor) revoked(keys []access.Key, c *cut) {
	if a.net == nil {
		return
	}
	if c != nil {
		// Gossip is best effort (a peer admitted a moment ago may not be
		// in our mesh until the next heartbeat) and a revocation must
		// reach every peer within a second: send it now and twice more
		// (records are idempotent; each send differs in bytes, or gossip
		// would take it for the first), and sync with every peer of the
		// document at once, which carries it whatever the mesh.
		for i, after := range []time.Duration{0, 150 * time.Millisecond, 600 * time.Millisecond} {
			msg := encodeRecords(nil, []*cut{c})
			if i > 0 {
				msg = encodeRecordsResent(i, nil, []*cut{c})
			}
			time.AfterFunc(after, func() {
				a.post(func() {
					if a.net == nil {
						return
					}
					if err := a.net.Publish(msg); err != nil {
						a.log.Debug("publish revocation", "err", err)
					}
				})
			})
		}
	}
	for _, k := range keys {
		a.net.Deauthorize(k)
	}
	if c != nil {
		a.net.SyncNow()
	}
}
