package p2p

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt/access"
)

// Gossip messages carry no pubsub author, sequence number or signature
// (pubsub.WithNoAuthor): a change message is signed by its author inside
// the payload and checked by the app, so a second, pubsub-level signature
// would only double the ed25519 work per message (it was half the CPU of a
// ten-peer typing session). Message ids are content hashes (messageID), so
// the same bytes relayed by any path are one message.
//
// Presence has no signature of its own in the app's payload, so the node
// wraps it in an envelope signed with the device key:
//
//	version (1) | origin public key (32) | sequence (8, big-endian) |
//	signature (64) | payload
//
// The signature covers a label, the topic, the sequence and the payload,
// so an envelope cannot be moved to another document. Sequences increase
// per origin (nanoseconds of the sender's clock at publication, and
// strictly increasing within a run); a receiver drops an envelope whose
// sequence is not above the last it accepted from that origin, so a
// replayed or overtaken cursor never replaces a newer one.

const (
	presenceEnvelopeVersion = 1
	presenceHeader          = 1 + ed25519.PublicKeySize + 8 + ed25519.SignatureSize
)

// errPresenceEnvelope reports a malformed or forged presence envelope.
var errPresenceEnvelope = errors.New("p2p: bad presence envelope")

// messageID is a gossip message's id: the first 20 bytes of the SHA-256
// of its data.
func messageID(m *pb.Message) string {
	sum := sha256.Sum256(m.GetData())
	return string(sum[:20])
}

// presenceSigned is what a presence envelope's signature covers.
func presenceSigned(topic string, seq uint64, payload []byte) []byte {
	b := make([]byte, 0, 32+len(topic)+8+len(payload))
	b = append(b, "quire-presence-v1\x00"...)
	b = append(b, topic...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, payload...)
}

// sealPresence wraps payload in an envelope signed by the node.
func (n *Node) sealPresence(topic string, payload []byte) ([]byte, error) {
	seq := n.nextPresenceSeq()
	sig, err := n.key.Sign(presenceSigned(topic, seq, payload))
	if err != nil {
		return nil, fmt.Errorf("p2p: sign presence: %w", err)
	}
	pub, err := n.key.GetPublic().Raw()
	if err != nil {
		return nil, fmt.Errorf("p2p: presence key: %w", err)
	}
	b := make([]byte, 0, presenceHeader+len(payload))
	b = append(b, presenceEnvelopeVersion)
	b = append(b, pub...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, sig...)
	return append(b, payload...), nil
}

// nextPresenceSeq returns a sequence above every one this node used.
func (n *Node) nextPresenceSeq() uint64 {
	now := uint64(n.clock.Now().UnixNano())
	n.mu.Lock()
	defer n.mu.Unlock()
	n.presenceSeq = max(n.presenceSeq+1, now)
	return n.presenceSeq
}

// openedPresence is a presence envelope's content.
type openedPresence struct {
	origin  peer.ID
	seq     uint64
	payload []byte
}

// openPresence checks an envelope received on topic and returns its
// verified origin.
func openPresence(topic string, b []byte) (openedPresence, error) {
	if len(b) < presenceHeader {
		return openedPresence{}, fmt.Errorf("%w: %d bytes, header is %d", errPresenceEnvelope, len(b), presenceHeader)
	}
	if b[0] != presenceEnvelopeVersion {
		return openedPresence{}, fmt.Errorf("%w: version %d", errPresenceEnvelope, b[0])
	}
	pub := ed25519.PublicKey(b[1 : 1+ed25519.PublicKeySize])
	seq := binary.BigEndian.Uint64(b[1+ed25519.PublicKeySize:])
	sig, payload := b[1+ed25519.PublicKeySize+8:presenceHeader], b[presenceHeader:]
	if len(payload) == 0 {
		return openedPresence{}, fmt.Errorf("%w: empty payload", errPresenceEnvelope)
	}
	if !access.VerifySignature(access.Key(pub), presenceSigned(topic, seq, payload), sig) { // the one rule for every signature
		return openedPresence{}, fmt.Errorf("%w: signature does not verify", errPresenceEnvelope)
	}
	origin, err := originOf(pub)
	if err != nil {
		return openedPresence{}, err
	}
	return openedPresence{origin: origin, seq: seq, payload: payload}, nil
}

// originOf returns the peer id of an ed25519 public key.
func originOf(pub ed25519.PublicKey) (peer.ID, error) {
	k, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errPresenceEnvelope, err)
	}
	return peer.IDFromPublicKey(k)
}

// freshPresenceLocked records seq as origin's latest presence and reports
// whether it is newer than the last one accepted. Called with n.mu held.
func (n *Node) freshPresenceLocked(origin peer.ID, seq uint64) bool {
	if last, ok := n.presenceLast[origin]; ok && seq <= last {
		return false
	}
	if len(n.presenceLast) >= maxPresenceOrigins {
		clear(n.presenceLast)
	}
	n.presenceLast[origin] = seq
	return true
}
