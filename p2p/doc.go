// Package p2p owns Quire's networking: the libp2p host (Noise, TCP and
// QUIC, fixed resource limits, a connection manager), mDNS discovery,
// reconnection to known peers, gossipsub for live changes and presence, and
// the catch-up sync protocol (whose logic is the sans-I/O state machine in
// p2p/syncproto).
//
// p2p never imports package store: keys come in through Config, known
// peers through the PeerBook interface, and documents through DocHandler,
// all implemented by the app.
//
// # Confidentiality
//
// No peer without a read capability gets a byte of a document. A document
// has two gossipsub topics (changes, presence) named by a hash of its id.
// A peer is admitted to them only after it proved read capability with the
// token it presents in a sync session (DocHandler.CheckProof, with the key
// Noise authenticated); Deauthorize withdraws that. Gossipsub is set up so
// that this admission really gates every message we send:
//
//   - the peer filter (pubsub.WithPeerFilter) answers from the admission
//     table; gossipsub v0.19.0 consults it when it picks mesh or fanout
//     peers (Join, heartbeat, opportunistic grafting), answers a GRAFT,
//     sends IHAVE gossip and answers IWANT;
//   - it does not consult it for flood publishing, for floodsub peers, for
//     direct peers, nor for peers already in the mesh; so flood publishing
//     is off, only mesh-capable gossipsub protocols (v1.1 to v1.3) are
//     spoken, there are no direct peers, and peer exchange is off;
//   - a peer admitted after it announced its subscription (the usual
//     order: subscriptions are announced on connection, before any sync
//     session) is grafted at our next heartbeat (1 s) or when it grafts us;
//     until then catch-up sync is its only source, which is correct;
//   - a peer already in the mesh cannot be removed from one topic through
//     pubsub's API, so Deauthorize closes the connections of a cut-off peer
//     that is in the document's mesh: pubsub drops it from every topic at
//     once, and when it reconnects the filter keeps it out of this
//     document's mesh while its other documents resume.
//
// Before any validation, an RPC that would take its sender over
// GossipConfig.PeerMessageRate messages per second is dropped whole, so a
// flooding peer cannot fill the validation queue ahead of honest messages;
// its invalid messages then graylist it (peer scoring, see scoreParams).
// Incoming messages are validated in this order: size (over the limit:
// reject, which penalises the sender), the relaying peer's admission (cut
// off: reject; not yet admitted: ignore, since admission may be racing the
// end of a sync session), for presence the envelope's signature (reject),
// its freshness (a sequence not above the origin's last: ignore) and the
// origin's rate, then DocHandler.Validate. A message is forwarded only once
// accepted.
//
// Gossip messages have no pubsub-level author or signature and are named
// by a hash of their content: a change is signed by its author inside the
// payload, and presence travels in an envelope signed by the device key
// (presence.go). One ed25519 verification per message instead of two
// halved the CPU of a ten-peer typing session and, with it, the queueing
// that made one delivery in ten wait for gossip's next heartbeat.
//
// # Goroutines
//
// Run owns every goroutine the node starts and returns after they exit:
// the reconnection loop, the periodic sync loop, the mDNS loop, per joined
// document a reader per topic and a watcher of topic joins, and one
// goroutine per sync session. The node's tables (admission, sessions, mesh,
// backoff, rate limits) are small leaf state under one mutex; the
// documents themselves belong to the app.
//
// # Sync scheduling
//
// When a peer announces a joined document's topic, the peer with the
// smaller id opens a sync session; every SyncInterval (±20%) it does so
// again with every peer in the topic, so delivery is reliable although
// gossip is best-effort. At most one session per document and peer runs
// at a time from these triggers, at most 64 in all; a session idle for
// SyncIdleTimeout (a slow reader) is aborted and the next round resumes
// from the acknowledged vectors. A sync asked for while a session with
// that peer runs runs once more after it. Whatever asks for it, a session
// is opened only with a peer the document's handler knows
// (DocHandler.MaySync): the first message names the document and carries
// our proof, and anyone connected can subscribe to a topic hash it saw.
//
// # Bounded queues
//
// Every queue is bounded: gossipsub's outbound queue per peer, validation
// queue and subscription buffers (GossipConfig; full means dropped,
// repaired by catch-up), the event channel (full means dropped, Peers
// gives the state), the mDNS findings queue (32, dropped: mDNS repeats),
// the presence and per-peer rate tables (4096 peers, then cleared), and
// sync frames (syncproto.HelloFrameSize until the other side's proof is
// checked, then syncproto.MaxFrameSize, buffers growing only as bytes
// arrive; one unacknowledged batch per direction; at most 8 sessions per
// peer and 64 in all).
package p2p
