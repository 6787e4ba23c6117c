package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/p2p/mailproto"
	"github.com/quire-dev/quire/p2p/syncproto"
)

// DefaultListenAddrs are the addresses a Node listens on when
// Config.ListenAddrs is empty: one ephemeral TCP and one QUIC port on
// loopback, so that a forgotten setting never exposes a peer to the network.
var DefaultListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// DesktopListenAddrs are the addresses a desktop peer listens on: every
// interface, IPv4 and IPv6, on ephemeral TCP and QUIC ports. The app passes
// them in Config.ListenAddrs.
var DesktopListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip6/::/tcp/0", "/ip6/::/udp/0/quic-v1",
}

// DefaultMDNSService is the mDNS service name Quire peers announce.
const DefaultMDNSService = "quire"

// Clock is the time source of a Node's timers (reconnection backoff,
// periodic sync, presence rate limits). Tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures a Node. The zero value is a loopback-only peer with a
// fresh identity, no mDNS and no peer book.
type Config struct {
	// ListenAddrs are multiaddrs to listen on; empty means DefaultListenAddrs.
	// A desktop peer passes DesktopListenAddrs.
	ListenAddrs []string
	// PrivateKey is the device identity (the same key as the device's crdt
	// author key); its public key is the peer id. Nil means a new random
	// key, for tests and throwaway peers.
	PrivateKey ed25519.PrivateKey
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// RelayService makes the node a circuit relay v2 server as soon as it
	// listens, without waiting for reachability detection.
	RelayService bool
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP). Off by
	// default: tests and LANs need none.
	NATPortMap bool
	// MDNS announces the node on the LAN and connects to the Quire peers
	// it finds there.
	MDNS bool
	// MDNSService is the mDNS service name; empty means DefaultMDNSService.
	MDNSService string
	// PeerBook remembers peers across restarts; the node redials the peers it
	// knows with jittered exponential backoff. Nil means none.
	PeerBook PeerBook
	// Limits bounds connections, streams and memory; the zero value means
	// DefaultLimits.
	Limits Limits
	// Gossip tunes live messages; the zero value means the defaults
	// documented on GossipConfig.
	Gossip GossipConfig
	// SyncInterval is how often every joined document is synced with each
	// peer in its topic, jittered by ±20%; 0 means 30 s.
	SyncInterval time.Duration
	// ManualSync turns off the sessions the node starts by itself (on a
	// peer joining a topic, and periodically): only SyncWith and Sync run
	// them. For tools and benchmarks that measure one session.
	ManualSync bool
	// SyncIdleTimeout aborts a sync session whose peer neither sends nor
	// reads for this long (a slow reader); the next periodic sync resumes
	// it. 0 means 20 s.
	SyncIdleTimeout time.Duration
	// Backoff bounds reconnection delays; the zero value means 1 s to 5 min.
	Backoff Backoff
	// Clock is the time source; nil means the wall clock.
	Clock Clock
	// Seed seeds the node's jitter (backoff, sync interval); 0 means a
	// random seed.
	Seed uint64
	// EventBuffer is the capacity of the Events channel; 0 means 256.
	EventBuffer int
	// Sim runs the node on a simulated network (tests only; see Sim).
	Sim Sim
	// Mailbox, if not nil, serves relay mailbox requests
	// (mailproto.ProtocolID), at most 32 at once; a relay sets it.
	Mailbox Mailbox
}

// Node is one libp2p host: TCP and QUIC transports, Noise security, bounded
// resources, gossipsub for live changes and presence, the sync protocol
// for catch-up, optional mDNS, and reconnection to known peers. New
// validates the configuration and starts nothing; Run opens the host and
// keeps it until its context is cancelled. Every method is safe for
// concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	key   crypto.PrivKey
	id    peer.ID
	addrs []ma.Multiaddr
	clock Clock

	ready chan struct{} // closed by Run once host, ps are set
	host  host.Host
	ps    *pubsub.PubSub
	stop  chan struct{} // closed when Run begins shutting down
	wg    sync.WaitGroup

	events       chan PeerEvent
	mailboxSlots chan struct{}      // a token per mailbox request being served
	mdnsHit      chan peer.AddrInfo // bounded; full means the finding is dropped (mDNS repeats)

	randMu sync.Mutex
	rand   *mrand.Rand

	// lifeMu serialises JoinDoc with shutdown, so that every document joined
	// before shutdown is left by it and none is joined after.
	lifeMu sync.Mutex

	mu           sync.RWMutex
	closing      bool // Run is shutting down: start no goroutine
	docs         map[crdt.DocID]*DocTopic
	topics       map[string]*DocTopic             // topic name -> doc
	auth         map[crdt.DocID]map[peer.ID]bool  // peers that proved read, per doc
	revoked      map[crdt.DocID]map[peer.ID]bool  // peers cut off by Deauthorize
	sessions     map[sessionKey]map[*session]bool // running sync sessions
	syncAgain    map[sessionKey]bool              // sessions asked for while one ran; at most one key per running session
	mesh         map[string]map[peer.ID]bool      // our gossipsub mesh, per topic
	meshCh       chan struct{}                    // closed and replaced when the mesh changes
	lan          map[peer.ID]lanPeer              // peers found by mDNS (bounded by maxLANPeers)
	remembered   map[peer.ID]bool                 // told to the PeerBook since they connected
	backoff      map[peer.ID]*redial              // reconnection state of known peers
	presence     map[peer.ID]*bucket              // presence rate limits, by origin
	presenceLast map[peer.ID]uint64               // last presence sequence accepted, by origin
	presenceSeq  uint64                           // last presence sequence this node sent
	peerRate     map[peer.ID]*bucket              // message rate limits, by sending peer
	droppedRPCs  uint64                           // RPCs dropped by the rate limit
	dropped      uint64                           // events dropped on a full channel

	testPubSubOpts []pubsub.Option      // extra options, set by tests only
	testDialed     func(peer.ID, error) // told each dial's outcome, set by tests only
}

// ErrNotRunning reports a call that needs Run to have started the host.
var ErrNotRunning = errors.New("p2p: node not running")

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
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	return &Node{
		cfg: cfg, log: log, key: key, id: id, addrs: addrs, clock: cfg.Clock,
		ready: make(chan struct{}), stop: make(chan struct{}),
		events: make(chan PeerEvent, cfg.EventBuffer), mdnsHit: make(chan peer.AddrInfo, 32),
		rand: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		docs: map[crdt.DocID]*DocTopic{}, topics: map[string]*DocTopic{},
		auth: map[crdt.DocID]map[peer.ID]bool{}, revoked: map[crdt.DocID]map[peer.ID]bool{},
		sessions: map[sessionKey]map[*session]bool{}, syncAgain: map[sessionKey]bool{}, mesh: map[string]map[peer.ID]bool{}, meshCh: make(chan struct{}),
		lan: map[peer.ID]lanPeer{}, remembered: map[peer.ID]bool{}, backoff: map[peer.ID]*redial{},
		presence: map[peer.ID]*bucket{}, presenceLast: map[peer.ID]uint64{}, peerRate: map[peer.ID]*bucket{},
	}, nil
}

// fill replaces zero values by defaults and checks the rest.
func (cfg *Config) fill() error {
	if cfg.MDNSService == "" {
		cfg.MDNSService = DefaultMDNSService
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if err := cfg.Gossip.fill(); err != nil {
		return err
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 30 * time.Second
	}
	if cfg.SyncIdleTimeout == 0 {
		cfg.SyncIdleTimeout = 20 * time.Second
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = Backoff{Min: time.Second, Max: 5 * time.Minute}
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = 256
	}
	switch {
	case cfg.SyncInterval < 0 || cfg.SyncIdleTimeout < 0 || cfg.EventBuffer < 0:
		return errors.New("p2p: negative interval, timeout or buffer in config")
	case cfg.Backoff.Min <= 0 || cfg.Backoff.Max < cfg.Backoff.Min:
		return fmt.Errorf("p2p: backoff %v..%v: want 0 < min <= max", cfg.Backoff.Min, cfg.Backoff.Max)
	}
	return nil
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

// jitter returns d scaled by a random factor in [1-f, 1+f].
func (n *Node) jitter(d time.Duration, f float64) time.Duration {
	n.randMu.Lock()
	r := n.rand.Float64()
	n.randMu.Unlock()
	return time.Duration(float64(d) * (1 - f + 2*f*r))
}

// Run opens the host, listens, and serves until ctx is cancelled, then
// closes the host and returns once every goroutine it started has exited.
// It may be called once.
func (n *Node) Run(ctx context.Context) error {
	rm, cm, err := n.cfg.Limits.build()
	if err != nil {
		return err
	}
	opts := []libp2p.Option{
		libp2p.Identity(n.key),
		libp2p.ListenAddrs(n.addrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
	}
	if n.cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	h, err := n.newHost(opts, rm, cm)
	if err != nil {
		return fmt.Errorf("p2p: start host: %w", err)
	}
	psCtx, psCancel := context.WithCancel(ctx)
	defer psCancel()
	ps, err := n.newPubSub(psCtx, h, n.testPubSubOpts...)
	if err != nil {
		return errors.Join(err, h.Close())
	}
	var svc *relay.Relay
	if n.cfg.RelayService {
		if svc, err = relay.New(h); err != nil {
			return errors.Join(fmt.Errorf("p2p: start relay service: %w", err), h.Close())
		}
	}
	var md mdns.Service
	if n.cfg.MDNS {
		md = mdns.NewMdnsService(h, n.cfg.MDNSService, mdnsNotifee{n})
	}
	n.host, n.ps = h, ps
	h.SetStreamHandler(syncproto.ProtocolID, n.handleSyncStream)
	if n.cfg.Mailbox != nil {
		n.mailboxSlots = make(chan struct{}, maxMailboxStreams)
		h.SetStreamHandler(mailproto.ProtocolID, n.handleMailboxStream)
	}
	h.Network().Notify(connNotifee{n})
	n.goLoop(n.reconnectLoop)
	n.goLoop(n.syncLoop)
	n.goLoop(n.mdnsLoop)
	close(n.ready)
	if md != nil {
		if err := md.Start(); err != nil {
			n.log.Warn("mDNS not started", "err", err)
			md = nil
		}
	}
	n.log.Info("p2p node listening", "peer", h.ID(), "addrs", h.Addrs(), "relay_service", svc != nil, "mdns", md != nil)

	<-ctx.Done()
	n.lifeMu.Lock()
	n.mu.Lock()
	n.closing = true
	n.mu.Unlock()
	n.lifeMu.Unlock()
	close(n.stop)
	var errs []error
	if md != nil {
		errs = append(errs, md.Close())
	}
	n.leaveAll()
	psCancel()
	if svc != nil {
		errs = append(errs, svc.Close())
	}
	errs = append(errs, h.Close())
	n.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("p2p: close host: %w", err)
	}
	n.log.Debug("p2p node closed", "peer", h.ID())
	return nil
}

// goLoop runs f on a goroutine Run waits for.
func (n *Node) goLoop(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// track counts a goroutine about to start in n.wg, unless Run is shutting
// down; the goroutine calls n.wg.Done when it exits.
func (n *Node) track() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Add(1)
	return true
}

// running reports whether Run has started and not begun to stop.
func (n *Node) running() bool {
	select {
	case <-n.stop:
		return false
	case <-n.ready:
		return true
	default:
		return false
	}
}

// Connect dials the peer at addr, a full multiaddr ending in /p2p/<id>.
func (n *Node) Connect(ctx context.Context, addr string) error {
	if !n.running() {
		return ErrNotRunning
	}
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		return fmt.Errorf("p2p: address %q: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return fmt.Errorf("p2p: address %q: %w", addr, err)
	}
	if err := n.host.Connect(ctx, *info); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", info.ID, err)
	}
	return nil
}

// connected reports whether a connection to p is open.
func (n *Node) connected(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected
}
