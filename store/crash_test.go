package store

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
)

var (
	crashRounds = flag.Int("crash.rounds", 50, "rounds of TestCrash (a longer mode: -crash.rounds=1000)")
	crashSeed   = flag.Uint64("crash.seed", 0, "seed of TestCrash; 0 picks one from the clock")
)

// The crash test re-executes the test binary as a child that appends
// random edits to two documents from two goroutines (so that their appends
// share group commits) and prints every acknowledged change, and markers
// when it writes a snapshot or collects value-log garbage. The parent
// SIGKILLs it at a seeded moment: after a number of acknowledgements, or
// at a snapshot or GC marker. Then it reopens the store and checks that
// every acknowledged change is there, that each document holds a gapless
// prefix of exactly the changes the child generated (the generator is
// deterministic, so the parent regenerates them), and that the text is
// the text of that prefix.

const (
	crashEnvDir   = "QUIRE_STORE_CRASH_DIR"
	crashEnvSeed  = "QUIRE_STORE_CRASH_SEED"
	crashDocs     = 2
	crashMaxEdits = 400 // per document and round; then the child idles until killed
)

// crashAuthor is the author of document i's edits.
func crashAuthor(i int) crdt.Author { return author(byte(10 + i)) }

// crashRand is the generator of round r, document i.
func crashRand(seed uint64, r, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(r)<<8|uint64(i)))
}

// crashConfig is the child's store configuration: snapshots and GC often,
// so that kills land in them.
func crashConfig(dir string) Config {
	return Config{Dir: dir, SnapshotEvery: 25, KeepRecent: 8, QueueLen: 16}
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	f := strings.Fields(os.Getenv(crashEnvSeed))
	seed, _ := strconv.ParseUint(f[0], 10, 64)
	round, _ := strconv.Atoi(f[1])

	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", a...)
		outMu.Unlock()
	}
	tick := make(chan time.Time, 1)
	cfg := crashConfig(dir)
	cfg.GCTick = tick
	cfg.hooks = &hooks{
		snapshotWrite: func(crdt.DocID) { say("S") },
		gc:            func() { say("G") },
	}
	db, err := Open(cfg)
	if err != nil {
		say("E %v", err)
		t.Fatal(err)
	}
	go db.Run(context.Background())
	var wg sync.WaitGroup
	for i := range crashDocs {
		wg.Go(func() {
			id := docID(byte(i + 1))
			d, err := crashLoad(db, id, crashAuthor(i))
			if err != nil {
				say("E %v", err)
				return
			}
			rng := crashRand(seed, round, i)
			gcRand := crashRand(seed, round, 100+i) // not rng: the parent replays rng
			for n := 0; n < crashMaxEdits; {
				k := 1 + rng.IntN(4)
				cs := randomEdits(t, rng, d, k)
				if err := db.Append(id, cs...); err != nil {
					say("E %v", err)
					return
				}
				for _, c := range cs {
					say("A %d %x %d", i, c.Hash[:], c.Seq+uint64(c.Len()))
				}
				n += k
				if gcRand.IntN(16) == 0 {
					select {
					case tick <- time.Time{}:
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	say("D")
	select {} // wait for the kill
}

// crashLoad loads document id, or starts it.
func crashLoad(db *DB, id crdt.DocID, a crdt.Author) (*crdt.Doc, error) {
	d, st, err := db.LoadDoc(id, a)
	if errors.Is(err, ErrNotFound) {
		return crdt.New(id, a), nil
	}
	if err != nil {
		return nil, err
	}
	if st.NeedsRepair() {
		return nil, fmt.Errorf("doc %s needs repair: %v", id, st.Damaged)
	}
	return d, nil
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	kills := map[string]int{}
	before := make([]*crdt.Doc, crashDocs)
	for i := range before {
		before[i] = crdt.New(docID(byte(i+1)), crashAuthor(i))
	}
	rounds := *crashRounds
	for round := range rounds {
		mode := crashRound(t, dir, seed, round, rng, before)
		kills[mode]++
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
	}
	t.Logf("kills: %v", kills)
}

// crashRound runs one child, kills it and checks the store. before holds
// the documents as the child will load them; crashRound replaces them with
// the documents after the kill. It returns where the kill landed.
func crashRound(t *testing.T, dir string, seed uint64, round int, rng *rand.Rand, before []*crdt.Doc) string {
	var want string
	var n int
	switch rng.IntN(4) {
	case 0, 1:
		want, n = "A", 1+rng.IntN(300)
	case 2:
		want, n = "S", 1+rng.IntN(3)
	default:
		want, n = "G", 1+rng.IntN(2)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, fmt.Sprintf("%s=%d %d", crashEnvSeed, seed, round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make([][]crdt.Hash, crashDocs)
	sc := bufio.NewScanner(out)
	seen, killed := 0, ""
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "A":
			i, _ := strconv.Atoi(f[1])
			var h crdt.Hash
			b, _ := hex.DecodeString(f[2])
			copy(h[:], b)
			acked[i] = append(acked[i], h)
		case "E":
			t.Errorf("round %d: child: %s", round, line)
		}
		if killed == "" && (f[0] == want || f[0] == "D" || f[0] == "E") {
			if seen++; seen >= n || f[0] == "D" || f[0] == "E" {
				cmd.Process.Kill() // SIGKILL
				killed = f[0]
			}
		}
	}
	cmd.Wait()

	db, err := Open(crashConfig(dir))
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer db.Close()
	for i := range crashDocs {
		crashCheck(t, db, seed, round, i, before[i], acked[i])
		// Start the next round from what the next child will load.
		if before[i], err = crashLoad(db, docID(byte(i+1)), crashAuthor(i)); err != nil {
			t.Fatal(err)
		}
	}
	return killed
}

// crashCheck checks document i after the kill.
func crashCheck(t *testing.T, db *DB, seed uint64, round, i int, before *crdt.Doc, acked []crdt.Hash) {
	id := docID(byte(i + 1))
	a := crashAuthor(i)
	got, err := crashLoad(db, id, a)
	if err != nil {
		t.Errorf("round %d doc %d: %v", round, i, err)
		return
	}
	// Regenerate what the child typed until the stored version is reached.
	rng := crashRand(seed, round, i)
	ref := before
	start := before.Vector().Clone()
	var gen []crdt.Hash
	var ends []uint64
	for n := 0; n < crashMaxEdits && ref.Vector()[a] < got.Vector()[a]; {
		k := 1 + rng.IntN(4)
		for _, c := range randomEdits(t, rng, ref, k) {
			gen = append(gen, c.Hash)
			ends = append(ends, c.Seq+uint64(c.Len()))
		}
		n += k
	}
	if ref.Vector()[a] != got.Vector()[a] {
		t.Errorf("round %d doc %d: stored %d ops, not the end of a generated change (%d); ends %v", round, i, got.Vector()[a], ref.Vector()[a], ends)
		return
	}
	if len(acked) > len(gen) {
		t.Errorf("round %d doc %d: %d changes acknowledged, only %d stored", round, i, len(acked), len(gen))
		return
	}
	for j, h := range acked {
		if h != gen[j] {
			t.Errorf("round %d doc %d: acknowledged change %d is %x, generated %x", round, i, j, h[:4], gen[j][:4])
			return
		}
		if !got.Has(h) {
			t.Errorf("round %d doc %d: acknowledged change %x lost", round, i, h[:4])
		}
	}
	if got.Text() != ref.Text() {
		t.Errorf("round %d doc %d: text differs from a replay of the stored changes", round, i)
	}
	// The per-author index has no gaps: it returns exactly the new changes.
	since, err := db.ChangesSince(id, start)
	if err != nil {
		t.Errorf("round %d doc %d: ChangesSince: %v", round, i, err)
		return
	}
	if len(since) != len(gen) {
		t.Errorf("round %d doc %d: ChangesSince returned %d changes, want %d", round, i, len(since), len(gen))
		return
	}
	for j, c := range since {
		if c.Hash != gen[j] {
			t.Errorf("round %d doc %d: ChangesSince[%d] = %x, want %x", round, i, j, c.Hash[:4], gen[j][:4])
			return
		}
	}
}
