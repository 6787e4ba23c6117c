package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/crdt/trace"
	"github.com/quire-dev/quire/p2p"
)

// syncFlags are bench sync's flags.
type syncFlags struct {
	runs       int
	keys       int
	rate       float64
	tracePth   string
	seed       uint64
	cpuprofile string
	peersList  string
}

// benchSync measures sync between real app peers (store, signatures,
// capability checks, libp2p on loopback): keystroke-to-applied latency
// between 2 peers and among 10, and a fresh peer's catch-up of a trace's
// whole history. It prints one JSON object per measurement.
func benchSync(ctx context.Context, e env, args []string) int {
	fs := cli.NewFlagSet("quirectl bench sync", "[-runs N] [-keys N] [-rate R] [-trace FILE.json.gz]",
		"Measures keystroke latency and catch-up between real peers on loopback.", e.stderr)
	f := &syncFlags{}
	fs.IntVar(&f.runs, "runs", 5, "catch-up runs; its time is the median")
	fs.IntVar(&f.keys, "keys", 200, "keystrokes each typing peer makes")
	fs.Float64Var(&f.rate, "rate", 10, "keystrokes per second per typing peer")
	fs.StringVar(&f.tracePth, "trace", defaultTrace(), "sequential editing trace for the catch-up `file` (empty skips it)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed for typing positions and phases (0: from the clock; printed)")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of the typing runs to `file`")
	fs.StringVar(&f.peersList, "peers", "2,10", "peer counts to measure typing with, comma-separated (2: one types, one receives)")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if f.runs < 1 || f.keys < 1 || f.rate <= 0 {
		return cli.Usagef(e.stderr, "quirectl bench sync", "-runs, -keys and -rate must be positive")
	}
	if f.seed == 0 {
		f.seed = uint64(time.Now().UnixNano())
	}
	tmp, err := os.MkdirTemp("", "quire-bench-sync-")
	if err != nil {
		fmt.Fprintln(e.stderr, "quirectl bench sync:", err)
		return cli.ExitError
	}
	defer os.RemoveAll(tmp)
	enc := json.NewEncoder(e.stdout)
	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err != nil {
			fmt.Fprintln(e.stderr, "quirectl bench sync:", err)
			return cli.ExitError
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintln(e.stderr, "quirectl bench sync:", err)
			return cli.ExitError
		}
		defer pprof.StopCPUProfile()
	}
	var counts []int
	for _, s := range strings.Split(f.peersList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return cli.Usagef(e.stderr, "quirectl bench sync", "-peers: %q is not a peer count of at least 2", s)
		}
		counts = append(counts, n)
	}
	for _, n := range counts {
		typists := n
		if n == 2 {
			typists = 1 // one types, the other receives: the plain round
		}
		r, err := typing(ctx, tmp, n, typists, f)
		if err != nil {
			fmt.Fprintln(e.stderr, "quirectl bench sync:", err)
			return cli.ExitError
		}
		enc.Encode(r)
	}
	if f.tracePth != "" {
		r, err := catchUp(ctx, tmp, f)
		if err != nil {
			fmt.Fprintln(e.stderr, "quirectl bench sync:", err)
			return cli.ExitError
		}
		enc.Encode(r)
	}
	return cli.ExitOK
}

func defaultTrace() string {
	p := "../shared/testdata/editing-traces/sequential/automerge-paper.json.gz"
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// benchPeer is one running peer of a benchmark.
type benchPeer struct {
	p    *app.Peer
	nw   *app.P2P
	stop func()
}

func startPeer(dir string, connect []string, manual bool) (*benchPeer, error) {
	nw := app.NewNetwork(app.NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Connect: connect,
		Node: p2p.Config{ManualSync: manual}})
	p, err := app.Open(app.Config{Dir: dir, Network: nw})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-nw.Ready():
	case err := <-done:
		p.Close()
		cancel()
		return nil, err
	}
	return &benchPeer{p: p, nw: nw, stop: func() { cancel(); <-done; p.Close() }}, nil
}

// typingResult is one keystroke-latency measurement.
type typingResult struct {
	Bench   string  `json:"bench"`
	Peers   int     `json:"peers"`
	Typists int     `json:"typists"`
	Rate    float64 `json:"keys_per_s"`
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	Seed    uint64  `json:"seed"`
}

// keyRune is the private-use code point that names keystroke k, so that a
// receiver can tell which keystroke an edit carries.
func keyRune(k int) rune { return rune(0xF0000 + k) }

// typing runs n peers sharing one document, all connected to each other
// (as mDNS connects a LAN); typists of them type f.keys keystrokes at
// f.rate per second each, at random places, and every other peer records
// when each keystroke's edit reaches its document.
func typing(ctx context.Context, tmp string, n, typists int, f *syncFlags) (typingResult, error) {
	res := typingResult{Bench: "typing", Peers: n, Typists: typists, Rate: f.rate, Seed: f.seed}
	if typists*f.keys > 0xFFFD {
		return res, errors.New("too many keystrokes for the private-use plane")
	}
	var peers []*benchPeer
	defer func() {
		for _, bp := range peers {
			bp.stop()
		}
	}()
	owner, err := startPeer(fmt.Sprintf("%s/t%d-0", tmp, n), nil, false)
	if err != nil {
		return res, err
	}
	peers = append(peers, owner)
	id, err := owner.p.Create("bench")
	if err != nil {
		return res, err
	}
	od, err := owner.p.Open(id)
	if err != nil {
		return res, err
	}
	defer od.Close()
	link, err := od.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		return res, err
	}
	docs := []*app.Doc{od}
	var addrs []string // every peer dials all before it, as mDNS on a LAN connects everyone
	for i := 1; i < n; i++ {
		addrs = append(addrs, peers[i-1].nw.Addrs()...)
		bp, err := startPeer(fmt.Sprintf("%s/t%d-%d", tmp, n, i), addrs, false)
		if err != nil {
			return res, err
		}
		peers = append(peers, bp)
		if _, err := bp.p.Join(link); err != nil {
			return res, err
		}
		d, err := bp.p.Open(id)
		if err != nil {
			return res, err
		}
		defer d.Close()
		docs = append(docs, d)
	}
	// Warm up: each peer types one character and waits until all have
	// all of them, so meshes have formed before anything is timed.
	for _, d := range docs {
		if err := d.Edit(0, 0, "w"); err != nil {
			return res, err
		}
	}
	// Gossip may drop the first messages while meshes form; catch-up
	// repairs that, so ask for it until everyone has everything.
	for try := 0; ; try++ {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := waitAll(wctx, docs, func(s string) bool { return len(s) == n })
		cancel()
		if err == nil {
			break
		}
		if try == 15 {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		for _, bp := range peers {
			bp.nw.Refresh()
		}
	}

	// And until every peer has admitted every other to the document: a
	// message relayed by a peer not yet admitted is dropped, and gossipsub
	// then drops the other copies as duplicates (catch-up repairs it).
	if err := waitPeers(ctx, docs, n-1); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}

	total := typists * f.keys
	sent := make([]time.Time, total)
	var (
		mu   sync.Mutex
		lats []time.Duration
		seen = make([]int, total) // receivers that got keystroke k
	)
	want := total * (n - 1)
	got := 0
	all := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range docs {
		events, cancelSub := d.Subscribe()
		defer cancelSub()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range events {
				if ev.Kind != app.EventEdits || ev.Local {
					continue
				}
				now := time.Now()
				mu.Lock()
				for _, ed := range ev.Edits {
					for _, r := range ed.Text {
						k := int(r - 0xF0000)
						if k < 0 || k >= total || k%typists == i && i < typists {
							continue
						}
						lats = append(lats, now.Sub(sent[k]))
						seen[k]++
						got++
					}
				}
				done := got == want
				mu.Unlock()
				if done {
					close(all)
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(f.seed, uint64(n)))
	interval := time.Duration(float64(time.Second) / f.rate)
	var tw sync.WaitGroup
	errc := make(chan error, typists)
	for t := range typists {
		phase := time.Duration(rng.Int64N(int64(interval)))
		seed := rng.Uint64()
		tw.Add(1)
		go func() {
			defer tw.Done()
			r := rand.New(rand.NewPCG(seed, 0))
			d := docs[t]
			next := time.Now().Add(phase)
			for j := range f.keys {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				k := j*typists + t
				ln, err := d.Len()
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				sent[k] = time.Now()
				mu.Unlock()
				if err := d.Edit(r.IntN(ln+1), 0, string(keyRune(k))); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	tw.Wait()
	select {
	case err := <-errc:
		return res, err
	default:
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return res, fmt.Errorf("only %d of %d keystroke deliveries arrived", got, want)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.Samples = len(lats)
	res.P50 = ms(lats[len(lats)/2])
	res.P99 = ms(lats[len(lats)*99/100])
	res.Max = ms(lats[len(lats)-1])
	return res, nil
}

// waitPeers waits until every doc's status lists want peers.
func waitPeers(ctx context.Context, docs []*app.Doc, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, d := range docs {
		events, stop := d.Subscribe()
		for len(d.Status().Peers) < want {
			select {
			case <-events:
			case <-ctx.Done():
				stop()
				return fmt.Errorf("a peer syncs with %d of %d others: %w", len(d.Status().Peers), want, ctx.Err())
			}
		}
		stop()
	}
	return nil
}

// waitAll waits until every doc's text satisfies ok.
func waitAll(ctx context.Context, docs []*app.Doc, ok func(string) bool) error {
	for _, d := range docs {
		events, cancel := d.Subscribe()
		for {
			s, _, err := d.Text()
			if err != nil {
				cancel()
				return err
			}
			if ok(s) {
				break
			}
			select {
			case <-events:
			case <-ctx.Done():
				cancel()
				return fmt.Errorf("peer holds %d bytes: %w", len(s), ctx.Err())
			}
		}
		cancel()
	}
	return nil
}

// catchUpResult is the catch-up measurement.
type catchUpResult struct {
	Bench     string  `json:"bench"`
	Trace     string  `json:"trace"`
	Changes   int     `json:"changes"`
	Ms        float64 `json:"catchup_ms"`
	Wire      int64   `json:"wire_bytes"`
	Encoded   int     `json:"encoded_bytes"`
	Ratio     float64 `json:"wire_ratio"`
	Runs      int     `json:"runs"`
	TextBytes int     `json:"text_bytes"`
}

// catchUp types a trace into one peer as a person would (a change sealed
// every 100 patches, each signed and stored), then measures fresh peers
// taking the whole history from it in one sync session.
func catchUp(ctx context.Context, tmp string, f *syncFlags) (catchUpResult, error) {
	t, err := trace.Load(f.tracePth)
	if err != nil {
		return catchUpResult{}, err
	}
	res := catchUpResult{Bench: "catchup", Trace: t.Name, Runs: f.runs}
	// Neither side starts sessions by itself (ManualSync also stops the
	// app offering documents), so the one timed session below is the
	// whole catch-up and its bytes are all that crossed the wire.
	src, err := startPeer(tmp+"/src", nil, true)
	if err != nil {
		return res, err
	}
	defer src.stop()
	id, err := src.p.Create("")
	if err != nil {
		return res, err
	}
	d, err := src.p.Open(id)
	if err != nil {
		return res, err
	}
	defer d.Close()
	n := 0
	for _, txn := range t.Txns {
		for _, pt := range txn.Patches {
			if err := d.Edit(pt.Pos, pt.Del, pt.Ins); err != nil {
				return res, err
			}
			if n++; n%100 == 0 {
				if err := d.Flush(); err != nil {
					return res, err
				}
			}
		}
	}
	if err := d.Flush(); err != nil {
		return res, err
	}
	want, _, _ := d.Text()
	res.TextBytes = len(want)
	res.Changes = (n + 99) / 100
	res.Encoded = len(d.EncodedHistory())
	link, err := d.Invite(access.Read, time.Now().Add(time.Hour))
	if err != nil {
		return res, err
	}
	var times []time.Duration
	for run := range f.runs {
		fresh, err := startPeer(fmt.Sprintf("%s/fresh%d", tmp, run), nil, true)
		if err != nil {
			return res, err
		}
		if _, err := fresh.p.Join(link); err != nil {
			fresh.stop()
			return res, err
		}
		fd, err := fresh.p.Open(id)
		if err != nil {
			fresh.stop()
			return res, err
		}
		start := time.Now()
		if err := fresh.nw.Connect(ctx, src.nw.Addrs()[0]); err != nil {
			fd.Close()
			fresh.stop()
			return res, err
		}
		r := fresh.nw.Node().SyncWith(ctx, id, src.nw.Node().ID())
		took := time.Since(start)
		text, _, _ := fd.Text()
		fd.Close()
		fresh.stop()
		if r.Err != nil {
			return res, r.Err
		}
		if text != want {
			return res, fmt.Errorf("fresh peer holds %d bytes after catch-up, want %d", len(text), len(want))
		}
		times = append(times, took)
		res.Wire = max(res.Wire, r.Sent+r.Received) // the largest run: an upper bound
	}
	slices.Sort(times)
	res.Ms = float64(times[len(times)/2].Microseconds()) / 1000
	res.Ratio = float64(res.Wire) / float64(res.Encoded)
	return res, nil
}
