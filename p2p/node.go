package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// DefaultListenAddrs are the addresses a Node listens on when
// Config.ListenAddrs is empty: one ephemeral TCP and one QUIC port on
// loopback, so that a forgotten setting never exposes a peer to the network.
var DefaultListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// Config configures a Node. The zero value is a loopback-only peer with a
// fresh identity.
type Config struct {
	// ListenAddrs are multiaddrs to listen on; empty means DefaultListenAddrs.
	ListenAddrs []string
	// PrivateKey is the device identity; its public key is the peer id.
	// Nil means a new random key, for tests and throwaway peers.
	PrivateKey ed25519.PrivateKey
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// RelayService makes the node a circuit relay v2 server as soon as it
	// listens, without waiting for reachability detection.
	RelayService bool
}

// Node is one libp2p host: TCP and QUIC transports, Noise security, no
// NAT port mapping. New validates the configuration and starts nothing;
// Run opens the host and keeps it until its context is cancelled.
type Node struct {
	cfg   Config
	log   *slog.Logger
	key   crypto.PrivKey
	id    peer.ID
	addrs []ma.Multiaddr
	ready chan struct{} // closed by Run once host is listening
	host  host.Host     // set before ready is closed
}

// New checks cfg and returns a Node that is not yet listening.
func New(cfg Config) (*Node, error) {
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = DefaultListenAddrs
	}
	addrs := make([]ma.Multiaddr, 0, len(cfg.ListenAddrs))
	for _, s := range cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: listen address %q: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	if cfg.PrivateKey == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("p2p: generate key: %w", err)
		}
		cfg.PrivateKey = k
	}
	if len(cfg.PrivateKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("p2p: private key has %d bytes, want %d", len(cfg.PrivateKey), ed25519.PrivateKeySize)
	}
	key, err := crypto.UnmarshalEd25519PrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("p2p: private key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer id: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{cfg: cfg, log: log, key: key, id: id, addrs: addrs, ready: make(chan struct{})}, nil
}

// ID returns the node's peer id, derived from its key. Any goroutine may
// call it at any time.
func (n *Node) ID() peer.ID { return n.id }

// Ready returns a channel closed once Run has opened the host and it is
// listening. If Run fails to start it returns an error and Ready stays open,
// so callers wait on both.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Host returns the libp2p host once Ready is closed, and nil before.
func (n *Node) Host() host.Host {
	select {
	case <-n.ready:
		return n.host
	default:
		return nil
	}
}

// Addrs returns the node's full addresses (listen address plus /p2p/ID),
// ready to give to other peers, or nil before Ready is closed.
func (n *Node) Addrs() []ma.Multiaddr {
	h := n.Host()
	if h == nil {
		return nil
	}
	full, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	if err != nil { // only for an empty ID, which a running host never has
		panic(fmt.Sprintf("p2p: addresses of running host: %v", err))
	}
	return full
}

// Run opens the host, listens, and serves until ctx is cancelled, then
// closes the host and returns. It may be called once.
func (n *Node) Run(ctx context.Context) error {
	h, err := libp2p.New(
		libp2p.Identity(n.key),
		libp2p.ListenAddrs(n.addrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
	)
	if err != nil {
		return fmt.Errorf("p2p: start host: %w", err)
	}
	var svc *relay.Relay
	if n.cfg.RelayService {
		if svc, err = relay.New(h); err != nil {
			return errors.Join(fmt.Errorf("p2p: start relay service: %w", err), h.Close())
		}
	}
	n.host = h
	close(n.ready)
	n.log.Info("p2p node listening", "peer", h.ID(), "addrs", h.Addrs(), "relay_service", svc != nil)

	<-ctx.Done()
	var errs []error
	if svc != nil {
		errs = append(errs, svc.Close())
	}
	errs = append(errs, h.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("p2p: close host: %w", err)
	}
	n.log.Debug("p2p node closed", "peer", h.ID())
	return nil
}
