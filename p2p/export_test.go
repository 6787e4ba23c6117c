package p2p

import (
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt"
)

// AuthorizeForTest lets a test admit a hand-made (hostile) pubsub peer to
// a document's topics without a sync session.
func AuthorizeForTest(n *Node, doc crdt.DocID, p peer.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.auth[doc] == nil {
		n.auth[doc] = map[peer.ID]bool{}
	}
	n.auth[doc][p] = true
}

// InspectScoresForTest sends the node's peer scores to f every 100 ms.
// Call it before Run.
func InspectScoresForTest(n *Node, f func(map[peer.ID]float64)) {
	n.testPubSubOpts = append(n.testPubSubOpts, pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(f), 100e6))
}

// AllowPresenceForTest runs the presence rate limit for origin.
func AllowPresenceForTest(n *Node, origin peer.ID) Verdict { return n.allowPresence(origin) }

// FoundOnLANForTest reports info to n as if mDNS had found it.
func FoundOnLANForTest(n *Node, info peer.AddrInfo) { mdnsNotifee{n}.HandlePeerFound(info) }

// OnDialForTest tells f the outcome of each of n's dials. Call it before Run.
func OnDialForTest(n *Node, f func(peer.ID, error)) { n.testDialed = f }

// MessageIDForTest is the gossip message id function, for hand-made
// pubsub peers that must speak the node's message format.
var MessageIDForTest = messageID

// SealPresenceForTest wraps payload in n's signed presence envelope for
// topic.
func SealPresenceForTest(n *Node, topic string, payload []byte) ([]byte, error) {
	return n.sealPresence(topic, payload)
}

// OpenPresenceForTest checks an envelope received on topic and returns
// its origin, sequence and payload.
func OpenPresenceForTest(topic string, b []byte) (peer.ID, uint64, []byte, error) {
	p, err := openPresence(topic, b)
	return p.origin, p.seq, p.payload, err
}

// FreshPresenceForTest records seq as origin's latest presence, reporting
// whether it was newer than the last.
func FreshPresenceForTest(n *Node, origin peer.ID, seq uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.freshPresenceLocked(origin, seq)
}
