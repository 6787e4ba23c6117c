// Package relay is the Quire relay as a library: a libp2p host that offers
// circuit relay v2 to peers that cannot reach each other directly, and later
// a store-and-forward mailbox for encrypted changes, WebRTC signalling and
// metrics. cmd/quire-relay is a thin binary around [Server].
package relay
