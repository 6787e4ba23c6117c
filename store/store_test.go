package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
)

// fakeClock is a settable clock for catalogue times.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func openT(t testing.TB, cfg Config) *DB {
	t.Helper()
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func author(n byte) crdt.Author {
	var a crdt.Author
	a[0] = n
	return a
}

func docID(n byte) crdt.DocID {
	var id crdt.DocID
	id[0] = n
	return id
}

// randomEdits makes n sealed changes of random inserts and deletes on d.
func randomEdits(t testing.TB, rng *rand.Rand, d *crdt.Doc, n int) []*crdt.Change {
	t.Helper()
	var out []*crdt.Change
	for range n {
		for range 1 + rng.IntN(4) {
			if d.Len() > 0 && rng.IntN(3) == 0 {
				pos := rng.IntN(d.Len())
				if err := d.Delete(pos, 1+rng.IntN(min(3, d.Len()-pos))); err != nil {
					t.Fatal(err)
				}
			} else {
				s := string(rune('a' + rng.IntN(26)))
				if rng.IntN(8) == 0 {
					s = "\n# "
				}
				if err := d.Insert(rng.IntN(d.Len()+1), s); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = append(out, d.Seal()...)
	}
	return out
}

func TestAppendReopen(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	id := docID(1)
	d := crdt.New(id, author(1))
	cs := randomEdits(t, rng, d, 300)

	db := openT(t, Config{Dir: dir, SnapshotEvery: 50, KeepRecent: 10})
	for i := 0; i < len(cs); i += 7 {
		if err := db.Append(id, cs[i:min(i+7, len(cs))]...); err != nil {
			t.Fatal(err)
		}
	}
	// The same changes again are a no-op.
	if err := db.Append(id, cs[:20]...); err != nil {
		t.Fatal(err)
	}
	info, err := db.Info(id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Changes, int64(len(cs)); got != want {
		t.Errorf("Changes = %d after duplicate appends, want %d", got, want)
	}
	got, st, err := db.LoadDoc(id, author(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != d.Text() || st.NeedsRepair() || st.FromSnapshot {
		t.Errorf("before close: text equal %v, status %+v", got.Text() == d.Text(), st)
	}
	heads, err := db.Heads(id)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(heads) != fmt.Sprint(d.Heads()) {
		t.Errorf("Heads = %v, want %v", heads, d.Heads())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openT(t, Config{Dir: dir, SnapshotEvery: 50, KeepRecent: 10})
	defer db.Close()
	got, st, err = db.LoadDoc(id, author(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != d.Text() {
		t.Errorf("after reopen: text differs")
	}
	if !st.FromSnapshot || st.Changes != 0 || st.NeedsRepair() {
		t.Errorf("after reopen: status %+v, want a snapshot and no changes after it", st)
	}
	info, _ = db.Info(id)
	if info.Changes != 10 {
		t.Errorf("after close: %d change records kept, want KeepRecent=10", info.Changes)
	}
	if want := textTitle(d.Text()); info.Title != want || want == "" {
		t.Errorf("Title = %q, want %q from the text", info.Title, want)
	}
	for _, p := range []byte{prefixChange, prefixAuthor} {
		keys, _ := db.keys(docKey(p, id))
		if len(keys) != 10 {
			t.Errorf("after close: %d keys with prefix %q, want 10 (folded generations dropped)", len(keys), p)
		}
	}
	// Folded changes stay no-ops, and the document goes on.
	if err := db.Append(id, cs...); err != nil {
		t.Fatal(err)
	}
	more := randomEdits(t, rng, got, 5)
	if err := db.Append(id, more...); err != nil {
		t.Fatal(err)
	}
	again, st, err := db.LoadDoc(id, author(1))
	if err != nil {
		t.Fatal(err)
	}
	if again.Text() != got.Text() || st.Changes != 5 {
		t.Errorf("after more edits: text equal %v, %d changes after snapshot, want 5", again.Text() == got.Text(), st.Changes)
	}
	since, err := db.ChangesSince(id, d.Vector())
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 5 || since[0].Hash != more[0].Hash {
		t.Errorf("ChangesSince = %d changes, want the 5 new ones", len(since))
	}
	old, err := db.ChangesSince(id, crdt.Vector{})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != len(cs)+5 {
		t.Errorf("ChangesSince(empty) = %d changes, want %d", len(old), len(cs)+5)
	}
}

func TestRunCompacts(t *testing.T) {
	dir := t.TempDir()
	id := docID(2)
	d := crdt.New(id, author(1))
	rng := rand.New(rand.NewPCG(2, 2))
	cs := randomEdits(t, rng, d, 200)
	tick := make(chan time.Time)
	snaps := make(chan crdt.DocID, 16)
	cfg := Config{Dir: dir, SnapshotEvery: 100, KeepRecent: 20, GCTick: tick,
		hooks: &hooks{snapshotWrite: func(id crdt.DocID) { snaps <- id }}}
	db := openT(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- db.Run(ctx) }()
	if err := db.Append(id, cs...); err != nil {
		t.Fatal(err)
	}
	if got := <-snaps; got != id {
		t.Errorf("snapshot of %s, want %s", got, id)
	}
	tick <- time.Time{} // a GC pass runs without error
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	info, _ := db.Info(id)
	if info.Changes != 20 {
		t.Errorf("%d change records after compaction, want 20", info.Changes)
	}
	got, st, err := db.LoadDoc(id, author(1))
	if err != nil || got.Text() != d.Text() || !st.FromSnapshot {
		t.Errorf("LoadDoc: err %v, text equal %v, status %+v", err, got.Text() == d.Text(), st)
	}
	db.Close()
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, Config{Dir: dir})
	defer db.Close()
	_, err := Open(Config{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	t.Log(err)
}

func TestSchema(t *testing.T) {
	t.Run("newer", func(t *testing.T) {
		dir := t.TempDir()
		db := openT(t, Config{Dir: dir})
		db.bdb.Update(func(txn *badgerTxn) error { return txn.Set(keySchema, []byte{SchemaVersion + 1}) })
		db.Close()
		_, err := Open(Config{Dir: dir})
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("err = %v, want ErrNewerSchema", err)
		}
		t.Log(err)
	})
	t.Run("migrates", func(t *testing.T) {
		dir := t.TempDir()
		db := openT(t, Config{Dir: dir})
		db.bdb.Update(func(txn *badgerTxn) error { return txn.Set(keySchema, []byte{SchemaVersion - 1}) })
		db.Close()
		ran := 0
		fake := map[int]migration{SchemaVersion - 1: func(txn *badgerTxn) error {
			ran++
			return txn.Set(nameKey(prefixSetting, "migrated"), []byte("yes"))
		}}
		db, err := open(Config{Dir: dir}, fake)
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.Get(Settings, "migrated")
		if ran != 1 || string(v) != "yes" || err != nil {
			t.Errorf("migration ran %d times, setting %q, err %v", ran, v, err)
		}
		db.Close()
		if _, err := open(Config{Dir: dir}, fake); err != nil || ran != 1 {
			t.Errorf("reopen: err %v, migration ran %d times, want once", err, ran)
		}
	})
	t.Run("missing migration", func(t *testing.T) {
		dir := t.TempDir()
		db := openT(t, Config{Dir: dir})
		db.bdb.Update(func(txn *badgerTxn) error { return txn.Set(keySchema, []byte{0}) })
		db.Close()
		if _, err := open(Config{Dir: dir}, map[int]migration{}); err == nil {
			t.Error("opened a version-0 database without a migration")
		}
	})
}

// TestGroupCommit holds the committer in its first group while more
// appends queue up: they must all commit together in the next group.
func TestGroupCommit(t *testing.T) {
	release := make(chan struct{})
	groups := make(chan int, 16)
	cfg := Config{Dir: t.TempDir(), hooks: &hooks{commit: func(n int) {
		groups <- n
		if n == 1 {
			<-release
		}
	}}}
	db := openT(t, cfg)
	defer db.Close()
	id := docID(1)
	d := crdt.New(id, author(1))
	cs := randomEdits(t, rand.New(rand.NewPCG(5, 5)), d, 51)
	first := db.AppendAsync(id, cs[0])
	if n := <-groups; n != 1 {
		t.Fatalf("first group has %d requests, want 1", n)
	}
	var acks []<-chan error
	for _, c := range cs[1:] {
		acks = append(acks, db.AppendAsync(id, c))
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := <-groups; n != 50 {
		t.Errorf("second group has %d requests, want all 50 queued ones", n)
	}
	for _, a := range acks {
		if err := <-a; err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := db.LoadDoc(id, author(1))
	if err != nil || got.Text() != d.Text() {
		t.Errorf("LoadDoc: err %v, text equal %v", err, got.Text() == d.Text())
	}
}

// TestStaleSnapshotRefused installs a snapshot built from an older
// generation: it must be refused, or it would undo what the newer
// snapshot folded.
func TestStaleSnapshotRefused(t *testing.T) {
	db := openT(t, Config{Dir: t.TempDir(), KeepRecent: 1})
	defer db.Close()
	id := docID(1)
	d := crdt.New(id, author(1))
	cs := randomEdits(t, rand.New(rand.NewPCG(6, 6)), d, 20)
	if err := db.Append(id, cs[:10]...); err != nil {
		t.Fatal(err)
	}
	stale := &install{gen: 0, label: snapshot{Vector: crdt.Vector{}}, record: []byte("stale")}
	if err := db.Compact(id); err != nil {
		t.Fatal(err)
	}
	err := db.doInternal(&request{kind: reqSnapshot, id: id, install: stale})
	if !errors.Is(err, errStaleSnapshot) {
		t.Fatalf("stale install: err = %v, want errStaleSnapshot", err)
	}
	if err := db.Append(id, cs[10:]...); err != nil {
		t.Fatal(err)
	}
	got, st, err := db.LoadDoc(id, author(1))
	if err != nil || got.Text() != d.Text() || st.NeedsRepair() {
		t.Errorf("LoadDoc: err %v, text equal %v, status %+v", err, got.Text() == d.Text(), st)
	}
}

// TestRunCompactsWhenQuiet: with SnapshotQuiet set, a due document is
// compacted only once it has gone that long without a new change, or at
// once when it reaches the cap, whatever its quiet.
func TestRunCompactsWhenQuiet(t *testing.T) {
	const every, quiet = 50, 2 * time.Second
	dir := t.TempDir()
	id := docID(3)
	d := crdt.New(id, author(1))
	rng := rand.New(rand.NewPCG(3, 3))
	cs := randomEdits(t, rng, d, 6*every)

	var mu sync.Mutex
	clock := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	type timer struct {
		d time.Duration
		c chan time.Time
	}
	timers := make(chan timer, 1)
	passes := make(chan int, 16)
	snaps := make(chan crdt.DocID, 16)
	cfg := Config{Dir: dir, SnapshotEvery: every, KeepRecent: 10, SnapshotQuiet: quiet, Now: now,
		After: func(d time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			timers <- timer{d, c}
			return c
		},
		hooks: &hooks{
			snapshotWrite: func(id crdt.DocID) { snaps <- id },
			compactPass:   func(waiting int) { passes <- waiting },
		}}
	db := openT(t, cfg)
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- db.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	since := func() int64 {
		t.Helper()
		l, err := db.list()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l {
			if e.id == id {
				return e.meta.SinceSnapshot
			}
		}
		t.Fatal("document not listed")
		return 0
	}

	// Due, but edited just now: the pass leaves it and arms a timer for
	// the whole quiet period.
	if err := db.Append(id, cs[:every+5]...); err != nil {
		t.Fatal(err)
	}
	if w := <-passes; w != 1 {
		t.Fatalf("first pass left %d documents waiting, want 1", w)
	}
	tm := <-timers
	if tm.d != quiet {
		t.Errorf("timer armed for %v, want %v", tm.d, quiet)
	}

	// Edited again a second later: the timer finds it quiet for only a
	// second and waits for the rest.
	advance(time.Second)
	if err := db.Append(id, cs[every+5:every+10]...); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	tm.c <- now()
	if w := <-passes; w != 1 {
		t.Fatalf("second pass left %d documents waiting, want 1", w)
	}
	if tm = <-timers; tm.d != time.Second {
		t.Errorf("timer re-armed for %v, want 1s", tm.d)
	}
	if n := since(); n != every+10 {
		t.Errorf("%d changes since the snapshot before quiet, want %d", n, every+10)
	}

	// Quiet for two seconds: compacted.
	advance(time.Second)
	tm.c <- now()
	if got := <-snaps; got != id {
		t.Errorf("snapshot of %s, want %s", got, id)
	}
	if w := <-passes; w != 0 {
		t.Errorf("quiet pass left %d documents waiting, want 0", w)
	}

	// Typing that never stops: the timer keeps being re-armed, and the
	// document is compacted when it reaches the cap, without the timer.
	if err := db.Append(id, cs[every+10:2*every+10]...); err != nil {
		t.Fatal(err)
	}
	<-passes
	tm = <-timers
	if err := db.Append(id, cs[2*every+10:]...); err != nil { // 4×every+40 since the snapshot: over the cap
		t.Fatal(err)
	}
	if got := <-snaps; got != id {
		t.Errorf("snapshot of %s at the cap, want %s", got, id)
	}
	if w := <-passes; w != 0 {
		t.Errorf("pass at the cap left %d documents waiting, want 0", w)
	}
	got, st, err := db.LoadDoc(id, author(1))
	if err != nil || got.Text() != d.Text() || !st.FromSnapshot {
		t.Errorf("LoadDoc: err %v, text equal %v, status %+v", err, got.Text() == d.Text(), st)
	}
	select {
	case <-timers:
		t.Error("a timer was armed after the document was compacted")
	default:
	}
}

// TestQuietCompactionClockSetBack: a document last changed "in the future"
// (the clock was set back since) waits one quiet period, not the jump.
func TestQuietCompactionClockSetBack(t *testing.T) {
	const every, quiet = 20, 2 * time.Second
	id := docID(4)
	d := crdt.New(id, author(1))
	cs := randomEdits(t, rand.New(rand.NewPCG(4, 4)), d, every)
	var mu sync.Mutex
	clock := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	waits := make(chan time.Duration, 1)
	db := openT(t, Config{Dir: t.TempDir(), SnapshotEvery: every, SnapshotQuiet: quiet, Now: now,
		After: func(d time.Duration) <-chan time.Time { waits <- d; return make(chan time.Time) }})
	defer db.Close()
	if err := db.Append(id, cs...); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(-time.Hour)
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- db.Run(ctx) }()
	// The committer signalled the due document when it stored it.
	if w := <-waits; w != quiet {
		t.Errorf("after the clock went back an hour, the pass waits %v, want %v", w, quiet)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
