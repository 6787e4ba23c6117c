// Package app is the composition root of one Quire peer: crdt documents,
// the Badger store and the libp2p network, behind an API in positions and
// strings that the desktop editor (package ui) and quirectl share. It never
// imports Fyne.
//
// # Ownership
//
// A [Peer] owns one data directory: the device identity key, the store, and
// (with [Config.Network]) a [P2P] network. Each open document has exactly one
// goroutine (its actor) that owns its crdt.Doc; every read and edit runs on
// it, in order. [Doc] handles are cheap and shared; the actor stops when the
// last handle closes, sealing and storing what was typed.
//
// # Local edits
//
// Doc.Edit applies at once. The open change is sealed, signed, stored (fsync,
// group commit) and only then published: persisted before published, so no
// peer ever holds an edit this device could lose. Sealing uses a token bucket
// (Config.SealDelay): at typing speed every keystroke goes out at once; faster
// bursts ride together, so signatures stay bounded.
//
// # Remote changes
//
// Live messages are validated on the network's goroutines before they are
// applied or forwarded: size, encoding, hash, the author's signature and
// capability. Catch-up batches are checked the same way by crdt (signature
// coverage) with app's admission hook (capability). Rejected changes are
// quarantined with the reason ([Peer.Quarantined]). Accepted ones are applied
// on the actor, stored, and reported to subscribers as [Event]s.
//
// # Capabilities
//
// Each document has a root key (its creator) and each device a proof token
// (see crdt/access). Changes are admitted without a clock: a proof admits its
// audience's changes if its chain is valid at its own start and no effective
// revocation cuts it. Revocations travel as cuts (type cut): a revocation
// signed together with the revoker's heads, which places it in the history;
// the rule that decides a revoked author's changes against it is documented
// there. Lifetimes are enforced where a clock means something: when a peer
// proves read access over a connection, and when this device edits.
//
// # Bounds
//
// Every queue is bounded and says what happens when full: the actor's request
// queue (callers block), subscriber queues (a lagging subscriber gets
// EventResync), the validated-message cache, presence (TTL and a per-document
// cap), the quarantine (per document), the peer book.
package app
