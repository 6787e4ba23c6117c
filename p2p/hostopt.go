package p2p

import (
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/quire-dev/quire/crdt"
)

// Sim lets a simulator (package testnet) run a Node on a network it
// controls. The zero value means a real libp2p host and no interposition.
// Nothing but simulations sets it.
type Sim struct {
	// NewHost, if set, builds the node's host for its identity instead of
	// a TCP/QUIC libp2p host (e.g. on go-libp2p's mock network). The node
	// closes the host when Run returns. ListenAddrs, Limits and NATPortMap
	// are then unused.
	NewHost func(key crypto.PrivKey) (host.Host, error)
	// WrapHandler, if set, is applied to every handler passed to JoinDoc,
	// so the simulator sees (and may drop, repeat or delay) every live
	// message and sync batch between the node and the app.
	WrapHandler func(doc crdt.DocID, h DocHandler) DocHandler
}

// newHost builds the node's host: Sim.NewHost's, or a real one with opts
// (which carry rm and cm).
func (n *Node) newHost(opts []libp2p.Option, rm network.ResourceManager, cm connmgr.ConnManager) (host.Host, error) {
	if n.cfg.Sim.NewHost == nil {
		return libp2p.New(opts...)
	}
	rm.Close()
	cm.Close()
	return n.cfg.Sim.NewHost(n.key)
}

// simWrap applies Sim.WrapHandler, if any, to a joined document's handler.
func (n *Node) simWrap(id crdt.DocID, h DocHandler) DocHandler {
	if n.cfg.Sim.WrapHandler == nil {
		return h
	}
	return n.cfg.Sim.WrapHandler(id, h)
}
