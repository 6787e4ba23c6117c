package store

import (
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestBadgerReopen proves the Badger dependency builds and works here with
// the small-memory settings the store will use: write with synced commits,
// close, reopen, read back. The store's own schema replaces this test when
// package store gains its database.
func TestBadgerReopen(t *testing.T) {
	dir := t.TempDir()
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(true).
		WithMemTableSize(8 << 20).
		WithValueThreshold(1 << 10). // must stay below the memtable's batch limit
		WithBlockCacheSize(8 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("doc/1/text"), []byte("# hello"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []byte
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("doc/1/text"))
		if err != nil {
			return err
		}
		got, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "# hello" {
		t.Errorf("read %q after reopen, want %q", got, "# hello")
	}
}
