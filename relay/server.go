package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quire-dev/quire/p2p"
)

// DefaultListenAddrs are the public addresses quire-relay listens on unless
// told otherwise: TCP and QUIC on port 4001 on every IPv4 interface.
var DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// Config configures a Server.
type Config struct {
	// ListenAddrs are the multiaddrs to listen on. Required: a relay is
	// meant to be reachable, so there is no silent default; the binary
	// passes DefaultListenAddrs.
	ListenAddrs []string
	// PrivateKey is the relay's long-lived identity (required), so that its
	// peer id and therefore its addresses stay the same across restarts.
	PrivateKey ed25519.PrivateKey
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Server is a Quire relay: a libp2p node offering circuit relay v2 to Quire
// peers. New validates its configuration and starts nothing; Run serves.
type Server struct {
	node *p2p.Node
	log  *slog.Logger
}

// New checks cfg and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if len(cfg.ListenAddrs) == 0 {
		return nil, errors.New("relay: no listen addresses")
	}
	if cfg.PrivateKey == nil {
		return nil, errors.New("relay: no identity key")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	node, err := p2p.New(p2p.Config{
		ListenAddrs:  cfg.ListenAddrs,
		PrivateKey:   cfg.PrivateKey,
		Logger:       log,
		RelayService: true,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &Server{node: node, log: log}, nil
}

// ID returns the relay's peer id. Any goroutine may call it at any time.
func (s *Server) ID() peer.ID { return s.node.ID() }

// Ready returns a channel closed once the relay is listening. If Run fails
// to start, Ready stays open: wait on Run's result too.
func (s *Server) Ready() <-chan struct{} { return s.node.Ready() }

// Addrs returns the relay's full addresses (with /p2p/ID) once Ready is
// closed, and nil before.
func (s *Server) Addrs() []ma.Multiaddr { return s.node.Addrs() }

// Run serves until ctx is cancelled, then shuts down and returns after all
// of the relay's goroutines have stopped.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("relay starting", "peer", s.node.ID())
	if err := s.node.Run(ctx); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	s.log.Info("relay stopped")
	return nil
}
