package store

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
)

func TestCatalogue(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	dir := t.TempDir()
	db := openT(t, Config{Dir: dir, Now: clock.Now})
	a, b := docID(1), docID(2)
	if err := db.Create(a, "Notes"); err != nil {
		t.Fatal(err)
	}
	created := clock.Now()
	clock.Set(created.Add(time.Hour))
	d := crdt.New(b, author(1))
	cs := randomEdits(t, rand.New(rand.NewPCG(3, 3)), d, 10)
	if err := db.Append(b, cs...); err != nil {
		t.Fatal(err)
	}
	clock.Set(created.Add(2 * time.Hour))
	if err := db.Append(a, randomEdits(t, rand.New(rand.NewPCG(4, 4)), crdt.New(a, author(2)), 3)...); err != nil {
		t.Fatal(err)
	}
	if err := db.Archive(b, true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTitle(b, "Plan"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTitle(docID(9), "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetTitle of unknown doc: err = %v, want ErrNotFound", err)
	}
	db.Close()

	db = openT(t, Config{Dir: dir, Now: clock.Now})
	defer db.Close()
	list, err := db.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List = %d entries, want 2", len(list))
	}
	ia, ib := list[0], list[1]
	if ia.ID != a || ia.Title != "Notes" || !ia.Created.Equal(created) || !ia.Modified.Equal(created.Add(2*time.Hour)) || ia.Archived {
		t.Errorf("entry a = %+v", ia)
	}
	if ib.ID != b || ib.Title != "Plan" || !ib.Created.Equal(created.Add(time.Hour)) || !ib.Archived || ib.Bytes <= 0 {
		t.Errorf("entry b = %+v", ib)
	}

	t.Run("delete", func(t *testing.T) {
		if err := db.Delete(b); err != nil {
			t.Fatal(err)
		}
		if err := db.Append(b, cs...); !errors.Is(err, ErrDeleted) {
			t.Errorf("Append after Delete: err = %v, want ErrDeleted", err)
		}
		if _, _, err := db.LoadDoc(b, author(1)); !errors.Is(err, ErrDeleted) {
			t.Errorf("LoadDoc after Delete: err = %v, want ErrDeleted", err)
		}
		list, _ := db.List()
		if len(list) != 1 || list[0].ID != a {
			t.Errorf("List after Delete = %+v, want only a", list)
		}
		keys, _ := db.keys(docKey(prefixChange, b))
		if len(keys) != 0 {
			t.Errorf("%d change records left after Delete", len(keys))
		}
		ts, err := db.Deleted(b)
		if err != nil || !ts.Deleted.Equal(clock.Now()) {
			t.Errorf("Deleted = %+v, %v", ts, err)
		}
	})
	t.Run("data left by a crash during delete", func(t *testing.T) {
		// What a crash between the tombstone and the last deletion leaves.
		err := db.bdb.Update(func(txn *badgerTxn) error {
			return txn.Set(changeKey(b, 0, cs[0].Hash), encodeChangeValue(0, cs[0].Encode()))
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.doInternal(&request{kind: reqVacuum}); err != nil {
			t.Fatal(err)
		}
		if keys, _ := db.keys(docKey(prefixChange, b)); len(keys) != 0 {
			t.Errorf("%d change records of a deleted document left after vacuum", len(keys))
		}
	})
	t.Run("stale peer after reopen", func(t *testing.T) {
		db.Close()
		db = openT(t, Config{Dir: dir, Now: clock.Now})
		if err := db.Append(b, cs...); !errors.Is(err, ErrDeleted) {
			t.Errorf("Append after reopen: err = %v, want ErrDeleted", err)
		}
	})
}

func TestRecords(t *testing.T) {
	db := openT(t, Config{Dir: t.TempDir()})
	defer db.Close()
	for _, k := range []Kind{Tokens, Peers, Settings} {
		if err := db.Put(k, "b", []byte("2")); err != nil {
			t.Fatal(err)
		}
		if err := db.Put(k, "a", []byte{byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := db.Get(Peers, "a")
	if err != nil || string(v) != "p" {
		t.Errorf("Get(Peers, a) = %q, %v", v, err)
	}
	names, _ := db.Names(Settings)
	if len(names) != 2 || names[0] != "a" || names[1] != "b" {
		t.Errorf("Names(Settings) = %q", names)
	}
	db.Remove(Settings, "a")
	if _, err := db.Get(Settings, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: err = %v", err)
	}
	if err := db.Put(Kind('c'), "x", nil); err == nil {
		t.Error("Put accepted a document prefix as a kind")
	}
}

func TestTextTitle(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", ""},
		{"\n\n  # Hello world \nbody", "Hello world"},
		{"plain first line\nsecond", "plain first line"},
		{"### ", ""},
	} {
		if got := textTitle(tc.text); got != tc.want {
			t.Errorf("textTitle(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
