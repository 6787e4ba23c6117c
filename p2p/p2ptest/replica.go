// Package p2ptest helps test and benchmark package p2p: Replica is a real
// crdt.Doc behind the syncproto.Replica and p2p.DocHandler interfaces, with
// real capability tokens from crdt/access and signed, verified changes, and
// StartPeer runs real libp2p nodes on loopback. It is a reference for the
// app's own implementation, not a replacement: it checks each change's
// signature but not its author's capability (the app's admission hook does).
package p2ptest

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
)

// Replica is one device's copy of a document, safe for concurrent use (a
// mutex serialises every call on the crdt.Doc). It implements p2p.DocHandler.
type Replica struct {
	root  access.Key
	doc   crdt.DocID
	proof []byte
	now   func() time.Time

	mu        sync.Mutex
	d         *crdt.Doc
	delivered chan<- Delivery         // optional, see Notify
	wake      chan<- struct{}         // optional, see Wake
	checked   map[string]*crdt.Change // changes Validate verified, for Deliver; at most maxChecked
	revoked   map[access.Key]bool     // keys CheckProof refuses
	strangers map[access.Key]bool     // keys MaySync refuses

}

// Delivery is a gossip message a Replica applied or received.
type Delivery struct {
	From    peer.ID
	Kind    p2p.Kind
	Payload []byte
	At      time.Time
}

// NewReplica returns an empty replica of document doc (root key root) for
// the device key, proving read capability with proof (nil for a device
// without one: its proof is then empty and every peer refuses it). now is
// the clock tokens are checked against; nil means time.Now.
func NewReplica(doc crdt.DocID, root access.Key, key ed25519.PrivateKey, proof *access.Token, now func() time.Time) *Replica {
	var author crdt.Author
	copy(author[:], key.Public().(ed25519.PublicKey))
	var pb []byte
	if proof != nil {
		pb = proof.Encode()
	}
	if now == nil {
		now = time.Now
	}
	d := crdt.New(doc, author)
	if err := d.SetSigner(key); err != nil { // key is author's by construction
		panic(fmt.Sprintf("p2ptest: signer: %v", err))
	}
	d.SetVerify(true)
	return &Replica{root: root, doc: doc, proof: pb, now: now, d: d}
}

// NewReplicaOf is NewReplica holding the existing document d (which
// should sign with key and verify), for benchmarks that start from a
// replayed history.
func NewReplicaOf(d *crdt.Doc, root access.Key, proof *access.Token, now func() time.Time) *Replica {
	if now == nil {
		now = time.Now
	}
	var pb []byte
	if proof != nil {
		pb = proof.Encode()
	}
	return &Replica{root: root, doc: d.ID(), proof: pb, now: now, d: d}
}

// Notify makes the replica send each applied change and each presence
// message on ch, dropping them when ch is full. Call it before joining.
func (r *Replica) Notify(ch chan<- Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered = ch
}

// Wake makes the replica signal ch (without blocking) whenever its
// document changes, so tests wait on changes instead of sleeping.
func (r *Replica) Wake(ch chan<- struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wake = ch
}

func (r *Replica) changedLocked() {
	if r.wake != nil {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Revoke makes CheckProof refuse key from now on, as the app's would once
// a revocation of key is in the document.
func (r *Replica) Revoke(key access.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked == nil {
		r.revoked = map[access.Key]bool{}
	}
	r.revoked[key] = true
}

// Edit runs f on the document under the replica's lock and returns the
// changes it sealed, each signed and encoded as one gossip payload.
func (r *Replica) Edit(f func(d *crdt.Doc) error) ([][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := f(r.d); err != nil {
		return nil, err
	}
	var out [][]byte
	for _, c := range r.d.Seal() {
		b, err := c.EncodeSigned()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Text returns the document's text.
func (r *Replica) Text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d.Text()
}

// Encode returns the whole history's encoding.
func (r *Replica) Encode() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d.Encode()
}

// Vector implements syncproto.Replica.
func (r *Replica) Vector() crdt.Vector {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d.Vector()
}

// EncodeBatch implements syncproto.Replica with crdt.Doc.EncodeBatch,
// returning nothing when since lacks nothing.
func (r *Replica) EncodeBatch(since crdt.Vector, maxBytes int) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if since.Covers(r.d.Vector()) {
		return nil, false
	}
	return r.d.EncodeBatch(since, maxBytes)
}

// ApplyBatch implements syncproto.Replica.
func (r *Replica) ApplyBatch(from access.Key, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.d.Ops()
	_, err := r.d.ApplyEncoded(data)
	r.changedLocked()
	if err != nil && r.d.Ops() == before {
		return fmt.Errorf("apply batch from %s: %w", from, err)
	}
	return nil
}

// Proof implements syncproto.Replica.
func (r *Replica) Proof() []byte { return r.proof }

// MaySync implements p2p.DocHandler: every key but those passed to
// Stranger.
func (r *Replica) MaySync(remote access.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.strangers[remote]
}

// Stranger makes MaySync refuse k.
func (r *Replica) Stranger(k access.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.strangers == nil {
		r.strangers = map[access.Key]bool{}
	}
	r.strangers[k] = true
}

// CheckProof implements syncproto.Replica with access.Verify.
func (r *Replica) CheckProof(remote access.Key, proof []byte) error {
	r.mu.Lock()
	revoked := r.revoked[remote]
	r.mu.Unlock()
	if revoked {
		return access.ErrRevoked
	}
	tok, err := access.Decode(proof)
	if err != nil {
		return err
	}
	rights, err := access.Verify(tok, access.VerifyParams{Doc: access.DocID(r.doc), Root: r.root, Audience: remote, Now: r.now()})
	if err != nil {
		return err
	}
	if !rights.Covers(access.Read) {
		return fmt.Errorf("rights %s: %w", rights, access.ErrInsufficientRights)
	}
	return nil
}

// maxChecked bounds the changes kept between Validate and Deliver; when
// full the table is cleared and Deliver decodes (and verifies) again.
const maxChecked = 1024

// ErrNotAChange reports a gossip payload that is not a change of the document.
var ErrNotAChange = errors.New("p2ptest: not a change of this document")

// Validate implements p2p.DocHandler: a change payload must decode as a
// signed change of the document whose signature verifies; presence
// payloads must be non-empty.
func (r *Replica) Validate(from peer.ID, kind p2p.Kind, payload []byte) p2p.Verdict {
	switch kind {
	case p2p.KindChange:
		c, err := crdt.DecodeSignedChange(r.doc, payload) // checks the signature
		if err != nil {
			return p2p.Reject
		}
		r.mu.Lock()
		if len(r.checked) >= maxChecked || r.checked == nil {
			r.checked = map[string]*crdt.Change{}
		}
		r.checked[string(payload)] = c
		r.mu.Unlock()
		return p2p.Accept
	case p2p.KindPresence:
		if len(payload) == 0 {
			return p2p.Reject
		}
		return p2p.Accept
	}
	return p2p.Reject
}

// Deliver implements p2p.DocHandler: it applies a change, or queues a
// presence payload.
func (r *Replica) Deliver(from peer.ID, kind p2p.Kind, payload []byte) {
	at := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == p2p.KindChange {
		c := r.checked[string(payload)]
		delete(r.checked, string(payload))
		if c == nil {
			var err error
			if c, err = crdt.DecodeSignedChange(r.doc, payload); err != nil {
				return // Validate accepted it, so this cannot happen
			}
		}
		if _, err := r.d.Apply(c); err != nil {
			return
		}
		r.changedLocked()
	}
	if r.delivered != nil {
		select {
		case r.delivered <- Delivery{From: from, Kind: kind, Payload: payload, At: at}:
		default:
		}
	}
}
