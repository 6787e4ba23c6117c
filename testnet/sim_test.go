package testnet

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "run only this simulation seed")
	seedsFlag = flag.Int("seeds", 0, "number of simulation seeds per run (default 200, 32 under -race; -long: 1000)")
	parFlag   = flag.Int("simparallel", 8, "simulation seeds run at once")
	longFlag  = flag.Bool("long", false, "run 1000 simulation seeds")
	firstFlag = flag.Uint64("first", 1, "first simulation seed")
)

const year = 365 * 24 * time.Hour

// TestSimConverge runs many seeded scenarios: 3 or 4 peers edit one
// document while the network drops, duplicates and reorders live
// messages, partitions and heals, peers crash and restart from their
// stores, and clocks jump a year ahead (see TestSimClockBehind for
// behind). After healing,
// every replica must hold the same text and version, and that version
// must cover every edit any peer made. A failing seed prints the command
// that re-runs it alone.
func TestSimConverge(t *testing.T) {
	runSeeds(t, "TestSimConverge", []time.Duration{-year, 0, year})
}

func runSeeds(t *testing.T, name string, skews []time.Duration) {
	seeds := []uint64{}
	switch {
	case *seedFlag != 0:
		seeds = append(seeds, *seedFlag)
	default:
		n := *seedsFlag
		if n <= 0 {
			// A seed takes ~0.65 s (0.15 to start its peers, 0.15 to stop
			// them); the race detector makes that 3-4 times slower, and
			// CI runs the tests under it.
			n = 200
			if raceEnabled {
				n = 32
			}
		}
		if *longFlag {
			n = 1000
		}
		if testing.Short() {
			n = min(n, 10)
		}
		for i := range n {
			seeds = append(seeds, *firstFlag+uint64(i))
		}
	}
	start := time.Now()
	var (
		mu    sync.Mutex
		total FaultStats
	)
	// Seeds run -simparallel at a time: each spends most of its time
	// waiting for catch-up rounds, not computing.
	next := make(chan uint64, len(seeds))
	for _, seed := range seeds {
		next <- seed
	}
	close(next)
	var wg sync.WaitGroup
	for range max(*parFlag, 1) {
		wg.Go(func() {
			for seed := range next {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					defer func() {
						if t.Failed() {
							t.Logf("seed %d failed; re-run it with: go test -race -tags ci ./testnet -run %s -seed %d -v", seed, name, seed)
						}
					}()
					st := simulate(t, seed, skews)
					mu.Lock()
					total.Dropped += st.Dropped
					total.Duplicated += st.Duplicated
					total.Reordered += st.Reordered
					total.DupBatches += st.DupBatches
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	t.Logf("%d seeds in %v; faults injected: %d live messages dropped, %d duplicated, %d reordered, %d sync batches applied twice",
		len(seeds), time.Since(start).Round(time.Millisecond), total.Dropped, total.Duplicated, total.Reordered, total.DupBatches)
}

// scenario is one seed's run.
type scenario struct {
	t     *testing.T
	rng   *rand.Rand
	net   *Net
	id    app.DocID
	want  crdt.Vector // every edit made anywhere, per author
	tok   int
	skews []time.Duration // clock offsets peers other than p0 get
}

func simulate(t *testing.T, seed uint64, skews []time.Duration) FaultStats {
	rng := rand.New(rand.NewPCG(seed, 0x5157_0006))
	faults := Faults{Drop: 0.05 + 0.25*rng.Float64(), Dup: 0.3 * rng.Float64(), Reorder: 0.3 * rng.Float64()}
	net := New(Config{Dir: t.TempDir(), Seed: seed, Faults: faults})
	defer func() {
		t0 := time.Now()
		defer func() { t.Logf("timing: close %v", time.Since(t0)) }()
		if err := net.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	s := &scenario{t: t, rng: rng, net: net, want: crdt.Vector{}, skews: skews}
	t0 := time.Now()
	s.setUp(3 + rng.IntN(2))
	t.Logf("timing: setup %v", time.Since(t0))
	steps := 10 + rng.IntN(20)
	var log []string
	for range steps {
		log = append(log, s.step())
	}
	if t.Failed() {
		t.Fatalf("steps: %v", log)
	}
	// Heal: everyone back, everything connected; faults stay on, so only
	// catch-up sync can repair what gossip lost.
	for _, p := range net.Peers() {
		if !p.Running() {
			s.must(p.Restart(), "restart "+p.Name)
		}
	}
	t0 = time.Now()
	s.must(net.Heal(), "heal")
	s.converge(log)
	t1 := time.Now()
	// Late arrivals of held-back messages change nothing.
	net.Release()
	s.converge(log)
	t.Logf("timing: converge %v, again %v", t1.Sub(t0), time.Since(t1))
	return net.Stats()
}

func (s *scenario) must(err error, what string) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

// setUp creates the document on p0 (unskewed) and has n-1 others join it
// by invite; then each of their clocks jumps by -1 year, 0 or +1 year.
func (s *scenario) setUp(n int) {
	owner, err := s.net.Add("p0", 0)
	s.must(err, "add p0")
	s.id, err = owner.App().Create("sim")
	s.must(err, "create")
	d, err := owner.OpenDoc(s.id)
	s.must(err, "open")
	s.must(d.Edit(0, 0, "# sim\n"), "first edit")
	s.record(d)
	link, err := d.Invite(access.Write, time.Now().Add(10*year))
	s.must(err, "invite")
	s.must(owner.Start(), "start p0")
	for i := 1; i < n; i++ {
		p, err := s.net.Add(fmt.Sprintf("p%d", i), 0)
		s.must(err, "add")
		_, err = p.App().Join(link)
		s.must(err, "join "+p.Name)
		p.SetSkew(s.skews[s.rng.IntN(len(s.skews))])
		_, err = p.OpenDoc(s.id)
		s.must(err, "open on "+p.Name)
		s.must(p.Start(), "start "+p.Name)
	}
}

// record adds d's version (which includes the edit just made) to want.
func (s *scenario) record(d *app.Doc) {
	v, err := d.Vector()
	s.must(err, "vector")
	for a, n := range v {
		s.want[a] = max(s.want[a], n)
	}
}

func (s *scenario) running() []*Peer {
	var out []*Peer
	for _, p := range s.net.Peers() {
		if p.Running() {
			out = append(out, p)
		}
	}
	return out
}

// step does one random thing and says what.
func (s *scenario) step() string {
	peers := s.net.Peers()
	run := s.running()
	switch r := s.rng.IntN(100); {
	case r < 60:
		p := run[s.rng.IntN(len(run))]
		return s.edit(p)
	case r < 72:
		var a, b []*Peer
		for _, p := range peers {
			if s.rng.IntN(2) == 0 {
				a = append(a, p)
			} else {
				b = append(b, p)
			}
		}
		s.must(s.net.Partition(a, b), "partition")
		return fmt.Sprintf("partition %v | %v", names(a), names(b))
	case r < 82:
		s.must(s.net.Heal(), "heal")
		return "heal"
	case r < 91 && len(run) > 1:
		p := run[s.rng.IntN(len(run))]
		s.must(p.Crash(), "crash "+p.Name)
		return "crash " + p.Name
	default:
		for _, p := range peers {
			if !p.Running() {
				s.must(p.Restart(), "restart "+p.Name)
				return "restart " + p.Name
			}
		}
		return s.edit(run[s.rng.IntN(len(run))])
	}
}

// edit inserts a unique token at a random place in p's replica, or
// deletes a few characters.
func (s *scenario) edit(p *Peer) string {
	d := p.Doc(s.id)
	n, err := d.Len()
	s.must(err, "len")
	pos := s.rng.IntN(n + 1)
	if s.rng.IntN(5) == 0 && n > 0 {
		pos = min(pos, n-1)
		del := min(1+s.rng.IntN(4), n-pos)
		if err := d.Edit(pos, del, ""); errors.Is(err, app.ErrReadOnly) {
			return fmt.Sprintf("%s delete refused (clock %v)", p.Name, p.Skew())
		} else if errors.Is(err, crdt.ErrPosition) {
			// Remote deletions shrank the text since Len.
			return fmt.Sprintf("%s delete %d+%d out of range", p.Name, pos, del)
		} else {
			s.must(err, "delete on "+p.Name)
		}
		s.record(d)
		return fmt.Sprintf("%s delete %d+%d", p.Name, pos, del)
	}
	s.tok++
	tok := fmt.Sprintf("[%s.%d]", p.Name, s.tok)
	if err := d.Edit(pos, 0, tok); errors.Is(err, app.ErrReadOnly) {
		return fmt.Sprintf("%s insert refused (clock %v)", p.Name, p.Skew())
	} else if errors.Is(err, crdt.ErrPosition) {
		return fmt.Sprintf("%s insert %s@%d out of range", p.Name, tok, pos)
	} else {
		s.must(err, "insert on "+p.Name)
	}
	s.record(d)
	return fmt.Sprintf("%s insert %s@%d", p.Name, tok, pos)
}

// converge waits for every replica to agree and to hold every edit made.
func (s *scenario) converge(log []string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.net.WaitConverged(ctx, s.id); err != nil {
		s.t.Fatalf("%v\nsteps: %v\nfaults: %+v", err, log, s.net.Stats())
	}
	for _, p := range s.running() {
		v, err := p.Doc(s.id).Vector()
		s.must(err, "vector")
		if !v.Covers(s.want) {
			s.t.Fatalf("%s converged without every edit: has %v, edits made %v\nsteps: %v", p.Name, v, s.want, log)
		}
	}
}

func names(ps []*Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}
