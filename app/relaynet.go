package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p/mailproto"
	"github.com/quire-dev/quire/store"
)

// Relay mailboxes. Every open document is synced with every relay the
// peer knows (NetConfig.Relays and the Relays setting): first the boxes
// other members left since this device's cursor are opened with the
// document key and applied like a catch-up batch from a peer (signatures
// and capabilities checked, rejects quarantined), then everything the
// relay has not had from this device (what the document holds beyond the
// vector last pushed there) is sealed and put, in parts of at most
// mailproto.MaxBoxSize. The owner's device gives each relay its mandate
// (a relay token) on the way; every request carries the device's proof and
// the document's revocations, so a relay cuts off whom the members did.

const (
	// relayEvery is how often documents are synced with relays; a local
	// change brings the next round to relayDebounce after it.
	relayEvery    = 30 * time.Second
	relayDebounce = 2 * time.Second
	// boxHeader bounds a box's plaintext header: version, batch id, part,
	// parts.
	boxHeader = 1 + 16 + 2*binary.MaxVarintLen64
	// partSize is the batch bytes in one box (what fits once sealed).
	partSize = mailproto.MaxBoxSize - boxHeader - 64
	// maxParts bounds the boxes of one batch, so a batch is at most about
	// 16 MiB; a larger one is not pushed (the document still syncs
	// directly) and the round reports it.
	maxParts = 16
	// maxPartials bounds the incomplete batches held per relay and
	// document while their other parts are awaited (one per sender: a
	// sender puts a batch's parts back to back, so its next batch ends the
	// last one); past it the oldest is dropped, and fetched again after a
	// restart.
	maxPartials = 16
	// partialWait is how long a batch may stay incomplete, counted in the
	// relay's box times: a sender that stopped halfway (its next round puts
	// a new batch) would otherwise hold every reader's cursor behind it.
	partialWait = time.Hour
	// maxPages bounds the Get answers one round takes per document.
	maxPages   = 64
	boxVersion = 1
)

// RelayStatus is how syncing with one relay went last.
type RelayStatus struct {
	Addr string
	// Last is when the last round ended; zero before the first.
	Last time.Time
	// Err is the last round's error ("" if it went well).
	Err string
}

// relayTarget is one relay: its address, peer id and key.
type relayTarget struct {
	addr string
	id   peer.ID
	key  access.Key
}

// relayState is a P2P's relay bookkeeping.
type relayState struct {
	poke  chan struct{} // cap 1: a local change; sync soon
	round sync.Mutex    // one round at a time

	mu       sync.Mutex
	status   map[string]RelayStatus
	partials map[partialKey]*partial
	mandates map[mandateKey]*access.Token
	revFrom  map[mandateKey]int // where the next round's revocations start, per document and relay
}

type partialKey struct {
	relay peer.ID
	doc   DocID
	from  access.Key
}

type partial struct {
	batch [16]byte
	first uint64 // the seq of the first part seen
	at    int64  // that part's time at the relay, Unix seconds
	parts [][]byte
	have  int
}

type mandateKey struct {
	doc   DocID
	relay access.Key
}

// ParseRelay checks a relay address: a multiaddr ending in /p2p/ID with an
// Ed25519 peer id.
func ParseRelay(addr string) (peer.ID, access.Key, error) {
	m, err := ma.NewMultiaddr(strings.TrimSpace(addr))
	if err != nil {
		return "", access.Key{}, fmt.Errorf("relay address %q: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return "", access.Key{}, fmt.Errorf("relay address %q: %w (it must end in /p2p/ID)", addr, err)
	}
	k, err := peerKey(info.ID)
	if err != nil {
		return "", access.Key{}, fmt.Errorf("relay address %q: %w", addr, err)
	}
	return info.ID, k, nil
}

const settingRelays = "relays"

// Relays returns the relay addresses set on this device.
func (p *Peer) Relays() []string {
	b, err := p.db.Get(store.Settings, settingRelays)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// SetRelays sets the relays whose mailboxes this device uses, as full
// multiaddrs (with /p2p/ID); it takes effect at the next round.
func (p *Peer) SetRelays(addrs []string) error {
	var keep []string
	for _, a := range addrs {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := ParseRelay(a); err != nil {
			return err
		}
		if !slices.Contains(keep, a) {
			keep = append(keep, a)
		}
	}
	return p.db.Put(store.Settings, settingRelays, []byte(strings.Join(keep, "\n")))
}

// relays returns the relays to sync with: the configured ones, then the
// setting's.
func (n *P2P) relays() ([]relayTarget, []error) {
	var out []relayTarget
	var errs []error
	for _, a := range append(slices.Clone(n.cfg.Relays), n.peer.Relays()...) {
		id, k, err := ParseRelay(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.ContainsFunc(out, func(r relayTarget) bool { return r.id == id }) {
			out = append(out, relayTarget{addr: a, id: id, key: k})
		}
	}
	return out, errs
}

// RelayStatus returns how syncing with each relay went last.
func (n *P2P) RelayStatus() []RelayStatus {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	var out []RelayStatus
	for _, s := range n.relay.status {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b RelayStatus) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// relaySoon brings the next relay round close (after a local change).
func (n *P2P) relaySoon() {
	select {
	case n.relay.poke <- struct{}{}:
	default:
	}
}

// relayLoop syncs with the relays every relayEvery, soon after local
// changes, until ctx ends.
func (n *P2P) relayLoop(ctx context.Context) {
	next := time.Now()
	lastErr := fmt.Sprint(nil)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.relay.poke:
			if soon := time.Now().Add(relayDebounce); soon.Before(next) {
				next = soon
				timer.Reset(time.Until(next))
			}
			continue
		case <-timer.C:
		}
		// A failing relay fails the same way every round: log changes
		// only (RelayStatus always has the last error).
		err := n.SyncRelays(ctx)
		if msg := fmt.Sprint(err); msg != lastErr && ctx.Err() == nil {
			if err != nil {
				n.log.Info("relay sync", "err", err)
			} else {
				n.log.Info("relay sync works again")
			}
			lastErr = msg
		}
		next = time.Now().Add(relayEvery)
		timer.Reset(relayEvery)
	}
}

// SyncRelays runs one round with every relay now: each open document
// fetches what other members left there and leaves what the relay lacks.
// It returns the errors of the round, joined; nil if every document synced
// with every relay (a document with no key is an error too).
func (n *P2P) SyncRelays(ctx context.Context) error {
	select {
	case <-n.ready:
	default:
		return fmt.Errorf("relay sync: %w", errNotStarted)
	}
	n.relay.round.Lock()
	defer n.relay.round.Unlock()
	targets, errs := n.relays()
	n.mu.Lock()
	docs := make([]*docNet, 0, len(n.docs))
	for _, d := range n.docs {
		docs = append(docs, d)
	}
	n.mu.Unlock()
	slices.SortFunc(docs, func(a, b *docNet) int { return strings.Compare(a.a.id.String(), b.a.id.String()) })
	synced := make([]int, len(docs)) // per document, the relays it synced with
	for _, r := range targets {
		var rerrs []error
		if err := n.node.Connect(ctx, r.addr); err != nil {
			rerrs = append(rerrs, fmt.Errorf("relay %s: %w", r.id, err))
		} else {
			for i, d := range docs {
				if err := n.syncDocRelay(ctx, r, d); err != nil {
					rerrs = append(rerrs, fmt.Errorf("relay %s, document %s: %w", r.id, d.a.id, err))
				} else {
					synced[i]++
				}
			}
		}
		err := errors.Join(rerrs...)
		st := RelayStatus{Addr: r.addr, Last: time.Now()}
		if err != nil {
			st.Err = err.Error()
		}
		n.relay.mu.Lock()
		n.relay.status[r.addr] = st
		n.relay.mu.Unlock()
		errs = append(errs, err)
	}
	for i, d := range docs {
		a, k := d.a, synced[i]
		a.post(func() { a.setStatus(func(s *Status) { s.Relays = k }) })
	}
	return errors.Join(errs...)
}

var (
	errNotStarted    = errors.New("the network is not running yet")
	errBatchTooLarge = errors.New("batch too large for a relay mailbox")
)

func relayName(kind string, r relayTarget, id DocID) string {
	return "relay-" + kind + "/" + r.id.String() + "/" + id.String()
}

// syncDocRelay fetches, then pushes, one document with one relay.
func (n *P2P) syncDocRelay(ctx context.Context, r relayTarget, d *docNet) error {
	a := d.a
	m := a.access
	m.mu.Lock()
	own := m.own
	m.mu.Unlock()
	key, err := a.p.docKey(a.id, own)
	if err != nil {
		return err
	}
	s, err := newSealer(a.id, key)
	if err != nil {
		return err
	}
	req := mailproto.Request{Doc: a.id, Proof: own.Encode()}
	if tok := n.mandate(a.id, own, r.key); tok != nil {
		req.RelayProof = tok.Encode()
	}
	// The revocations, at most MaxRevocations a request: with more, each
	// round sends the next ones, so the relay learns all of them.
	_, revs := m.records()
	k := mandateKey{a.id, r.key}
	n.relay.mu.Lock()
	window, next := revocationWindow(len(revs), n.relay.revFrom[k])
	n.relay.revFrom[k] = next
	n.relay.mu.Unlock()
	for _, i := range window {
		req.Revocations = append(req.Revocations, revs[i].rev.Encode())
	}
	st, err := n.loadRelayDoc(relayName("state", r, a.id))
	if err != nil {
		return err
	}
	perr := n.pullRelay(ctx, r, d, s, req, st)
	if err := n.saveRelayDoc(relayName("state", r, a.id), st); err != nil {
		return errors.Join(perr, err)
	}
	if perr != nil {
		return perr
	}
	if !own.Rights.Covers(access.Comment) {
		return nil // a reader makes no changes and may not put
	}
	prev, refresh := st.pushed, false
	if st.retention > 0 && n.peer.cfg.Now().Unix()-st.refreshed > int64(st.retention/2) {
		// Boxes older than the retention are gone: put the whole
		// document again, so that a member who joins later finds all of
		// it there.
		st.pushed, refresh = crdt.Vector{}, true
	}
	err = n.pushRelay(ctx, r, d, s, req, st)
	if errors.Is(err, errBatchTooLarge) && refresh && len(prev) > 0 {
		// The whole document no longer fits a mailbox batch: go on
		// putting what changes, and try the whole again a retention later.
		a.log.Warn("relay refresh skipped", "relay", r.id, "err", err)
		st.pushed, st.refreshed, err = prev, n.peer.cfg.Now().Unix(), nil
	}
	return errors.Join(err, n.saveRelayDoc(relayName("state", r, a.id), st))
}

// relayDoc is what a device remembers of one document on one relay.
type relayDoc struct {
	cursor    uint64      // the last box seq fetched
	epoch     uint64      // the relay's mailbox epoch the cursor belongs to
	retention uint64      // the relay's retention, in seconds (0 = unknown)
	refreshed int64       // when the whole document was last put, Unix seconds
	pushed    crdt.Vector // what the relay holds of the document, as far as this device knows
}

// revocationWindow returns which of n records a request carries, starting
// at from, and where the next request starts: all of them if they fit,
// else MaxRevocations of them in turn, wrapping around.
func revocationWindow(n, from int) (window []int, next int) {
	if n <= mailproto.MaxRevocations {
		for i := range n {
			window = append(window, i)
		}
		return window, 0
	}
	from %= n
	for i := range mailproto.MaxRevocations {
		window = append(window, (from+i)%n)
	}
	return window, (from + mailproto.MaxRevocations) % n
}

// mandate returns a relay token for relay on doc, issued from own if this
// device may (it holds the relay right: the owner), else nil. Tokens are
// kept and reissued a day before they expire.
func (n *P2P) mandate(doc DocID, own *access.Token, relay access.Key) *access.Token {
	if !own.Rights.HasRelay() {
		return nil
	}
	now := n.peer.cfg.Now()
	k := mandateKey{doc, relay}
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	if t := n.relay.mandates[k]; t != nil && time.Unix(t.Expiry, 0).After(now.Add(24*time.Hour)) {
		return t
	}
	expiry := time.Unix(min(own.Expiry, now.AddDate(1, 0, 0).Unix()), 0)
	t, err := access.Issue(own, n.peer.key, access.Grant{Audience: relay, Doc: own.Doc, Rights: access.Relay,
		NotBefore: now.Add(-time.Minute), Expiry: expiry}, n.peer.cfg.Rand)
	if err != nil {
		n.log.Warn("relay token", "doc", doc, "err", err)
		return nil
	}
	n.relay.mandates[k] = t
	return t
}

// pullRelay fetches the boxes after st.cursor and applies the complete
// batches. st.pushed moves with what was fetched when it covered the
// document before. A new epoch (the relay lost the mailbox) starts over:
// cursor 0, and everything to put again.
func (n *P2P) pullRelay(ctx context.Context, r relayTarget, d *docNet, s *sealer, req mailproto.Request, st *relayDoc) error {
	a := d.a
	after := st.cursor
	var newest int64
	for page := 0; ; page++ {
		if page == maxPages {
			return nil // the rest next round
		}
		q := req
		q.Type, q.After = mailproto.TypeGet, after
		resp, err := n.node.Mailbox(ctx, r.id, q)
		if err != nil {
			return fmt.Errorf("get: %w", err)
		}
		if resp.More && resp.Next <= after {
			return fmt.Errorf("get: the relay says there is more after %d but moved to %d", after, resp.Next)
		}
		st.retention = resp.Retention
		if resp.Epoch != st.epoch {
			fresh := st.epoch == 0 && st.cursor == 0
			st.epoch, st.cursor, st.pushed, st.refreshed = resp.Epoch, 0, crdt.Vector{}, 0
			n.dropPartials(r.id, a.id)
			if !fresh {
				a.log.Info("relay mailbox started over; fetching and putting everything again", "relay", r.id)
			}
			if after != 0 {
				after = 0
				continue
			}
		}
		for _, b := range resp.Boxes {
			newest = max(newest, b.Time)
			if b.From == a.p.self {
				continue
			}
			batch, err := n.assemble(r, a.id, b, s)
			if err != nil {
				a.log.Warn("relay box dropped", "relay", r.id, "seq", b.Seq, "from", access.Fingerprint(b.From[:]), "err", err)
				continue
			}
			if batch == nil {
				continue
			}
			var v0, v1 crdt.Vector
			var aerr error
			if err := a.do(func() {
				v0 = a.syncVector()
				aerr = a.applyBatch(batch)
				v1 = a.syncVector()
			}); err != nil {
				return err
			}
			if aerr != nil {
				a.log.Warn("relay batch rejected", "relay", r.id, "from", access.Fingerprint(b.From[:]), "err", aerr)
			}
			if st.pushed.Covers(v0) {
				// Nothing else changed the document meanwhile (the apply
				// ran on its goroutine), so what it holds now the relay
				// holds too.
				clear(st.pushed)
				maps.Copy(st.pushed, v1)
			}
		}
		st.cursor = min(resp.Next, n.heldFrom(r.id, a.id, newest)-1)
		if !resp.More {
			return nil
		}
		after = resp.Next
	}
}

// dropPartials forgets the incomplete batches of doc from relay.
func (n *P2P) dropPartials(relay peer.ID, doc DocID) {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	for k := range n.relay.partials {
		if k.relay == relay && k.doc == doc {
			delete(n.relay.partials, k)
		}
	}
}

// heldFrom returns the seq of the first part of the oldest incomplete
// batch held for relay and doc, or MaxUint64 if none. It first gives up
// the batches that stayed incomplete partialWait before now (the newest
// box time seen), so that they hold the cursor no longer.
func (n *P2P) heldFrom(relay peer.ID, doc DocID, now int64) uint64 {
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	first := uint64(math.MaxUint64)
	for k, p := range n.relay.partials {
		if k.relay != relay || k.doc != doc {
			continue
		}
		if now-p.at > int64(partialWait/time.Second) {
			delete(n.relay.partials, k)
			continue
		}
		first = min(first, p.first)
	}
	return first
}

// assemble opens a box and returns the batch it completes, or nil while
// parts are missing.
func (n *P2P) assemble(r relayTarget, doc DocID, b mailproto.Box, s *sealer) ([]byte, error) {
	plain, err := s.open(b.Data)
	if err != nil {
		return nil, err
	}
	h, err := parseBox(plain)
	if err != nil {
		return nil, err
	}
	k := partialKey{relay: r.id, doc: doc, from: b.From}
	part, parts, payload := h.part, h.parts, h.payload
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	p := n.relay.partials[k]
	if p != nil && p.batch != h.batch {
		// The sender started another batch: the last one will not end.
		delete(n.relay.partials, k)
		p = nil
	}
	if parts == 1 {
		return payload, nil
	}
	if p == nil {
		var held []partialKey
		for o := range n.relay.partials {
			if o.relay == k.relay && o.doc == k.doc {
				held = append(held, o)
			}
		}
		if len(held) >= maxPartials {
			oldest := slices.MinFunc(held, func(x, y partialKey) int {
				return cmp.Compare(n.relay.partials[x].first, n.relay.partials[y].first)
			})
			delete(n.relay.partials, oldest)
		}
		p = &partial{batch: h.batch, first: b.Seq, at: b.Time, parts: make([][]byte, parts)}
		n.relay.partials[k] = p
	}
	if uint64(len(p.parts)) != parts {
		delete(n.relay.partials, k)
		return nil, fmt.Errorf("box: batch of %d parts, earlier parts said %d", parts, len(p.parts))
	}
	if p.parts[part] == nil {
		p.parts[part] = payload
		p.have++
	}
	if p.have < len(p.parts) {
		return nil, nil
	}
	delete(n.relay.partials, k)
	return slices.Concat(p.parts...), nil
}

// boxPlain is an opened box: part part of parts of batch.
type boxPlain struct {
	batch       [16]byte
	part, parts uint64
	payload     []byte
}

// appendBox appends an opened box's bytes: version, batch id, part and
// parts as uvarints, the payload.
func appendBox(b []byte, h boxPlain) []byte {
	b = append(b, boxVersion)
	b = append(b, h.batch[:]...)
	b = binary.AppendUvarint(b, h.part)
	b = binary.AppendUvarint(b, h.parts)
	return append(b, h.payload...)
}

// parseBox parses an opened box. A member may seal anything, so this is
// untrusted input.
func parseBox(plain []byte) (boxPlain, error) {
	var h boxPlain
	if len(plain) < 1+16 || plain[0] != boxVersion {
		return h, errors.New("box: unknown version or truncated header")
	}
	copy(h.batch[:], plain[1:17])
	rest := plain[17:]
	part, l1 := binary.Uvarint(rest)
	if l1 <= 0 {
		return h, errors.New("box: bad part number")
	}
	parts, l2 := binary.Uvarint(rest[l1:])
	if l2 <= 0 || parts == 0 || parts > maxParts || part >= parts {
		return h, fmt.Errorf("box: part %d of %d", part, parts)
	}
	h.part, h.parts, h.payload = part, parts, rest[l1+l2:]
	return h, nil
}

// pushRelay puts what the relay lacks from this device: the document's
// records and every change beyond pushed, sealed, in parts.
func (n *P2P) pushRelay(ctx context.Context, r relayTarget, d *docNet, s *sealer, req mailproto.Request, st *relayDoc) error {
	a := d.a
	var (
		data    []byte
		covered crdt.Vector
	)
	if err := a.do(func() {
		a.seal()
		v := a.syncVector()
		if st.pushed.Covers(v) {
			return
		}
		cs, _ := a.doc.EncodeBatch(st.pushed, math.MaxInt)
		data, covered = append(a.batchRecords(), cs...), v
	}); err != nil {
		return err
	}
	if covered == nil {
		return nil
	}
	parts := (len(data) + partSize - 1) / partSize
	if parts > maxParts {
		return fmt.Errorf("%d bytes to put, more than a mailbox batch holds (%d); the document syncs with peers directly only: %w",
			len(data), maxParts*partSize, errBatchTooLarge)
	}
	var batch [16]byte
	if _, err := rand.Read(batch[:]); err != nil {
		return err
	}
	for i := range parts {
		plain := appendBox(make([]byte, 0, boxHeader+partSize), boxPlain{batch: batch, part: uint64(i), parts: uint64(parts),
			payload: data[i*partSize : min(len(data), (i+1)*partSize)]})
		q := req
		q.Type, q.Box = mailproto.TypePut, s.seal(plain)
		if _, err := n.node.Mailbox(ctx, r.id, q); err != nil {
			return fmt.Errorf("put part %d of %d: %w", i+1, parts, err)
		}
	}
	if len(st.pushed) == 0 {
		st.refreshed = n.peer.cfg.Now().Unix()
	}
	st.pushed = covered
	return nil
}

// loadRelayDoc reads a relayDoc record: version 1, then cursor, epoch,
// retention and refreshed as uvarints, then the pushed vector as (author,
// uvarint count) pairs. A missing record is a fresh state.
func (n *P2P) loadRelayDoc(name string) (*relayDoc, error) {
	st := &relayDoc{pushed: crdt.Vector{}}
	b, err := n.peer.db.Get(store.Settings, name)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	} else if err != nil {
		return nil, err
	}
	bad := fmt.Errorf("%s: malformed record; starting over with this relay", name)
	if len(b) == 0 || b[0] != 1 {
		n.log.Warn(bad.Error())
		return st, nil
	}
	b = b[1:]
	var vals [4]uint64
	for i := range vals {
		v, l := binary.Uvarint(b)
		if l <= 0 {
			n.log.Warn(bad.Error())
			return &relayDoc{pushed: crdt.Vector{}}, nil
		}
		vals[i], b = v, b[l:]
	}
	st.cursor, st.epoch, st.retention, st.refreshed = vals[0], vals[1], vals[2], int64(vals[3])
	for len(b) > 0 {
		var a crdt.Author
		if len(b) < len(a) {
			n.log.Warn(bad.Error())
			return &relayDoc{pushed: crdt.Vector{}}, nil
		}
		copy(a[:], b)
		c, l := binary.Uvarint(b[len(a):])
		if l <= 0 {
			n.log.Warn(bad.Error())
			return &relayDoc{pushed: crdt.Vector{}}, nil
		}
		st.pushed[a] = c
		b = b[len(a)+l:]
	}
	return st, nil
}

func (n *P2P) saveRelayDoc(name string, st *relayDoc) error {
	b := []byte{1}
	b = binary.AppendUvarint(b, st.cursor)
	b = binary.AppendUvarint(b, st.epoch)
	b = binary.AppendUvarint(b, st.retention)
	b = binary.AppendUvarint(b, uint64(st.refreshed))
	for a, c := range st.pushed {
		b = append(b, a[:]...)
		b = binary.AppendUvarint(b, c)
	}
	return n.peer.db.Put(store.Settings, name, b)
}
