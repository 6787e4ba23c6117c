package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p/syncproto"
)

// GossipConfig tunes live messages. Zero fields take the defaults named
// on each.
type GossipConfig struct {
	// MaxPayload bounds a change message, checked before the validator;
	// 0 means 256 KiB. Larger edits reach peers through catch-up sync.
	MaxPayload int
	// MaxPresence bounds a presence message; 0 means 1 KiB.
	MaxPresence int
	// PresenceRate is how many presence messages per second one origin may
	// send (with a burst of as many); 0 means 20. Excess is rejected.
	PresenceRate int
	// PeerMessageRate bounds the messages per second one peer may send us
	// (its own and relayed, all documents), with a burst of a quarter of
	// that; 0 means 1000. An RPC that would exceed it is dropped whole
	// before validation, so a flooding peer cannot fill the validation
	// queue ahead of honest messages (scoring then graylists it). Typing
	// peers send tens per second; catch-up repairs anything dropped.
	PeerMessageRate int
	// OutboundQueue is each peer's outbound RPC queue; 0 means 4096
	// (libp2p's default of 32 overflows under bursts of typing). When it is
	// full, messages to that peer are dropped and catch-up repairs the gap.
	OutboundQueue int
	// ValidateQueue is the queue of messages awaiting validation; 0 means
	// 4096 (default 32). When full, incoming messages are dropped.
	ValidateQueue int
	// SubscriptionBuffer is each topic subscription's delivery buffer;
	// 0 means 4096 (default 32). When full, deliveries are dropped.
	SubscriptionBuffer int
}

func (g *GossipConfig) fill() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&g.MaxPayload, 256<<10)
	def(&g.MaxPresence, 1<<10)
	def(&g.PresenceRate, 20)
	def(&g.PeerMessageRate, 1000)
	def(&g.OutboundQueue, 4096)
	def(&g.ValidateQueue, 4096)
	def(&g.SubscriptionBuffer, 4096)
	if g.MaxPayload < 0 || g.MaxPayload > maxRPC/2 || g.MaxPresence < 0 || g.PresenceRate < 0 || g.PeerMessageRate < 0 ||
		g.OutboundQueue < 0 || g.ValidateQueue < 0 || g.SubscriptionBuffer < 0 {
		return fmt.Errorf("p2p: invalid gossip config %+v", *g)
	}
	return nil
}

// maxRPC bounds one gossipsub RPC on the wire; larger ones are dropped
// whole by pubsub's reader.
const maxRPC = 1 << 20

// Kind says which topic of a document a message came on.
type Kind uint8

// The kinds of gossip message.
const (
	// KindChange carries the document's signed changes.
	KindChange Kind = iota + 1
	// KindPresence carries ephemeral presence (cursor, selection, name,
	// colour) as bytes the app defines.
	KindPresence
)

func (k Kind) String() string {
	switch k {
	case KindChange:
		return "change"
	case KindPresence:
		return "presence"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Verdict is a DocHandler's decision on a message.
type Verdict uint8

// The verdicts.
const (
	// Accept delivers the message and forwards it to the mesh.
	Accept Verdict = iota
	// Reject drops it and penalises the peer that sent it (peer scoring).
	Reject
	// Ignore drops it without penalty (e.g. a duplicate, or not decidable).
	Ignore
)

// DocHandler is the app's side of a joined document. Validate runs on
// pubsub's validation goroutines, several at once, for every message before
// it is delivered or forwarded; it must not block and must be safe for
// concurrent use. Deliver is called for accepted messages from one
// goroutine per document and kind, in arrival order. The Replica methods
// are called from sync sessions (one goroutine each, several sessions at
// once); see syncproto.Replica.
type DocHandler interface {
	syncproto.Replica
	// Validate decides on a message. For presence, from is its origin,
	// proved by the envelope's signature, and the node has checked that
	// the cursor is newer than the last from that origin and within the
	// origin's rate; for a change, from is the peer that relayed it (a
	// change proves its author by its own signature, which the handler
	// checks). Either way the node has already checked the size and that
	// the relaying peer is authorized on the document.
	Validate(from peer.ID, kind Kind, payload []byte) Verdict
	// Deliver hands over an accepted message from another peer, with from
	// as in Validate.
	Deliver(from peer.ID, kind Kind, payload []byte)
	// MaySync reports whether this node may open a sync session on the
	// document with the device remote. A session's first message names the
	// document and carries our proof (the document id and members' keys),
	// so the node opens sessions only with peers the handler knows, however
	// the session was asked for (a peer joining the topic, the periodic
	// sync, Sync, SyncWith); sessions others open are not affected.
	MaySync(remote access.Key) bool
}

// DocTopic is a joined document: its change and presence topics and its
// handler. Get one from Node.JoinDoc.
type DocTopic struct {
	n       *Node
	id      crdt.DocID
	h       DocHandler
	change  *pubsub.Topic
	pres    *pubsub.Topic
	cancel  context.CancelFunc
	stopped chan struct{} // closed when the reader goroutines have exited
	joined  chan struct{} // closed when JoinDoc's join is over (change, pres, cancel set, or join failed)

	leave    sync.Once // Leave's work, done once
	leaveErr error
}

// isJoined reports whether JoinDoc has finished joining d's topics; a
// DocTopic is in n.docs from the start of JoinDoc, so others skip it until
// then.
func (d *DocTopic) isJoined() bool {
	select {
	case <-d.joined:
		return d.cancel != nil
	default:
		return false
	}
}

// TopicName returns the gossipsub topic of document id's changes (kind
// KindChange) or presence: the hex SHA-256 of a label and the id, so the
// topic does not reveal the document id to those who do not know it.
func TopicName(id crdt.DocID, kind Kind) string {
	h := sha256.New()
	fmt.Fprintf(h, "quire-topic-v1\x00%s\x00", kind)
	h.Write(id[:])
	return "/quire/doc/" + hex.EncodeToString(h.Sum(nil))
}

// Errors of the gossip API.
var (
	// ErrJoined reports JoinDoc for a document already joined.
	ErrJoined = errors.New("p2p: document already joined")
	// ErrTooLarge reports a payload over the configured limit.
	ErrTooLarge = errors.New("p2p: payload too large")
)

// newPubSub starts gossipsub with the node's limits, scoring and filter.
func (n *Node) newPubSub(ctx context.Context, h host.Host, extra ...pubsub.Option) (*pubsub.PubSub, error) {
	g := n.cfg.Gossip
	opts := []pubsub.Option{
		// Only mesh-capable gossipsub versions: floodsub peers would get every
		// message regardless of the peer filter.
		pubsub.WithGossipSubProtocols([]protocol.ID{pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11},
			pubsub.GossipSubDefaultFeatures),
		// Flood publishing sends our own messages to every subscriber without
		// consulting the peer filter; publish to the (filtered) mesh only.
		pubsub.WithFloodPublish(false),
		pubsub.WithPeerExchange(false),
		pubsub.WithPeerFilter(n.peerFilter),
		pubsub.WithPeerScore(scoreParams(), scoreThresholds()),
		pubsub.WithRawTracer(meshTracer{n}),
		pubsub.WithMaxMessageSize(maxRPC),
		pubsub.WithPeerOutboundQueueSize(g.OutboundQueue),
		pubsub.WithValidateQueueSize(g.ValidateQueue),
		// No pubsub author, sequence number or signature; content ids
		// (see presence.go for why and how presence is signed instead).
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithAppSpecificRpcInspector(n.inspectRPC),
	}
	ps, err := pubsub.NewGossipSub(ctx, h, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("p2p: start gossipsub: %w", err)
	}
	return ps, nil
}

// scoreParams are the peer-scoring parameters. Scores matter for
// misbehaviour only: invalid messages (P4) cost 10·count², decaying by 10%
// a second, so three rejected messages reach the graylist and a flood stays
// there for minutes; first deliveries (P2) and time in mesh (P1) earn at
// most +10 and +1. IP colocation is off: every peer in a topic proved a
// capability, and LAN and loopback peers share addresses. Mesh delivery
// quotas (P3) are off: documents are idle most of the time.
func scoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                    map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:          func(peer.ID) float64 { return 0 },
		AppSpecificWeight:         1,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     0.9,
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               10 * time.Minute,
	}
}

func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  100,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    0.5,
		FirstMessageDeliveriesCap:      10,
		InvalidMessageDeliveriesWeight: -10,
		InvalidMessageDeliveriesDecay:  0.9,
	}
}

// scoreThresholds: below -10 no gossip is exchanged, below -50 we do not
// publish to the peer, below -80 (graylist) its RPCs are dropped unread.
func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold: -10, PublishThreshold: -50, GraylistThreshold: -80,
		AcceptPXThreshold: 10, OpportunisticGraftThreshold: 5,
	}
}

// peerFilter is consulted by gossipsub before it adds a peer to a topic's
// mesh or fanout, answers its GRAFT, gossips IHAVE to it or answers its
// IWANT: only peers that proved read capability over a sync session, and
// were not cut off since, qualify.
func (n *Node) peerFilter(p peer.ID, topic string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	d := n.topics[topic]
	return d != nil && n.auth[d.id][p]
}

// JoinDoc subscribes to document id's change and presence topics, with h
// deciding on and receiving every message, and makes the document
// available to sync sessions. Peers get into the topics, and get
// messages, only after a sync session proved their read capability.
func (n *Node) JoinDoc(id crdt.DocID, h DocHandler) (*DocTopic, error) {
	if !n.running() {
		return nil, ErrNotRunning
	}
	if h == nil {
		return nil, errors.New("p2p: JoinDoc with a nil handler")
	}
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return nil, ErrNotRunning
	}
	if _, ok := n.docs[id]; ok {
		n.mu.Unlock()
		return nil, ErrJoined
	}
	d := &DocTopic{n: n, id: id, h: n.simWrap(id, h), stopped: make(chan struct{}), joined: make(chan struct{})}
	n.docs[id] = d
	n.topics[TopicName(id, KindChange)] = d
	n.topics[TopicName(id, KindPresence)] = d
	n.mu.Unlock()
	err := d.join()
	close(d.joined)
	if err != nil {
		n.forget(d)
		return nil, fmt.Errorf("p2p: join %s: %w", id, err)
	}
	return d, nil
}

func (n *Node) forget(d *DocTopic) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.docs, d.id)
	delete(n.topics, TopicName(d.id, KindChange))
	delete(n.topics, TopicName(d.id, KindPresence))
	delete(n.auth, d.id)
}

// join opens both topics and starts their readers.
func (d *DocTopic) join() error {
	n := d.n
	var subs [2]*pubsub.Subscription
	var evts *pubsub.TopicEventHandler
	for i, kind := range []Kind{KindChange, KindPresence} {
		name := TopicName(d.id, kind)
		if err := n.ps.RegisterTopicValidator(name, d.validator(kind), pubsub.WithValidatorInline(true)); err != nil {
			return err
		}
		t, err := n.ps.Join(name)
		if err != nil {
			return err
		}
		if err := t.SetScoreParams(topicScoreParams()); err != nil {
			return err
		}
		if subs[i], err = t.Subscribe(pubsub.WithBufferSize(n.cfg.Gossip.SubscriptionBuffer)); err != nil {
			return err
		}
		if kind == KindChange {
			d.change = t
			if evts, err = t.EventHandler(); err != nil {
				return err
			}
		} else {
			d.pres = t
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	n.wg.Add(3)
	done := make(chan struct{}, 3)
	finish := func() { done <- struct{}{}; n.wg.Done() }
	go func() { defer finish(); d.read(ctx, subs[0], KindChange) }()
	go func() { defer finish(); d.read(ctx, subs[1], KindPresence) }()
	go func() { defer finish(); d.watch(ctx, evts) }()
	go func() {
		for range 3 {
			<-done
		}
		close(d.stopped)
	}()
	return nil
}

// read delivers accepted messages of one kind to the handler.
func (d *DocTopic) read(ctx context.Context, sub *pubsub.Subscription, kind Kind) {
	defer sub.Cancel()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == d.n.id {
			continue // our own publication
		}
		from, payload := m.ReceivedFrom, m.Data
		if kind == KindPresence {
			p, ok := m.ValidatorData.(openedPresence) // what the validator opened and checked
			if !ok {
				continue
			}
			from, payload = p.origin, p.payload
		}
		d.h.Deliver(from, kind, payload)
	}
}

// watch starts a sync session with each peer that announces the document's
// change topic, so a new connection syncs at once.
func (d *DocTopic) watch(ctx context.Context, evts *pubsub.TopicEventHandler) {
	defer evts.Cancel()
	for {
		ev, err := evts.NextPeerEvent(ctx)
		if err != nil {
			return
		}
		if ev.Type == pubsub.PeerJoin && d.n.id < ev.Peer && !d.n.cfg.ManualSync {
			d.n.startSync(d, ev.Peer)
		}
	}
}

// validator returns the topic validator of kind: size first, then the
// relaying peer's authorization, then (presence) the envelope's signature,
// freshness and the origin's rate, then the handler.
func (d *DocTopic) validator(kind Kind) pubsub.ValidatorEx {
	limit := d.n.cfg.Gossip.MaxPayload
	if kind == KindPresence {
		limit = d.n.cfg.Gossip.MaxPresence + presenceHeader
	}
	topic := TopicName(d.id, kind)
	return func(_ context.Context, via peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		n := d.n
		if via == n.id {
			return pubsub.ValidationAccept // our own publication, checked by Publish
		}
		if len(m.Data) > limit || len(m.Data) == 0 {
			return pubsub.ValidationReject
		}
		switch n.standing(d.id, via) {
		case standingRevoked:
			return pubsub.ValidationReject
		case standingUnknown:
			// The peer may have proved its capability to us a moment ago on a
			// session we have not finished checking: drop without penalty.
			return pubsub.ValidationIgnore
		}
		from, payload := via, m.Data
		if kind == KindPresence {
			p, err := openPresence(topic, m.Data)
			if err != nil {
				return pubsub.ValidationReject
			}
			n.mu.Lock()
			fresh := n.freshPresenceLocked(p.origin, p.seq)
			n.mu.Unlock()
			if !fresh {
				return pubsub.ValidationIgnore // replayed, or overtaken by a newer cursor
			}
			if v := n.allowPresence(p.origin); v != Accept {
				return toResult(v)
			}
			from, payload = p.origin, p.payload
			m.ValidatorData = p // for read, which delivers it
		}
		return toResult(d.h.Validate(from, kind, payload))
	}
}

func toResult(v Verdict) pubsub.ValidationResult {
	switch v {
	case Accept:
		return pubsub.ValidationAccept
	case Ignore:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// Publish sends a change payload to the document's authorized peers. It
// returns ErrTooLarge, sending nothing, for a payload over
// GossipConfig.MaxPayload: the app relies on catch-up (Node.Sync) for it.
// Gossip is best effort; periodic sync makes delivery reliable.
func (d *DocTopic) Publish(ctx context.Context, payload []byte) error {
	if len(payload) == 0 || len(payload) > d.n.cfg.Gossip.MaxPayload {
		return fmt.Errorf("p2p: change of %d bytes (limit %d): %w", len(payload), d.n.cfg.Gossip.MaxPayload, ErrTooLarge)
	}
	return d.change.Publish(ctx, payload)
}

// PublishPresence sends a presence payload (at most MaxPresence bytes).
// Peers drop presence from an origin beyond PresenceRate messages per
// second, so the app throttles its own.
func (d *DocTopic) PublishPresence(ctx context.Context, payload []byte) error {
	if len(payload) == 0 || len(payload) > d.n.cfg.Gossip.MaxPresence {
		return fmt.Errorf("p2p: presence of %d bytes (limit %d): %w", len(payload), d.n.cfg.Gossip.MaxPresence, ErrTooLarge)
	}
	env, err := d.n.sealPresence(d.pres.String(), payload)
	if err != nil {
		return err
	}
	return d.pres.Publish(ctx, env)
}

// Peers returns the peers authorized on the document (they proved read
// capability and were not cut off).
func (d *DocTopic) Peers() []peer.ID {
	d.n.mu.RLock()
	defer d.n.mu.RUnlock()
	var ps []peer.ID
	for p, ok := range d.n.auth[d.id] {
		if ok {
			ps = append(ps, p)
		}
	}
	return ps
}

// MeshPeers returns the authorized peers in our gossipsub mesh for the
// document's changes: those our publications go to directly. (A peer
// that Deauthorize cut off may linger in the router's mesh for the
// milliseconds it takes pubsub to notice its closed connection; nothing is
// sent to it meanwhile.)
func (d *DocTopic) MeshPeers() []peer.ID {
	d.n.mu.RLock()
	defer d.n.mu.RUnlock()
	var ps []peer.ID
	for p := range d.n.mesh[TopicName(d.id, KindChange)] {
		if d.n.auth[d.id][p] {
			ps = append(ps, p)
		}
	}
	return ps
}

// Leave unsubscribes from the document, ends its sync sessions and
// forgets its authorizations. It returns once the document's goroutines
// have exited. Later calls (the app's and shutdown's may race) return the
// first call's result.
func (d *DocTopic) Leave() error {
	d.leave.Do(func() { d.leaveErr = d.doLeave() })
	return d.leaveErr
}

func (d *DocTopic) doLeave() error {
	n := d.n
	n.mu.Lock()
	if n.docs[d.id] != d {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	if <-d.joined; d.cancel == nil {
		return nil // the join failed and JoinDoc cleans up
	}
	d.cancel()
	<-d.stopped
	n.endSessions(d.id, "")
	n.forget(d)
	var errs []error
	for _, t := range []*pubsub.Topic{d.change, d.pres} {
		errs = append(errs, t.Close(), n.ps.UnregisterTopicValidator(t.String()))
	}
	return errors.Join(errs...)
}

func (n *Node) leaveAll() {
	n.mu.RLock()
	ds := make([]*DocTopic, 0, len(n.docs))
	for _, d := range n.docs {
		ds = append(ds, d)
	}
	n.mu.RUnlock()
	for _, d := range ds {
		if err := d.Leave(); err != nil {
			n.log.Debug("leave document on shutdown", "doc", d.id, "err", err)
		}
	}
}

type standing uint8

const (
	standingUnknown standing = iota
	standingAuthorized
	standingRevoked
)

func (n *Node) standing(doc crdt.DocID, p peer.ID) standing {
	n.mu.RLock()
	defer n.mu.RUnlock()
	switch {
	case n.auth[doc][p]:
		return standingAuthorized
	case n.revoked[doc][p]:
		return standingRevoked
	}
	return standingUnknown
}

// Deauthorize cuts peer p off document doc at once: p leaves the
// document's gossip (it is no longer offered messages, and its messages are
// rejected and penalised), its sync sessions on doc are reset, and it gets
// back only by proving a capability again in a new sync session (which the
// app's CheckProof refuses once the revocation is known). Gossipsub has no
// call to drop one peer from one topic's mesh, so if p is in our mesh for
// the document, its connections are closed: it reconnects within the
// backoff and keeps its other documents, without this one. The app calls
// Deauthorize on revocation.
func (n *Node) Deauthorize(doc crdt.DocID, p peer.ID) {
	n.mu.Lock()
	delete(n.auth[doc], p)
	if n.revoked[doc] == nil {
		n.revoked[doc] = map[peer.ID]bool{}
	}
	n.revoked[doc][p] = true
	inMesh := n.mesh[TopicName(doc, KindChange)][p] || n.mesh[TopicName(doc, KindPresence)][p]
	n.mu.Unlock()
	n.endSessions(doc, p)
	if inMesh && n.running() {
		if err := n.host.Network().ClosePeer(p); err != nil {
			n.log.Debug("close deauthorized peer", "peer", p, "err", err)
		}
	}
	n.log.Info("peer deauthorized", "doc", doc, "peer", p, "was_in_mesh", inMesh)
}

// authorize records that p proved read capability on doc. It returns
// false if the session that proved it was ended meanwhile (Deauthorize).
func (n *Node) authorize(doc crdt.DocID, p peer.ID, s *session) bool {
	n.mu.Lock()
	if !n.sessions[sessionKey{doc, p}][s] || n.docs[doc] == nil {
		n.mu.Unlock()
		return false
	}
	if n.auth[doc] == nil {
		n.auth[doc] = map[peer.ID]bool{}
	}
	n.auth[doc][p] = true
	delete(n.revoked[doc], p)
	first := !n.remembered[p]
	n.remembered[p] = true
	n.mu.Unlock()
	n.host.ConnManager().Protect(p, "quire-doc")
	if first && n.cfg.PeerBook != nil {
		n.cfg.PeerBook.Remember(peer.AddrInfo{ID: p, Addrs: n.host.Peerstore().Addrs(p)})
	}
	return true
}

// meshTracer keeps n.mesh, our gossipsub mesh per topic, from the router's
// GRAFT and PRUNE events, so Deauthorize knows whether a peer is in it.
type meshTracer struct{ n *Node }

func (t meshTracer) Graft(p peer.ID, topic string) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if t.n.mesh[topic] == nil {
		t.n.mesh[topic] = map[peer.ID]bool{}
	}
	t.n.mesh[topic][p] = true
	t.n.meshChangedLocked()
}

func (t meshTracer) Prune(p peer.ID, topic string) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	delete(t.n.mesh[topic], p)
	t.n.meshChangedLocked()
}

// meshChangedLocked wakes WaitMesh callers; n.mu is held.
func (n *Node) meshChangedLocked() {
	close(n.meshCh)
	n.meshCh = make(chan struct{})
}

// WaitMesh waits until at least want peers are in our gossipsub mesh for
// both of the document's topics (changes and presence), or ctx ends. Tools
// and tests use it to know live gossip has started; the app need not
// (catch-up covers the gap).
func (d *DocTopic) WaitMesh(ctx context.Context, want int) error {
	for {
		d.n.mu.RLock()
		have := min(len(d.n.mesh[TopicName(d.id, KindChange)]), len(d.n.mesh[TopicName(d.id, KindPresence)]))
		ch := d.n.meshCh
		d.n.mu.RUnlock()
		if have >= want {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("p2p: %d of %d mesh peers: %w", have, want, ctx.Err())
		}
	}
}

// OnClosedOutboundStream: pubsub lost the peer; it is out of every mesh.
func (t meshTracer) OnClosedOutboundStream(p peer.ID) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	for _, m := range t.n.mesh {
		delete(m, p)
	}
	t.n.meshChangedLocked()
}

func (t meshTracer) Leave(topic string) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	delete(t.n.mesh, topic)
	t.n.meshChangedLocked()
}

func (meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (meshTracer) Join(string)                                          {}
func (meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (meshTracer) ThrottlePeer(peer.ID)                                 {}
func (meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

// bucket is a token bucket: tokens refill at rate per second up to rate,
// and may go into debt down to -2·rate.
type bucket struct {
	tokens float64
	last   time.Time
}

// refill returns key's bucket in table, created full (burst tokens) if
// absent, with the tokens earned at rate per second since its last use,
// up to burst. A table at limit entries is cleared first (every key then
// starts full). Called with n.mu held.
func refill[K comparable](table map[K]*bucket, key K, limit int, now time.Time, rate, burst float64) *bucket {
	b := table[key]
	if b == nil {
		if len(table) >= limit {
			clear(table)
		}
		b = &bucket{tokens: burst, last: now}
		table[key] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	return b
}

// maxPresenceOrigins bounds the per-origin presence tables (rate buckets
// and last sequences); when one is full it is cleared (every origin then
// starts with a full bucket and no last sequence).
const maxPresenceOrigins = 4096

// allowPresence takes a token from origin's bucket. With tokens left it
// accepts; the first second's worth of excess is ignored (an honest
// burst, dropped without penalty); beyond that, excess is rejected, which
// penalises the relaying peer.
func (n *Node) allowPresence(origin peer.ID) Verdict {
	now := n.clock.Now()
	rate := float64(n.cfg.Gossip.PresenceRate)
	n.mu.Lock()
	defer n.mu.Unlock()
	b := refill(n.presence, origin, maxPresenceOrigins, now, rate, rate)
	take := b.tokens >= 1
	b.tokens = max(b.tokens-1, -2*rate)
	switch {
	case take:
		return Accept
	case b.tokens > -rate:
		return Ignore
	}
	return Reject
}

// maxRateTable bounds the per-peer message rate table; when it is full it
// is cleared (every peer starts with a full bucket).
const maxRateTable = 4096

// inspectRPC runs on pubsub's event loop for every incoming RPC, before
// its messages are queued for validation: it drops the RPC if it would
// take its sender over GossipConfig.PeerMessageRate.
func (n *Node) inspectRPC(from peer.ID, rpc *pubsub.RPC) error {
	msgs := len(rpc.GetPublish())
	if msgs == 0 {
		return nil
	}
	now := n.clock.Now()
	rate := float64(n.cfg.Gossip.PeerMessageRate)
	burst := max(rate/4, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	b := refill(n.peerRate, from, maxRateTable, now, rate, burst)
	if b.tokens < float64(msgs) {
		n.droppedRPCs++
		return errRateExceeded
	}
	b.tokens -= float64(msgs)
	return nil
}

var errRateExceeded = errors.New("p2p: peer over its message rate")
