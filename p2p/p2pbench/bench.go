// Package p2pbench measures Quire's sync over real libp2p nodes on
// loopback, for `quirectl bench sync` and the Go benchmarks: keystroke to
// applied latency over gossip with any number of typing peers, and a fresh
// peer catching up a whole editing trace from one peer. Every peer runs in
// this process, so the figures include the CPU the peers share.
package p2pbench

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/crdt/trace"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/p2ptest"
)

// TypingOptions configures Typing.
type TypingOptions struct {
	// Peers is the number of nodes, all connected to each other (≥ 2).
	Peers int
	// Typists is how many of them type; 0 means all.
	Typists int
	// Rate is keystrokes per second per typist.
	Rate float64
	// Keystrokes is how many keystrokes each typist makes.
	Keystrokes int
	// Seed drives typing phases and characters.
	Seed uint64
}

// Latencies summarises keystroke-to-applied delays.
type Latencies struct {
	// Samples is the number of (keystroke, receiving peer) pairs measured.
	Samples int
	// Missing counts pairs not delivered by gossip before the end (catch-up
	// would deliver them; they are not in the percentiles).
	Missing       int
	P50, P99, Max time.Duration
	// CPUPerKeystroke is the process's CPU time while typing divided by
	// the keystrokes: the cost of sealing, signing, publishing and, at
	// every other peer, validating and applying one keystroke. Unlike the
	// latencies it does not depend on how busy the machine is (0 where the
	// platform does not report it).
	CPUPerKeystroke time.Duration
}

func (l Latencies) String() string {
	return fmt.Sprintf("samples %d missing %d p50 %v p99 %v max %v cpu/keystroke %v",
		l.Samples, l.Missing, l.P50, l.P99, l.Max, l.CPUPerKeystroke)
}

var benchDoc = crdt.DocID{0xbe, 0x4c}

// Typing starts opts.Peers nodes on loopback sharing one document, lets
// the typists type at opts.Rate, each keystroke sealed, signed and
// published at once, and measures for every other peer the time from the
// keystroke to the change applied there.
func Typing(ctx context.Context, opts TypingOptions) (Latencies, error) {
	if opts.Peers < 2 || opts.Rate <= 0 || opts.Keystrokes <= 0 {
		return Latencies{}, fmt.Errorf("p2pbench: invalid options %+v", opts)
	}
	if opts.Typists == 0 || opts.Typists > opts.Peers {
		opts.Typists = opts.Peers
	}
	root := p2ptest.Key("bench root")
	peers := make([]*p2ptest.Peer, 0, opts.Peers)
	defer func() {
		for _, p := range peers {
			_ = p.Close()
		}
	}()
	deliveries := make([]chan p2ptest.Delivery, opts.Peers)
	for i := range opts.Peers {
		key := p2ptest.Key(fmt.Sprintf("bench peer %d", i))
		tok := p2ptest.Grant(benchDoc, root, key, access.Write)
		r := p2ptest.NewReplica(benchDoc, access.PublicKeyOf(root), key, tok, p2ptest.Clock())
		deliveries[i] = make(chan p2ptest.Delivery, 1<<14)
		r.Notify(deliveries[i])
		p, err := p2ptest.StartPeer(p2p.Config{PrivateKey: key, Seed: opts.Seed + uint64(i) + 1}, benchDoc, r, nil)
		if err != nil {
			return Latencies{}, err
		}
		peers = append(peers, p)
	}
	for i, a := range peers {
		for _, b := range peers[i+1:] {
			if err := p2ptest.Connect(ctx, a, b); err != nil {
				return Latencies{}, err
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, p := range peers {
		if err := p.Doc.WaitMesh(wctx, min(opts.Peers-1, 4)); err != nil {
			return Latencies{}, err
		}
	}

	cpu0 := cpuTime()
	var sentMu sync.Mutex
	sent := map[string]time.Time{} // payload -> keystroke time
	var wg sync.WaitGroup
	errs := make(chan error, opts.Typists)
	for i := range opts.Typists {
		p := peers[i]
		rng := rand.New(rand.NewPCG(opts.Seed, uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			interval := time.Duration(float64(time.Second) / opts.Rate)
			next := time.Now().Add(time.Duration(rng.Float64() * float64(interval)))
			for range opts.Keystrokes {
				time.Sleep(time.Until(next)) // pacing the typist, not waiting for an event
				next = next.Add(interval)
				ch := string(rune('a' + rng.IntN(26)))
				at := time.Now()
				payloads, err := p.Replica.Edit(func(d *crdt.Doc) error { return d.Insert(d.Len(), ch) })
				if err != nil {
					errs <- err
					return
				}
				sentMu.Lock()
				for _, b := range payloads {
					sent[string(b)] = at
				}
				sentMu.Unlock()
				for _, b := range payloads {
					if err := p.Doc.Publish(ctx, b); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return Latencies{}, err
	}
	// Collect: each receiver should get every other typist's keystrokes.
	var lat []time.Duration
	missing := 0
	drain := time.After(2 * time.Second)
	for i := range peers {
		want := opts.Typists * opts.Keystrokes
		if i < opts.Typists {
			want -= opts.Keystrokes
		}
		got := 0
	collect:
		for got < want {
			select {
			case d := <-deliveries[i]:
				if d.Kind != p2p.KindChange {
					continue
				}
				sentMu.Lock()
				at, ok := sent[string(d.Payload)]
				sentMu.Unlock()
				if ok {
					lat = append(lat, d.At.Sub(at))
					got++
				}
			case <-drain:
				break collect
			}
		}
		missing += want - got
	}
	cpu := (cpuTime() - cpu0) / time.Duration(opts.Typists*opts.Keystrokes)
	if len(lat) == 0 {
		return Latencies{Missing: missing}, errors.New("p2pbench: nothing delivered")
	}
	slices.Sort(lat)
	return Latencies{Samples: len(lat), Missing: missing, CPUPerKeystroke: cpu,
		P50: lat[len(lat)/2], P99: lat[min(len(lat)-1, len(lat)*99/100)], Max: lat[len(lat)-1]}, nil
}

// CatchUpResult is what CatchUp measures.
type CatchUpResult struct {
	// Ops is the number of ops in the history; Encoded the size of its
	// encoding (crdt.Doc.Encode, signatures included).
	Ops, Encoded int
	// Time is from opening the sync stream to both sides done.
	Time time.Duration
	// WireBytes counts the sync frames both ways (the transport's Noise and
	// yamux framing adds well under 0.1%).
	WireBytes int64
	// Ratio is WireBytes / Encoded.
	Ratio float64
}

func (r CatchUpResult) String() string {
	return fmt.Sprintf("ops %d encoded %d B time %v wire %d B ratio %.3f", r.Ops, r.Encoded, r.Time, r.WireBytes, r.Ratio)
}

// CatchUpFixture is a replayed, signed trace ready for CatchUp; replaying
// costs seconds, so benchmarks build it once.
type CatchUpFixture struct {
	doc    *crdt.Doc
	author ed25519.PrivateKey
}

// LoadCatchUp replays the sequential trace at path, signed.
func LoadCatchUp(path string) (*CatchUpFixture, error) {
	t, err := trace.Load(path)
	if err != nil {
		return nil, err
	}
	d, _, err := trace.SignedReplay(t)
	if err != nil {
		return nil, err
	}
	// SignedReplay signs with the all-zero seed.
	return &CatchUpFixture{doc: d, author: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}, nil
}

// CatchUp starts a peer holding the fixture's history and a fresh peer on
// loopback, and measures one sync session that brings the fresh peer up to
// date (it verifies every signature as it applies).
func CatchUp(ctx context.Context, f *CatchUpFixture) (CatchUpResult, error) {
	encoded := f.doc.Encode()
	// The source serves the fixture's document itself, warm (hashes known)
	// as a running peer's would be; the session only reads it, so the
	// fixture can be reused.
	src := f.doc
	id := f.doc.ID()
	rootKey := access.PublicKeyOf(f.author)
	freshKey := p2ptest.Key("fresh")
	srcTok := p2ptest.Grant(id, f.author, f.author, access.Admin)
	freshTok := p2ptest.Grant(id, f.author, freshKey, access.Read)
	cfg := func(k ed25519.PrivateKey) p2p.Config { return p2p.Config{PrivateKey: k, ManualSync: true} }
	a, err := p2ptest.StartPeer(cfg(f.author), id, p2ptest.NewReplicaOf(src, rootKey, srcTok, p2ptest.Clock()), nil)
	if err != nil {
		return CatchUpResult{}, err
	}
	defer a.Close()
	fresh := p2ptest.NewReplica(id, rootKey, freshKey, freshTok, p2ptest.Clock())
	b, err := p2ptest.StartPeer(cfg(freshKey), id, fresh, nil)
	if err != nil {
		return CatchUpResult{}, err
	}
	defer b.Close()
	if err := p2ptest.Connect(ctx, b, a); err != nil {
		return CatchUpResult{}, err
	}
	start := time.Now()
	res := b.Node.SyncWith(ctx, id, a.ID())
	took := time.Since(start)
	if res.Err != nil {
		return CatchUpResult{}, res.Err
	}
	if got, want := fresh.Text(), f.doc.Text(); got != want {
		return CatchUpResult{}, fmt.Errorf("p2pbench: fresh peer has %d code points, want %d", len([]rune(got)), len([]rune(want)))
	}
	wire := res.Sent + res.Received
	return CatchUpResult{Ops: f.doc.Ops(), Encoded: len(encoded), Time: took, WireBytes: wire,
		Ratio: float64(wire) / float64(len(encoded))}, nil
}
