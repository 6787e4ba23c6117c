// Package testnet will run many Quire peers and relays in one process on
// simulated networks with seeded faults (drop, duplicate, reorder,
// partition, crash, clock skew), and drive real multi-process runs on
// loopback. Only tests import it.
package testnet
