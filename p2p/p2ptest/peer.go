package p2ptest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/p2p"
)

// Loopback are listen addresses on 127.0.0.1 (TCP only: one transport keeps
// benchmarks comparable and tests quick to connect).
var Loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// Peer is a running p2p.Node with one joined document.
type Peer struct {
	Node    *p2p.Node
	Replica *Replica
	Doc     *p2p.DocTopic
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	err     error
}

// StartPeer runs a node with cfg (ListenAddrs default to Loopback) and
// joins r's document with r as handler. setup, if not nil, runs on the
// node before Run (for test hooks).
func StartPeer(cfg p2p.Config, doc crdt.DocID, r *Replica, setup func(*p2p.Node)) (*Peer, error) {
	if cfg.ListenAddrs == nil {
		cfg.ListenAddrs = Loopback
	}
	n, err := p2p.New(cfg)
	if err != nil {
		return nil, err
	}
	if setup != nil {
		setup(n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{Node: n, Replica: r, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-p.done:
		cancel()
		return nil, err
	}
	if p.Doc, err = n.JoinDoc(doc, r); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// Close stops the node and waits for it. Later calls return the first
// call's result.
func (p *Peer) Close() error {
	p.once.Do(func() {
		p.cancel()
		p.err = <-p.done
	})
	return p.err
}

// Connect connects a to b.
func Connect(ctx context.Context, a, b *Peer) error {
	return a.Node.Connect(ctx, b.Node.Addrs()[0].String())
}

// Publish seals the local edit f on p's replica and publishes each sealed
// change.
func (p *Peer) Publish(ctx context.Context, f func(d *crdt.Doc) error) error {
	payloads, err := p.Replica.Edit(f)
	if err != nil {
		return err
	}
	for _, b := range payloads {
		if err := p.Doc.Publish(ctx, b); err != nil {
			return fmt.Errorf("publish from %s: %w", p.Node.ID(), err)
		}
	}
	return nil
}

// ID returns the peer's id.
func (p *Peer) ID() peer.ID { return p.Node.ID() }
