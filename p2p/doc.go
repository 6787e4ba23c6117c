// Package p2p owns Quire's networking: the libp2p host (Noise, TCP and QUIC),
// and later mDNS discovery, gossipsub, sync streams, the circuit relay
// client and pion WebRTC data channels.
//
// p2p never imports package store: keys and peers come in through Config,
// so the networking can be tested without a database.
package p2p
