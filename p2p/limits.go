package p2p

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	libconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
)

// Limits are the resource-manager and connection-manager numbers of a
// Node. The resource manager uses a fixed limiter built from them: libp2p's
// defaults scaled to MemoryBytes and FileDescriptors, with the numbers
// below overriding them, so the node never scales itself to the machine.
type Limits struct {
	// Conns bounds open connections; ConnsInbound the inbound ones.
	Conns, ConnsInbound int
	// Streams bounds open streams in all; StreamsPerPeer per peer.
	Streams, StreamsPerPeer int
	// ConnsPerPeer bounds the connections to one peer.
	ConnsPerPeer int
	// MemoryBytes bounds the memory libp2p reserves for buffers in all;
	// PeerMemoryBytes per peer.
	MemoryBytes, PeerMemoryBytes int64
	// FileDescriptors bounds sockets and files.
	FileDescriptors int
	// LowWater and HighWater drive the connection manager: past HighWater
	// connections it trims back to LowWater, sparing peers younger than
	// Grace and peers that share a document with us (protected).
	LowWater, HighWater int
	// Grace is how long a new connection is safe from trimming.
	Grace time.Duration
}

// DefaultLimits suit a desktop peer collaborating with tens of devices and
// still leave room for a LAN full of strangers: 256 connections (128
// inbound, 8 per peer), 4096 streams (256 per peer), 256 MiB of buffers
// (32 MiB per peer), 512 file descriptors; the connection manager keeps
// between 64 and 128 connections with a 1 min grace period.
var DefaultLimits = Limits{
	Conns: 256, ConnsInbound: 128, ConnsPerPeer: 8,
	Streams: 4096, StreamsPerPeer: 256,
	MemoryBytes: 256 << 20, PeerMemoryBytes: 32 << 20,
	FileDescriptors: 512,
	LowWater:        64, HighWater: 128, Grace: time.Minute,
}

// build returns the resource manager and the connection manager.
func (l Limits) build() (network.ResourceManager, connmgr.ConnManager, error) {
	if l.Conns <= 0 || l.Streams <= 0 || l.MemoryBytes <= 0 || l.FileDescriptors <= 0 ||
		l.LowWater <= 0 || l.HighWater < l.LowWater || l.ConnsPerPeer <= 0 || l.StreamsPerPeer <= 0 || l.PeerMemoryBytes <= 0 {
		return nil, nil, fmt.Errorf("p2p: invalid limits %+v", l)
	}
	inbound := l.ConnsInbound
	if inbound <= 0 || inbound > l.Conns {
		inbound = l.Conns
	}
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: rcmgr.LimitVal(l.Conns), ConnsInbound: rcmgr.LimitVal(inbound), ConnsOutbound: rcmgr.LimitVal(l.Conns),
			Streams: rcmgr.LimitVal(l.Streams), StreamsInbound: rcmgr.LimitVal(l.Streams), StreamsOutbound: rcmgr.LimitVal(l.Streams),
			FD: rcmgr.LimitVal(l.FileDescriptors), Memory: rcmgr.LimitVal64(l.MemoryBytes),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: rcmgr.LimitVal(l.ConnsPerPeer), ConnsInbound: rcmgr.LimitVal(l.ConnsPerPeer), ConnsOutbound: rcmgr.LimitVal(l.ConnsPerPeer),
			Streams: rcmgr.LimitVal(l.StreamsPerPeer), StreamsInbound: rcmgr.LimitVal(l.StreamsPerPeer), StreamsOutbound: rcmgr.LimitVal(l.StreamsPerPeer),
			Memory: rcmgr.LimitVal64(l.PeerMemoryBytes),
		},
	}
	concrete := partial.Build(rcmgr.DefaultLimits.Scale(l.MemoryBytes, l.FileDescriptors))
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(concrete))
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	cm, err := libconnmgr.NewConnManager(l.LowWater, l.HighWater, libconnmgr.WithGracePeriod(l.Grace))
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	return rm, cm, nil
}

// Backoff bounds the delay before redialling a known peer: the n-th failed
// attempt in a row waits Min·2ⁿ, at most Max, then a random part of that
// (between half and all of it) so peers that lost each other at the same
// time do not redial in lockstep.
type Backoff struct {
	Min, Max time.Duration
}

// Delay returns the wait after attempts failures in a row, given r in
// [0, 1) from the node's seeded source. Any caller may use it.
func (b Backoff) Delay(attempts int, r float64) time.Duration {
	d := b.Min
	for i := 0; i < attempts && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(r*float64(d/2))
}
