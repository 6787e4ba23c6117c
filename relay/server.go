package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/mailproto"
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
	// DataDir, if not empty, is where the relay keeps its mailbox (a
	// Badger database in DataDir/mailbox): members of a document store its
	// encrypted changes there for members that are offline. Empty means
	// circuit relay only.
	DataDir string
	// Mailbox tunes the mailbox; the zero value means the defaults.
	Mailbox MailboxConfig
	// Now is the relay's clock, at which capabilities and retention are
	// checked; nil means time.Now.
	Now func() time.Time
}

// Server is a Quire relay: a libp2p node offering circuit relay v2 to Quire
// peers and, with a data directory, a mailbox of encrypted changes. New
// validates its configuration and starts nothing; Run serves.
type Server struct {
	cfg  Config
	node *p2p.Node
	log  *slog.Logger

	mu sync.RWMutex
	mb *mailbox // open while Run serves, if cfg.DataDir is set
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: log}
	pcfg := p2p.Config{
		ListenAddrs:  cfg.ListenAddrs,
		PrivateKey:   cfg.PrivateKey,
		Logger:       log,
		RelayService: true,
	}
	if cfg.DataDir != "" {
		pcfg.Mailbox = s
	}
	node, err := p2p.New(pcfg)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	s.node = node
	return s, nil
}

// sweepEvery is how often the mailbox drops expired boxes and forgets
// unused mailboxes.
const sweepEvery = time.Hour

// sweepLoop sweeps the mailbox every sweepEvery until ctx ends.
func (s *Server) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.RLock()
		if s.mb != nil {
			if _, err := s.mb.sweep(); err != nil {
				s.log.Error("mailbox sweep", "err", err)
			}
		}
		s.mu.RUnlock()
	}
}

// Serve decides one mailbox request (p2p.Mailbox); the node calls it.
func (s *Server) Serve(from access.Key, req mailproto.Request) mailproto.Response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mb == nil {
		return mailproto.Refuse(mailproto.CodeInternal, "mailbox closed")
	}
	return s.mb.Serve(from, req)
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
	if s.cfg.DataDir != "" {
		mb, err := openMailbox(filepath.Join(s.cfg.DataDir, "mailbox"), access.PublicKeyOf(s.cfg.PrivateKey), s.cfg.Mailbox, s.cfg.Now, s.log)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.mb = mb
		s.mu.Unlock()
	}
	var swept chan struct{}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	if s.cfg.DataDir != "" {
		swept = make(chan struct{})
		go func() {
			defer close(swept)
			s.sweepLoop(sweepCtx)
		}()
	}
	err := s.node.Run(ctx)
	stopSweep() // also when the node failed to start and ctx lives on
	if s.cfg.DataDir != "" {
		<-swept
		s.mu.Lock()
		cerr := s.mb.close()
		s.mb = nil
		s.mu.Unlock()
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("close mailbox: %w", cerr))
		}
	}
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	s.log.Info("relay stopped")
	return nil
}
