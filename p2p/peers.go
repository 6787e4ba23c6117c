package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// PeerBook remembers peers across restarts. The app backs it with the
// store; p2p never imports store. Known is read at every reconnection
// round; Remember is called the first time a peer proves a capability on
// a shared document after connecting (so strangers on the LAN are not
// remembered). Both are called from node goroutines and must not block
// for long.
type PeerBook interface {
	Known() []peer.AddrInfo
	Remember(peer.AddrInfo)
}

// ConnKind says how we are connected to a peer.
type ConnKind uint8

// The kinds of connection, from best to worst.
const (
	// NotConnected: no open connection.
	NotConnected ConnKind = iota
	// LAN: found by mDNS, or connected over a private or loopback address.
	LAN
	// Direct: connected over a public address.
	Direct
	// Relayed: only through a circuit relay.
	Relayed
)

func (k ConnKind) String() string {
	return [...]string{"not connected", "lan", "direct", "relayed"}[min(int(k), 3)]
}

// PeerEvent reports a peer connecting or disconnecting.
type PeerEvent struct {
	Peer      peer.ID
	Connected bool
	// Via is how the peer is connected (NotConnected on disconnection).
	Via ConnKind
}

// PeerInfo is a connected peer as Peers reports it.
type PeerInfo struct {
	ID  peer.ID
	Via ConnKind
	// Addrs are the remote addresses of the open connections.
	Addrs []ma.Multiaddr
}

// Events returns the channel of connection events, of capacity
// Config.EventBuffer. When it is full new events are dropped (counted by
// DroppedEvents); Peers always gives the current state, so a consumer that
// falls behind re-reads it.
func (n *Node) Events() <-chan PeerEvent { return n.events }

// DroppedEvents returns how many events were dropped on a full channel.
func (n *Node) DroppedEvents() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.dropped
}

// DroppedRPCs returns how many incoming gossip RPCs were dropped because
// their sender went over GossipConfig.PeerMessageRate.
func (n *Node) DroppedRPCs() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.droppedRPCs
}

func (n *Node) emit(e PeerEvent) {
	select {
	case n.events <- e:
	default:
		n.mu.Lock()
		n.dropped++
		n.mu.Unlock()
	}
}

// Peers returns the connected peers and how each is connected.
func (n *Node) Peers() []PeerInfo {
	if !n.running() {
		return nil
	}
	var out []PeerInfo
	for _, p := range n.host.Network().Peers() {
		info := PeerInfo{ID: p, Via: n.ConnKind(p)}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			info.Addrs = append(info.Addrs, c.RemoteMultiaddr())
		}
		out = append(out, info)
	}
	return out
}

// ConnKind returns the best way we are connected to p.
func (n *Node) ConnKind(p peer.ID) ConnKind {
	if !n.running() {
		return NotConnected
	}
	n.mu.RLock()
	_, lan := n.lan[p]
	n.mu.RUnlock()
	best := NotConnected
	for _, c := range n.host.Network().ConnsToPeer(p) {
		k := n.classify(c.RemoteMultiaddr(), c.Stat().Limited, lan)
		if best == NotConnected || k < best {
			best = k
		}
	}
	return best
}

func (n *Node) classify(a ma.Multiaddr, limited, lan bool) ConnKind {
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil || limited {
		return Relayed
	}
	if lan || manet.IsPrivateAddr(a) || manet.IsIPLoopback(a) {
		return LAN
	}
	return Direct
}

// connNotifee turns network notifications into events and backoff resets.
type connNotifee struct{ n *Node }

func (c connNotifee) Connected(_ network.Network, conn network.Conn) {
	p := conn.RemotePeer()
	c.n.mu.Lock()
	delete(c.n.backoff, p)
	_, lan := c.n.lan[p]
	c.n.mu.Unlock()
	c.n.emit(PeerEvent{Peer: p, Connected: true, Via: c.n.classify(conn.RemoteMultiaddr(), conn.Stat().Limited, lan)})
}

func (c connNotifee) Disconnected(nw network.Network, conn network.Conn) {
	p := conn.RemotePeer()
	if nw.Connectedness(p) == network.Connected {
		return // another connection remains
	}
	c.n.mu.Lock()
	delete(c.n.remembered, p)
	c.n.mu.Unlock()
	c.n.emit(PeerEvent{Peer: p})
}

func (connNotifee) Listen(network.Network, ma.Multiaddr)      {}
func (connNotifee) ListenClose(network.Network, ma.Multiaddr) {}

// redial is the reconnection state of one known peer.
type redial struct {
	failures int
	next     time.Time
}

// reconnectTick is how often the reconnection loop looks at known peers.
const reconnectTick = time.Second

// maxDials bounds the dials the reconnection loop runs at once.
const maxDials = 4

// reconnectLoop redials known peers that are not connected, each when its
// backoff allows, at most maxDials at a time. Known peers are the peer
// book's and those mDNS found on the LAN in the last lanForget: mDNS reports
// a peer once per record lifetime, so a first dial that fails (a peer still
// starting, a loaded machine) would otherwise wait minutes for the next one.
func (n *Node) reconnectLoop() {
	sem := make(chan struct{}, maxDials)
	for {
		var known []peer.AddrInfo
		if n.cfg.PeerBook != nil {
			known = n.cfg.PeerBook.Known()
		}
		known = append(known, n.lanPeers()...)
		for _, info := range known {
			if info.ID == n.id || n.connected(info.ID) || !n.dueForDial(info.ID) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-n.stop:
				return
			}
			if !n.track() {
				return
			}
			go func(info peer.AddrInfo) {
				defer n.wg.Done()
				defer func() { <-sem }()
				n.dial(info)
			}(info)
		}
		select {
		case <-n.stop:
			return
		case <-n.clock.After(reconnectTick):
		}
	}
}

// lanPeer is a peer mDNS found: its addresses and when it was last found.
type lanPeer struct {
	addrs []ma.Multiaddr
	seen  time.Time
}

// lanForget is how long a LAN peer mDNS stopped announcing is still
// redialled: a little over the two-minute lifetime of its mDNS records.
const lanForget = 3 * time.Minute

// lanPeers returns the LAN peers found within lanForget and forgets older
// ones (their ConnKind stays right while connected: the address is
// private or loopback, or the peer is found again).
func (n *Node) lanPeers() []peer.AddrInfo {
	now := n.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(n.lan))
	for id, lp := range n.lan {
		if now.Sub(lp.seen) > lanForget {
			delete(n.lan, id)
			continue
		}
		out = append(out, peer.AddrInfo{ID: id, Addrs: lp.addrs})
	}
	return out
}

// dueForDial reports whether p's backoff has passed.
func (n *Node) dueForDial(p peer.ID) bool {
	now := n.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.backoff[p]
	if r == nil {
		r = &redial{}
		n.backoff[p] = r
	}
	if now.Before(r.next) {
		return false
	}
	r.next = now.Add(n.cfg.Backoff.Max) // until this dial reports
	return true
}

// dial connects to a known peer and updates its backoff.
func (n *Node) dial(info peer.AddrInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	n.mu.RLock()
	_, lan := n.lan[info.ID]
	n.mu.RUnlock()
	if lan {
		// A LAN peer is dialled directly, and when our backoff says: the
		// swarm's own per-address backoff (5 s and growing) would otherwise
		// hold back the redial of a peer that just came up.
		ctx = network.WithForceDirectDial(ctx, "quire: LAN peer")
	}
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := n.host.Connect(ctx, info)
	if n.testDialed != nil {
		defer n.testDialed(info.ID, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.backoff[info.ID]
	if r == nil {
		r = &redial{}
		n.backoff[info.ID] = r
	}
	if err == nil {
		r.failures, r.next = 0, time.Time{}
		return
	}
	n.randMu.Lock()
	x := n.rand.Float64()
	n.randMu.Unlock()
	r.next = n.clock.Now().Add(n.cfg.Backoff.Delay(r.failures, x))
	r.failures++
	n.log.Debug("redial failed", "peer", info.ID, "failures", r.failures, "next", r.next, "err", err)
}

// mdnsNotifee queues peers mDNS finds; the queue holds 32 and drops
// findings beyond (mDNS announces again).
type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID == m.n.id {
		return
	}
	select {
	case m.n.mdnsHit <- info:
	default:
	}
}

// maxLANPeers bounds the set of peers found by mDNS.
const maxLANPeers = 4096

// mdnsLoop connects to the peers mDNS found.
func (n *Node) mdnsLoop() {
	for {
		select {
		case <-n.stop:
			return
		case info := <-n.mdnsHit:
			n.mu.Lock()
			if len(n.lan) >= maxLANPeers {
				clear(n.lan) // a LAN full of strangers: forget them, mDNS finds them again
			}
			n.lan[info.ID] = lanPeer{addrs: info.Addrs, seen: n.clock.Now()}
			n.mu.Unlock()
			if n.connected(info.ID) {
				continue
			}
			n.dial(info)
		}
	}
}
