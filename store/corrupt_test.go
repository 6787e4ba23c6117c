package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

// corruptFixture stores 60 changes of one document (with a snapshot, no
// change folded) and closes the store.
func corruptFixture(t *testing.T, seed uint64) (dir string, d *crdt.Doc, cs []*crdt.Change) {
	t.Helper()
	t.Logf("seed %d", seed)
	dir = t.TempDir()
	d = crdt.New(docID(1), author(1))
	cs = randomEdits(t, rand.New(rand.NewPCG(seed, 9)), d, 60)
	db := openT(t, Config{Dir: dir, KeepRecent: 1000})
	if err := db.Append(docID(1), cs...); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // writes the snapshot
		t.Fatal(err)
	}
	return dir, d, cs
}

// flipIn flips one byte in the middle of the first occurrence of needle in
// the database files, and reports whether it found one.
func flipIn(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "db", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, needle); i >= 0 {
			b[i+len(needle)/2] ^= 0x5a
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return true
		}
	}
	return false
}

func TestCorruptChangeRecord(t *testing.T) {
	dir, d, cs := corruptFixture(t, 1)
	victim := cs[len(cs)-1]
	if !flipIn(t, dir, victim.Encode()) {
		t.Fatal("change record not found in the files")
	}
	db := openT(t, Config{Dir: dir})
	defer db.Close()
	got, st, err := db.LoadDoc(docID(1), author(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Damaged) != 1 || !strings.HasSuffix(st.Damaged[0].Key, hexKey(victim.Hash[:])) || st.Damaged[0].Doc != docID(1) {
		t.Fatalf("Damaged = %v, want the flipped change record", st.Damaged)
	}
	t.Log(st.Damaged[0])
	if !st.NeedsRepair() {
		t.Error("NeedsRepair = false")
	}
	// The snapshot still holds the change, so nothing is lost.
	if got.Text() != d.Text() {
		t.Error("text differs though the snapshot is intact")
	}
	if err := db.Compact(docID(1)); err == nil {
		t.Error("Compact folded a document with damaged records")
	}
}

func TestCorruptSnapshotAndChange(t *testing.T) {
	dir, d, cs := corruptFixture(t, 2)
	db := openT(t, Config{Dir: dir})
	var snap []byte
	db.bdb.View(func(txn *badgerTxn) error {
		snap, _ = getValue(txn, docKey(prefixSnapshot, docID(1)))
		return nil
	})
	db.Close()
	if !flipIn(t, dir, snap[len(snap)-40:]) { // inside the document encoding
		t.Fatal("snapshot not found in the files")
	}
	victim := cs[40]
	if !flipIn(t, dir, victim.Encode()) {
		t.Fatal("change record not found in the files")
	}

	db = openT(t, Config{Dir: dir})
	defer db.Close()
	got, st, err := db.LoadDoc(docID(1), author(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Damaged) != 2 || st.FromSnapshot {
		t.Fatalf("status %+v, want 2 damaged records and no snapshot", st)
	}
	if !st.NeedsRepair() || len(st.Missing) != 1 || st.Missing[0] != victim.Hash {
		t.Errorf("Missing = %v, want the damaged change %x", st.Missing, victim.Hash[:4])
	}
	// What is intact opens: every change before the damaged one.
	want := crdt.New(docID(1), author(1))
	want.Apply(cs[:40]...)
	if got.Text() != want.Text() {
		t.Errorf("text = %q, want the text before the damaged change %q", got.Text(), want.Text())
	}
	if d.Text() == want.Text() {
		t.Fatal("fixture: damaged change changed nothing")
	}
	// A peer resends the damaged change: the store takes it and the
	// document is whole again.
	if err := db.Append(docID(1), victim); err != nil {
		t.Fatal(err)
	}
	got, st, err = db.LoadDoc(docID(1), author(1))
	if err != nil || got.Text() != d.Text() || len(st.Missing) != 0 {
		t.Errorf("after repair: err %v, text equal %v, status %+v", err, got.Text() == d.Text(), st)
	}
}

// TestCorruptRandomBytes flips random bytes anywhere in the files: opening
// and loading must fail cleanly or report damage, never panic.
func TestCorruptRandomBytes(t *testing.T) {
	for i := range 20 {
		seed := uint64(100 + i)
		dir, _, _ := corruptFixture(t, seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		files, _ := filepath.Glob(filepath.Join(dir, "db", "*"))
		for range 4 {
			f := files[rng.IntN(len(files))]
			b, _ := os.ReadFile(f)
			if len(b) == 0 {
				continue
			}
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			os.WriteFile(f, b, 0o600)
		}
		db, err := Open(Config{Dir: dir})
		if err != nil {
			t.Logf("seed %d: Open: %v", seed, err)
			continue
		}
		_, st, err := db.LoadDoc(docID(1), author(1))
		if err != nil && !errors.Is(err, errBadgerPanic) {
			t.Errorf("seed %d: LoadDoc: %v", seed, err)
		}
		t.Logf("seed %d: LoadDoc err %v, %d damaged, %d missing", seed, err, len(st.Damaged), len(st.Missing))
		db.Close()
	}
}
