package app

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/store"
)

// NetConfig configures a peer's libp2p network.
type NetConfig struct {
	// Listen are the multiaddrs to listen on; nil means every interface on
	// random ports (p2p.DesktopListenAddrs).
	Listen []string
	// MDNS finds and connects to peers on the LAN, unless the peer's LAN
	// discovery setting is off (Peer.SetLANDiscovery).
	MDNS bool
	// Connect are multiaddrs (with /p2p/ id) to dial once running.
	Connect []string
	// Relays are relay multiaddrs (with /p2p/ id) whose mailboxes every
	// open document syncs with, besides the peer's Relays setting.
	Relays []string
	// Node overrides other p2p.Node settings (tests: clock, seed, sync
	// interval). Its ListenAddrs, PrivateKey, MDNS, PeerBook and Logger are
	// set from the fields above and the peer. With Node.ManualSync the app
	// does not offer open documents to connected peers either: only
	// explicit SyncWith calls run sessions (benchmarks, tools).
	Node p2p.Config
}

// P2P is a peer's libp2p network: it puts every open document on its
// gossipsub topics and sync protocol, and checks everything that comes in
// against the document's capabilities. Create it with NewNetwork and pass
// it in Config.Network.
type P2P struct {
	cfg   NetConfig
	ready chan struct{} // closed once node is running
	poke  chan struct{} // cap 1: a document was opened; offer it now
	node  *p2p.Node
	peer  *Peer
	log   *slog.Logger

	mu   sync.Mutex
	docs map[DocID]*docNet

	relay relayState
}

// NewNetwork returns a network for Config.Network.
func NewNetwork(cfg NetConfig) *P2P {
	return &P2P{cfg: cfg, ready: make(chan struct{}), poke: make(chan struct{}, 1), docs: map[DocID]*docNet{},
		relay: relayState{poke: make(chan struct{}, 1), status: map[string]RelayStatus{},
			partials: map[partialKey]*partial{}, mandates: map[mandateKey]*access.Token{}, revFrom: map[mandateKey]int{}}}
}

// Run starts the libp2p node with p's identity and runs it until ctx ends.
func (n *P2P) Run(ctx context.Context, p *Peer) error {
	nc := n.cfg.Node
	nc.ListenAddrs = n.cfg.Listen
	if nc.ListenAddrs == nil {
		nc.ListenAddrs = p2p.DesktopListenAddrs
	}
	nc.PrivateKey = p.key
	nc.MDNS = n.cfg.MDNS && p.LANDiscovery()
	nc.PeerBook = peerBook{p.db, p.log}
	nc.Logger = p.log.With("part", "p2p")
	node, err := p2p.New(nc)
	if err != nil {
		return err
	}
	n.node, n.peer, n.log = node, p, p.log
	errc := make(chan error, 1)
	go func() { errc <- node.Run(ctx) }()
	select {
	case <-node.Ready():
	case err := <-errc:
		return err
	}
	close(n.ready)
	n.mu.Lock()
	for _, d := range n.docs {
		d.start()
	}
	n.mu.Unlock()
	for _, addr := range n.cfg.Connect {
		go func() {
			if err := node.Connect(ctx, addr); err != nil {
				n.log.Warn("connect", "addr", addr, "err", err)
			}
		}()
	}
	go n.watch(ctx)
	if !n.cfg.Node.ManualSync { // then only explicit SyncRelays calls run rounds
		go n.relayLoop(ctx)
	}
	return <-errc
}

// discoverEvery is how often the network offers each open document to
// each connected peer not yet syncing it, and the least time between two
// offers of one document to one peer.
const discoverEvery = 5 * time.Second

// watch refreshes documents' status when peers come and go, and offers
// every open document to connected peers that do not sync it yet: the
// node syncs a document only with peers in its topic, and a peer enters
// the topic only by proving access in a sync session, so someone has to
// start the first one.
func (n *P2P) watch(ctx context.Context) {
	tick := time.NewTicker(discoverEvery)
	defer tick.Stop()
	offered := map[offer]time.Time{}
	for {
		n.mu.Lock()
		docs := make([]*docNet, 0, len(n.docs))
		for _, d := range n.docs {
			docs = append(docs, d)
		}
		n.mu.Unlock()
		now := time.Now()
		for k, at := range offered {
			if now.Sub(at) > discoverEvery {
				delete(offered, k)
			}
		}
		for _, d := range docs {
			d.refreshStatus()
			if !n.cfg.Node.ManualSync { // then only explicit SyncWith calls run sessions
				n.offer(ctx, d, offered, now)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-n.node.Events():
		case <-tick.C:
		case <-n.poke:
		}
	}
}

type offer struct {
	doc  DocID
	peer peer.ID
}

// offer starts a sync session on d with each connected peer that is not
// authorized on it and was not offered it recently.
func (n *P2P) offer(ctx context.Context, d *docNet, offered map[offer]time.Time, now time.Time) {
	t := d.t()
	if t == nil {
		return
	}
	in := map[peer.ID]bool{}
	for _, p := range t.Peers() {
		in[p] = true
	}
	relays, _ := n.relays()
	for _, r := range relays {
		in[r.id] = true // a relay holds no replica: nothing to offer it
	}
	for _, pi := range n.node.Peers() {
		k := offer{d.a.id, pi.ID}
		if in[pi.ID] || !offered[k].IsZero() {
			continue
		}
		offered[k] = now
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if res := n.node.SyncWith(sctx, k.doc, k.peer); res.Err != nil {
				n.log.Debug("offer document", "doc", k.doc, "peer", k.peer, "err", res.Err)
			}
		}()
	}
}

// Node returns the libp2p node once Run has started it, else nil.
func (n *P2P) Node() *p2p.Node {
	select {
	case <-n.ready:
		return n.node
	default:
		return nil
	}
}

// Ready is closed once the node runs.
func (n *P2P) Ready() <-chan struct{} { return n.ready }

// Addrs returns the node's listen addresses with its peer id, for others
// to dial.
func (n *P2P) Addrs() []string {
	node := n.Node()
	if node == nil {
		return nil
	}
	var out []string
	for _, a := range node.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// NetPeer is a connected peer.
type NetPeer struct {
	ID    string
	Via   string // "lan", "direct" or "relayed"
	Addrs []string
}

// Peers returns the connected peers.
func (n *P2P) Peers() []NetPeer {
	node := n.Node()
	if node == nil {
		return nil
	}
	var out []NetPeer
	for _, pi := range node.Peers() {
		np := NetPeer{ID: pi.ID.String(), Via: pi.Via.String()}
		for _, a := range pi.Addrs {
			np.Addrs = append(np.Addrs, a.String())
		}
		out = append(out, np)
	}
	slices.SortFunc(out, func(a, b NetPeer) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Connect dials a peer by multiaddr (with its /p2p/ id).
func (n *P2P) Connect(ctx context.Context, addr string) error {
	node := n.Node()
	if node == nil {
		return p2p.ErrNotRunning
	}
	return node.Connect(ctx, addr)
}

// Refresh syncs every open document with its peers now (after joining a
// document, say).
func (n *P2P) Refresh() {
	node := n.Node()
	if node == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for id := range n.docs {
		node.Sync(id)
	}
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// WaitConverged blocks until a sync session with the peer whose id is
// peerID ends with both sides holding the same changes of d, or ctx ends.
func (n *P2P) WaitConverged(ctx context.Context, d *Doc, peerID string) error {
	pid, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("peer id %q: %w", peerID, err)
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		res := n.node.SyncWith(ctx, d.ID(), pid)
		if res.Err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not converged with %s: %w (last attempt: %v)", peerID, ctx.Err(), res.Err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// join puts an open document on the network (at once if the node runs,
// else when it starts).
func (n *P2P) join(a *docActor) (DocNet, error) {
	d := &docNet{n: n, a: a, cache: map[[32]byte]*liveMsg{}}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.docs[a.id]; old != nil {
		return nil, fmt.Errorf("document %s is already on the network", a.id)
	}
	n.docs[a.id] = d
	select {
	case <-n.ready:
		if err := d.start(); err != nil {
			delete(n.docs, a.id)
			return nil, err
		}
	default:
	}
	return d, nil
}

// docNet is one document on the network: the p2p.DocHandler the node
// calls, and the DocNet the document's actor calls.
type docNet struct {
	n *P2P
	a *docActor

	mu    sync.Mutex
	topic *p2p.DocTopic // nil until started
	left  bool
	cache map[[32]byte]*liveMsg // validated messages awaiting Deliver; bounded by maxValidated
	// pushing is set while a catch-up push is scheduled (see pushSoon).
	pushing bool
}

// maxValidated bounds the validated live messages kept for Deliver; when
// full the cache is cleared and Deliver decodes again.
const maxValidated = 1024

// start joins the document's topics. Called with n.mu held, once the node
// runs.
func (d *docNet) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.left || d.topic != nil {
		return nil
	}
	t, err := d.n.node.JoinDoc(d.a.id, d)
	if err != nil {
		return err
	}
	d.topic = t
	select {
	case d.n.poke <- struct{}{}:
	default: // already poked
	}
	return nil
}

func (d *docNet) t() *p2p.DocTopic {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.topic
}

// Publish implements DocNet. A message too large for gossip makes the
// node sync the document with its peers instead.
func (d *docNet) Publish(payload []byte) error {
	t := d.t()
	if t == nil {
		return p2p.ErrNotRunning
	}
	d.n.relaySoon()
	err := t.Publish(context.Background(), payload)
	if errors.Is(err, p2p.ErrTooLarge) {
		d.n.node.Sync(d.a.id)
		return nil
	}
	if len(t.MeshPeers()) == 0 && len(t.Peers()) > 0 {
		// Peers may read the document but gossipsub has not grafted any
		// into our mesh yet (it does so at its next heartbeat), so this
		// message may reach no one: push it by catch-up now.
		d.pushSoon()
	}
	return err
}

// pushSoon syncs the document with its peers in a moment, once for any
// number of calls meanwhile.
func (d *docNet) pushSoon() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pushing {
		return
	}
	d.pushing = true
	time.AfterFunc(20*time.Millisecond, func() {
		d.mu.Lock()
		d.pushing = false
		d.mu.Unlock()
		d.n.node.Sync(d.a.id)
	})
}

// PublishPresence implements DocNet.
func (d *docNet) PublishPresence(payload []byte) error {
	t := d.t()
	if t == nil {
		return p2p.ErrNotRunning
	}
	return t.PublishPresence(context.Background(), payload)
}

// Deauthorize implements DocNet.
func (d *docNet) Deauthorize(k access.Key) {
	pub, err := crypto.UnmarshalEd25519PublicKey(k[:])
	if err != nil {
		return
	}
	pid, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return
	}
	if d.t() != nil {
		d.n.node.Deauthorize(d.a.id, pid)
		go d.refreshStatus() // it no longer counts as a peer of the document
	}
}

// SyncNow implements DocNet.
func (d *docNet) SyncNow() {
	if d.t() != nil {
		d.n.node.Sync(d.a.id)
	}
}

// Leave implements DocNet.
func (d *docNet) Leave() {
	d.mu.Lock()
	d.left = true
	t := d.topic
	d.topic = nil
	d.mu.Unlock()
	if t != nil {
		if err := t.Leave(); err != nil {
			d.a.log.Debug("leave topic", "err", err)
		}
	}
	d.n.mu.Lock()
	if d.n.docs[d.a.id] == d {
		delete(d.n.docs, d.a.id)
	}
	d.n.mu.Unlock()
}

// refreshStatus recomputes the document's peers for its status.
func (d *docNet) refreshStatus() {
	t := d.t()
	if t == nil {
		return
	}
	var ps []PeerSync
	for _, pid := range t.Peers() {
		ps = append(ps, PeerSync{Peer: pid.String(), Via: d.n.node.ConnKind(pid).String()})
	}
	slices.SortFunc(ps, func(a, b PeerSync) int { return strings.Compare(a.Peer, b.Peer) })
	d.a.post(func() {
		for i := range ps {
			if k, err := keyOfPeer(ps[i].Peer); err == nil {
				if pr := d.a.presence.peers[k]; pr != nil {
					ps[i].Name = pr.Name
				}
			}
		}
		d.a.setStatus(func(s *Status) { s.Peers = ps; s.Offline = len(ps) == 0 })
	})
}

func keyOfPeer(id string) (access.Key, error) {
	pid, err := peer.Decode(id)
	if err != nil {
		return access.Key{}, err
	}
	return peerKey(pid)
}

func peerKey(pid peer.ID) (access.Key, error) {
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return access.Key{}, err
	}
	raw, err := pub.Raw()
	if err != nil {
		return access.Key{}, err
	}
	return access.KeyOf(raw)
}

// Vector implements syncproto.Replica.
func (d *docNet) Vector() crdt.Vector {
	var v crdt.Vector
	_ = d.a.do(func() { d.a.seal(); v = d.a.syncVector() })
	return v
}

// syncVector is the version a sync session exchanges: the document's
// vector plus one entry per revocation this replica holds
// (revocationEntry), so that a peer lacking a revocation is behind, and
// gets it, even when it has every change. On the goroutine.
func (a *docActor) syncVector() crdt.Vector {
	v := a.doc.Vector()
	for _, id := range a.access.revocationIDs() {
		v[revocationEntry(id)] = 1
	}
	return v
}

// revocationEntry is the pseudo-author under which a revocation appears in
// a sync vector: a hash, so it never names a real key.
func revocationEntry(id [32]byte) crdt.Author {
	return crdt.Author(sha256.Sum256(append([]byte("quire-revocation-entry\x00"), id[:]...)))
}

// EncodeBatch implements syncproto.Replica: the document's records (every
// capability and revocation it knows) travel with each batch of changes,
// and alone when the peer has every change but lacks a revocation.
func (d *docNet) EncodeBatch(since crdt.Vector, maxBytes int) ([]byte, bool) {
	var (
		data []byte
		more bool
	)
	_ = d.a.do(func() {
		if since.Covers(d.a.syncVector()) {
			return
		}
		recs := d.a.batchRecords()
		cs, m := d.a.doc.EncodeBatch(since, max(maxBytes-len(recs), maxBytes/2))
		data, more = append(recs, cs...), m
	})
	return data, more
}

// ApplyBatch implements syncproto.Replica. Changes that fail their
// signature or capability check are quarantined and dropped; only
// malformed data ends the session.
func (d *docNet) ApplyBatch(from access.Key, data []byte) error {
	var err error
	if e := d.a.do(func() { err = d.a.applyBatch(data) }); e != nil {
		return e
	}
	if err != nil && !errors.Is(err, errWire) && !errors.Is(err, crdt.ErrInvalid) {
		d.a.log.Warn("changes from peer rejected", "peer", access.Fingerprint(from[:]), "err", err)
		return nil
	}
	return err
}

// Proof implements syncproto.Replica.
func (d *docNet) Proof() []byte {
	m := d.a.access
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.own.Encode()
}

// CheckProof implements syncproto.Replica.
func (d *docNet) CheckProof(remote access.Key, proof []byte) error {
	_, err := d.a.access.checkPeer(remote, proof)
	if err == nil {
		// The node admits the peer to the document when the handshake
		// completes, just after this returns: show it in the status then.
		time.AfterFunc(200*time.Millisecond, d.refreshStatus)
		// Tell the newcomer (and everyone) who else may write, so that
		// changes forwarded from authors it never met are admitted.
		proofs, revs := d.a.access.records()
		go func() {
			if err := d.Publish(encodeRecords(proofs, revs)); err != nil {
				d.a.log.Debug("publish records", "err", err)
			}
		}()
	}
	return err
}

// MaySync implements p2p.DocHandler (see membership.maySync).
func (d *docNet) MaySync(remote access.Key) bool { return d.a.access.maySync(remote) }

// Validate implements p2p.DocHandler.
func (d *docNet) Validate(from peer.ID, kind p2p.Kind, payload []byte) p2p.Verdict {
	switch kind {
	case p2p.KindChange:
		m, v, err := d.a.validateLive(payload)
		if err != nil {
			d.a.log.Debug("live message rejected", "from", from, "err", err)
		}
		if v == Accept {
			d.mu.Lock()
			if len(d.cache) >= maxValidated {
				clear(d.cache)
			}
			d.cache[sha256.Sum256(payload)] = m
			d.mu.Unlock()
			return p2p.Accept
		}
		if v == Ignore {
			return p2p.Ignore
		}
		return p2p.Reject
	case p2p.KindPresence:
		if _, err := decodePresence(payload); err != nil {
			return p2p.Reject
		}
		return p2p.Accept
	}
	return p2p.Reject
}

// Deliver implements p2p.DocHandler.
func (d *docNet) Deliver(from peer.ID, kind p2p.Kind, payload []byte) {
	switch kind {
	case p2p.KindChange:
		sum := sha256.Sum256(payload)
		d.mu.Lock()
		m := d.cache[sum]
		delete(d.cache, sum)
		d.mu.Unlock()
		if m == nil {
			var v Verdict
			if m, v, _ = d.a.validateLive(payload); v != Accept {
				return
			}
		}
		d.a.deliverLive(m)
	case p2p.KindPresence:
		m, err := decodePresence(payload)
		if err != nil {
			return
		}
		k, err := peerKey(from)
		if err != nil || k == d.a.p.self {
			return
		}
		d.a.post(func() { d.a.receivePresence(k, m) })
	}
}

// peerBook keeps known peers in the store (store.Peers: peer id ->
// JSON list of multiaddrs).
type peerBook struct {
	db  *store.DB
	log *slog.Logger
}

// maxKnownPeers bounds the peers remembered; beyond it new ones are not
// stored.
const maxKnownPeers = 1024

func (b peerBook) Known() []peer.AddrInfo {
	names, err := b.db.Names(store.Peers)
	if err != nil {
		return nil
	}
	var out []peer.AddrInfo
	for _, name := range names {
		pid, err := peer.Decode(name)
		if err != nil {
			continue
		}
		raw, err := b.db.Get(store.Peers, name)
		if err != nil {
			continue
		}
		var addrs []string
		if json.Unmarshal(raw, &addrs) != nil {
			continue
		}
		info := peer.AddrInfo{ID: pid}
		for _, s := range addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				info.Addrs = append(info.Addrs, a)
			}
		}
		out = append(out, info)
	}
	return out
}

func (b peerBook) Remember(info peer.AddrInfo) {
	names, err := b.db.Names(store.Peers)
	if err != nil || len(names) >= maxKnownPeers && !slices.Contains(names, info.ID.String()) {
		return
	}
	addrs := make([]string, 0, len(info.Addrs))
	for _, a := range info.Addrs {
		addrs = append(addrs, a.String())
	}
	raw, _ := json.Marshal(addrs)
	if err := b.db.Put(store.Peers, info.ID.String(), raw); err != nil {
		b.log.Warn("remember peer", "err", err)
	}
}
