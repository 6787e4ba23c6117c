package app

import (
	"context"

	"github.com/quire-dev/quire/crdt/access"
)

// Network connects a peer's open documents to other peers. NewNetwork
// returns the libp2p one; nil in Config means offline.
type Network interface {
	// Run runs the network for peer p until ctx ends.
	Run(ctx context.Context, p *Peer) error
	// join puts an open document on the network.
	join(a *docActor) (DocNet, error)
}

// DocNet is one open document's presence on the network. Its methods are
// called from the document's goroutine.
type DocNet interface {
	// Publish sends a live message to the document's peers.
	Publish(payload []byte) error
	// PublishPresence sends a presence message.
	PublishPresence(payload []byte) error
	// Deauthorize cuts a key off the document at once.
	Deauthorize(k access.Key)
	// SyncNow starts catch-up with every peer sharing the document.
	SyncNow()
	// Leave takes the document off the network.
	Leave()
}
