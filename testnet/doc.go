// Package testnet runs many Quire peers in one process on a simulated
// network with seeded faults, for tests only.
//
// A Net is go-libp2p's mock network (p2p/net/mock: in-memory connections,
// no sockets) with real app.Peers on it, each on its own data directory.
// Each fault hits a stated layer:
//
//   - partition and heal: mock network links are removed and connections
//     closed (streams break mid-session, as when a cable is pulled), then
//     relinked and reconnected;
//   - crash and restart: the peer's network stops, the app.Peer closes
//     (sealing and storing what was typed), and a new app.Peer opens the
//     same directory with a new host under the same identity;
//   - drop, duplicate, reorder: between the p2p node and the app
//     (p2p.Sim.WrapHandler), per message and receiver. A dropped live
//     change is refused at validation (not applied, not forwarded); a
//     duplicate is delivered twice, and a sync batch applied twice; a
//     reordered message is held back (at most 8 per document) until later
//     ones are delivered. The libp2p streams themselves never lose or
//     reorder bytes, as over TCP or QUIC;
//   - clock skew: a peer's app.Config.Now and p2p.Config.Clock are the
//     wall clock plus an offset that can jump (Peer.SetSkew).
//
// Fault decisions are a pure function of the seed, the receiver and the
// message, so a message meets the same fate whatever the interleaving; the
// interleaving itself (goroutines, timers, the peers' 200 ms catch-up
// period) is real and not replayed exactly, so a seed reproduces a
// scenario, not a schedule.
package testnet
