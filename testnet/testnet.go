package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/p2p"
)

// Config configures a Net.
type Config struct {
	// Dir holds the peers' data directories (one subdirectory each).
	Dir string
	// Seed decides the injected faults (see Faults) and the nodes' jitter.
	Seed uint64
	// Faults are injected from the start; SetFaults changes them.
	Faults Faults
	// SyncInterval is the peers' periodic catch-up interval; 0 means
	// 200 ms, so that repairs after lost messages come quickly.
	SyncInterval time.Duration
	// Logger receives the peers' logs; nil discards them.
	Logger *slog.Logger
}

// Net is a simulated network of app peers in one process: go-libp2p's mock
// network (in-memory connections, no sockets), with partitions made by
// unlinking and disconnecting peers, and message faults injected between
// each node and its app. Its methods are for one test goroutine.
type Net struct {
	cfg    Config
	mn     mocknet.Mocknet
	faults atomic.Pointer[Faults]
	count  faultCounters

	mu     sync.Mutex // guards group and linked, read by NewHost callbacks
	peers  []*Peer
	group  map[string]int     // peer name -> partition group; same group: linked
	linked map[[2]string]bool // linked pairs, names sorted
}

// New returns an empty Net.
func New(cfg Config) *Net {
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Net{cfg: cfg, mn: mocknet.New(), group: map[string]int{}, linked: map[[2]string]bool{}}
	f := cfg.Faults
	n.faults.Store(&f)
	return n
}

// SetFaults changes the faults injected from now on.
func (n *Net) SetFaults(f Faults) { n.faults.Store(&f) }

// Stats returns the faults injected so far.
func (n *Net) Stats() FaultStats { return n.count.stats() }

// Peers returns the peers added, in order.
func (n *Net) Peers() []*Peer { return slices.Clone(n.peers) }

// Peer is one simulated device: an app.Peer on its own data directory,
// networked through the mock network while it runs.
type Peer struct {
	Name string

	skew   atomic.Int64 // added to the device's clock (app.Config.Now, p2p.Config.Clock)
	n      *Net
	index  int
	dir    string
	app    *app.Peer
	nw     *app.P2P
	id     peer.ID
	cancel context.CancelFunc
	done   chan error
	docs   map[app.DocID]*app.Doc

	hmu      sync.Mutex
	handlers []*faultyHandler // one per joined document since open
	joining  chan struct{}    // a send per document joined since open
}

// Add opens a new peer (not yet running) with a clock skewed by skew.
func (n *Net) Add(name string, skew time.Duration) (*Peer, error) {
	p := &Peer{Name: name, n: n, index: len(n.peers), dir: filepath.Join(n.cfg.Dir, name)}
	p.skew.Store(int64(skew))
	if err := p.open(); err != nil {
		return nil, err
	}
	n.peers = append(n.peers, p)
	n.mu.Lock()
	n.group[name] = 0
	n.mu.Unlock()
	return p, nil
}

// SetSkew sets the offset of p's clock from the wall clock, as when a
// device's clock jumps.
func (p *Peer) SetSkew(d time.Duration) { p.skew.Store(int64(d)) }

// Skew returns the offset of p's clock from the wall clock.
func (p *Peer) Skew() time.Duration { return time.Duration(p.skew.Load()) }

// skewedClock is the wall clock plus a peer's skew.
type skewedClock struct{ skew *atomic.Int64 }

func (c skewedClock) Now() time.Time                       { return time.Now().Add(time.Duration(c.skew.Load())) }
func (skewedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// open opens the app peer on p's directory, not running.
func (p *Peer) open() error {
	n := p.n
	clock := skewedClock{&p.skew}
	p.nw = app.NewNetwork(app.NetConfig{Node: p2p.Config{
		SyncInterval: n.cfg.SyncInterval,
		Clock:        clock,
		Seed:         n.cfg.Seed*1000 + uint64(p.index) + 1,
		Backoff:      p2p.Backoff{Min: 50 * time.Millisecond, Max: time.Second},
		Sim: p2p.Sim{
			NewHost:     p.newHost,
			WrapHandler: p.wrap,
		},
	}})
	a, err := app.Open(app.Config{Dir: p.dir, Network: p.nw, Now: clock.Now,
		Logger: n.cfg.Logger.With("peer", p.Name), SealDelay: 5 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("open %s: %w", p.Name, err)
	}
	p.app = a
	p.docs = map[app.DocID]*app.Doc{}
	p.hmu.Lock()
	p.handlers = nil
	p.joining = make(chan struct{}, 64)
	p.hmu.Unlock()
	return nil
}

// newHost adds the peer's host to the mock network.
func (p *Peer) newHost(key crypto.PrivKey) (host.Host, error) {
	addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4242", p.index/250, p.index%250+1))
	if err != nil {
		return nil, err
	}
	return p.n.mn.AddPeer(key, addr)
}

// wrap interposes the fault injector on a joined document.
func (p *Peer) wrap(_ crdt.DocID, h p2p.DocHandler) p2p.DocHandler {
	f := &faultyHandler{DocHandler: h, faults: &p.n.faults, count: &p.n.count,
		dec: decider{seed: p.n.cfg.Seed, receiver: p.Name}}
	p.hmu.Lock()
	p.handlers = append(p.handlers, f)
	select {
	case p.joining <- struct{}{}:
	default:
	}
	p.hmu.Unlock()
	return f
}

// App returns the peer's app.Peer (replaced by Restart).
func (p *Peer) App() *app.Peer { return p.app }

// ID returns the peer's libp2p id.
func (p *Peer) ID() peer.ID { return p.id }

// Running reports whether the peer runs.
func (p *Peer) Running() bool { return p.cancel != nil }

// Start runs the peer and connects it to every running peer it is linked
// with in the current partition.
func (p *Peer) Start() error {
	if p.cancel != nil {
		return fmt.Errorf("%s already runs", p.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- p.app.Run(ctx) }()
	select {
	case <-p.nw.Ready():
	case err := <-p.done:
		p.cancel = nil
		return fmt.Errorf("run %s: %w", p.Name, err)
	}
	p.id = p.nw.Node().ID()
	// Wait until the open documents are on the network, so that a step
	// that follows acts on a joined peer. WrapHandler runs inside JoinDoc
	// while app.P2P holds its lock, and Refresh takes that lock, so once
	// Refresh returns every join has finished.
	timeout := time.After(10 * time.Second)
	for range p.docs {
		select {
		case <-p.joining:
		case <-timeout:
			return fmt.Errorf("%s: documents not joined after 10 s", p.Name)
		}
	}
	p.nw.Refresh()
	return p.n.connectAll()
}

// OpenDoc opens document id on p and keeps the handle (reopened by
// Restart).
func (p *Peer) OpenDoc(id app.DocID) (*app.Doc, error) {
	if d := p.docs[id]; d != nil {
		return d, nil
	}
	d, err := p.app.Open(id)
	if err != nil {
		return nil, err
	}
	p.docs[id] = d
	return d, nil
}

// Doc returns p's open handle on id, or nil.
func (p *Peer) Doc(id app.DocID) *app.Doc { return p.docs[id] }

// Crash stops the peer: its network goes away at once, then the app
// closes (the app seals and stores what was typed; a crash that loses
// the store's unsynced tail is the store's own crash test's business).
func (p *Peer) Crash() error {
	if p.cancel == nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	n := p.n
	n.mu.Lock()
	for pair := range n.linked {
		if pair[0] == p.Name || pair[1] == p.Name {
			other := n.byName(pair[0])
			if other == p {
				other = n.byName(pair[1])
			}
			// The restarted host is a new mock network under the same id:
			// links to the old one must go.
			if err := n.mn.UnlinkPeers(p.id, other.id); err != nil {
				n.mu.Unlock()
				return fmt.Errorf("unlink %s-%s: %w", pair[0], pair[1], err)
			}
			delete(n.linked, pair)
		}
	}
	n.mu.Unlock()
	p.cancel()
	err := <-p.done
	p.cancel = nil
	return errors.Join(err, p.app.Close())
}

// Restart reopens a crashed peer from its data directory, reopens the
// documents it had open and starts it.
func (p *Peer) Restart() error {
	if p.cancel != nil {
		return fmt.Errorf("%s still runs", p.Name)
	}
	ids := make([]app.DocID, 0, len(p.docs))
	for id := range p.docs {
		ids = append(ids, id)
	}
	if err := p.open(); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := p.OpenDoc(id); err != nil {
			return fmt.Errorf("reopen %s on %s: %w", id, p.Name, err)
		}
	}
	return p.Start()
}

func (n *Net) byName(name string) *Peer {
	for _, p := range n.peers {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func pairOf(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// connectAll links and connects every two running peers in one group, and
// unlinks and disconnects peers in different groups.
func (n *Net) connectAll() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for i, a := range n.peers {
		for _, b := range n.peers[i+1:] {
			if a.cancel == nil || b.cancel == nil {
				continue
			}
			pair := pairOf(a.Name, b.Name)
			same := n.group[a.Name] == n.group[b.Name]
			switch {
			case same && !n.linked[pair]:
				if _, err := n.mn.LinkPeers(a.id, b.id); err != nil {
					errs = append(errs, err)
					continue
				}
				n.linked[pair] = true
				if _, err := n.mn.ConnectPeers(a.id, b.id); err != nil {
					errs = append(errs, fmt.Errorf("connect %s-%s: %w", a.Name, b.Name, err))
				}
			case !same && n.linked[pair]:
				if err := n.mn.UnlinkPeers(a.id, b.id); err != nil {
					errs = append(errs, err)
				}
				delete(n.linked, pair)
				if err := n.mn.DisconnectPeers(a.id, b.id); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Partition splits the network: peers in one group reach each other and
// no one else; peers in no group form one more group.
func (n *Net) Partition(groups ...[]*Peer) error {
	n.mu.Lock()
	for _, p := range n.peers {
		n.group[p.Name] = len(groups)
	}
	for i, g := range groups {
		for _, p := range g {
			n.group[p.Name] = i
		}
	}
	n.mu.Unlock()
	return n.connectAll()
}

// Heal joins every partition and connects all running peers.
func (n *Net) Heal() error { return n.Partition() }

// Release delivers every held-back (reordered) message now.
func (n *Net) Release() {
	for _, p := range n.peers {
		for _, f := range p.heldHandlers() {
			f.release()
		}
	}
}

func (p *Peer) heldHandlers() []*faultyHandler {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	return slices.Clone(p.handlers)
}

// Close stops every peer, all at once (each waits for its store to close,
// which dominates a seed's time when done one after another), then the
// mock network.
func (n *Net) Close() error {
	errs := make([]error, 2*len(n.peers)+1)
	var wg sync.WaitGroup
	for i, p := range n.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.cancel != nil {
				p.cancel()
				errs[2*i] = <-p.done
				p.cancel = nil
			}
			if p.app != nil {
				errs[2*i+1] = p.app.Close()
			}
		}()
	}
	wg.Wait()
	errs[len(errs)-1] = n.mn.Close()
	return errors.Join(errs...)
}

// Converged reports whether every running peer's replica of doc holds the
// same text and version, and if not, how they differ.
func (n *Net) Converged(id app.DocID) (bool, string, error) {
	var (
		texts []string
		vecs  []crdt.Vector
		names []string
	)
	for _, p := range n.peers {
		d := p.docs[id]
		if p.cancel == nil || d == nil {
			continue
		}
		s, _, err := d.Text()
		if err != nil {
			return false, "", fmt.Errorf("%s: %w", p.Name, err)
		}
		v, err := d.Vector()
		if err != nil {
			return false, "", fmt.Errorf("%s: %w", p.Name, err)
		}
		texts, vecs, names = append(texts, s), append(vecs, v), append(names, p.Name)
	}
	var diff []string
	for i := 1; i < len(texts); i++ {
		if texts[i] != texts[0] || !vecs[i].Covers(vecs[0]) || !vecs[0].Covers(vecs[i]) {
			diff = append(diff, fmt.Sprintf("%s (%d chars, %d authors) vs %s (%d chars, %d authors)",
				names[0], len([]rune(texts[0])), len(vecs[0]), names[i], len([]rune(texts[i])), len(vecs[i])))
		}
	}
	return len(diff) == 0, strings.Join(diff, "; "), nil
}

// WaitConverged waits until Converged holds for doc, woken by the
// documents' events (and every 100 ms, since a change that leaves the text
// as it was raises no event), or fails when ctx ends.
func (n *Net) WaitConverged(ctx context.Context, id app.DocID) error {
	wake := make(chan struct{}, 1)
	var cancels []func()
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for _, p := range n.peers {
		d := p.docs[id]
		if p.cancel == nil || d == nil {
			continue
		}
		events, cancel := d.Subscribe()
		cancels = append(cancels, cancel)
		go func() {
			for range events {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, diff, err := n.Converged(id)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not converged: %s: %w", diff, ctx.Err())
		case <-wake:
		case <-tick.C:
		}
	}
}
