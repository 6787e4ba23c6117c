package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/quire-dev/quire/crdt"
)

// snapshotCap is how many times Config.SnapshotEvery changes a document
// may gather while Run waits for it to go quiet.
const snapshotCap = 4

// snapshotDue compacts every document with at least Config.SnapshotEvery
// changes since its last snapshot that has had no new change for
// Config.SnapshotQuiet, or that has reached the cap. It returns how long
// until the soonest of the due documents it left would be quiet (0 if it
// left none).
func (db *DB) snapshotDue(ctx context.Context) (wait time.Duration, err error) {
	every, q := int64(db.cfg.SnapshotEvery), db.cfg.SnapshotQuiet
	now := db.cfg.Now()
	waiting := 0
	err = db.compactWhere(ctx, func(m docMeta) bool {
		if m.SinceSnapshot < every {
			return false
		}
		idle := max(now.Sub(m.Modified), 0) // a clock set back waits one quiet period, not the jump
		if q <= 0 || idle >= q || m.SinceSnapshot >= snapshotCap*every {
			return true
		}
		if w := q - idle; wait == 0 || w < wait {
			wait = w
		}
		waiting++
		return false
	})
	if h := db.cfg.hooks.compactPass; h != nil {
		h(waiting)
	}
	return wait, err
}

// snapshotDirty compacts every document with any change since its last
// snapshot (Close calls it).
func (db *DB) snapshotDirty(ctx context.Context) error {
	return db.compactWhere(ctx, func(m docMeta) bool { return m.SinceSnapshot > 0 })
}

func (db *DB) compactWhere(ctx context.Context, due func(docMeta) bool) error {
	docs, err := db.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range docs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if due(e.meta) {
			if err := db.compact(e.id); err != nil && !errors.Is(err, ErrDeleted) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Compact writes a fresh snapshot of document id and folds into it every
// change it covers except the Config.KeepRecent most recently stored. The
// document stays readable throughout; the committer writes the snapshot
// and deletes the folded records in one synced transaction. Run calls it
// in the background; tools may call it directly.
func (db *DB) Compact(id crdt.DocID) error {
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return db.compact(id)
}

func (db *DB) compact(id crdt.DocID) error {
	// One compaction at a time: they are CPU-heavy, and a second one
	// built from the same generation would be refused anyway.
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	var (
		in   install
		skip bool
	)
	err := db.view(func(txn *badger.Txn) error {
		var m docMeta
		if err := getJSON(txn, docKey(prefixCatalog, id), &m); err != nil {
			return err
		}
		in.sawArrival, in.gen = m.NextArrival, m.Gen
		d, st, recs, err := db.readDoc(txn, id, crdt.Author{})
		if err != nil {
			return err
		}
		if len(st.Damaged) > 0 {
			// Folding now could bury the damage under a snapshot that
			// looks whole; leave it for repair from peers.
			return fmt.Errorf("%d damaged records, needs repair", len(st.Damaged))
		}
		if st.Changes == 0 && st.FromSnapshot && len(recs) <= db.cfg.KeepRecent {
			skip = true
			return nil
		}
		in.label = snapshot{Heads: d.Heads(), Vector: d.Vector(), Data: d.Encode()}
		// Never fold changes into a snapshot that cannot be read back:
		// the snapshot would be the only copy of them.
		if err := verifySnapshot(d, in.label.Data); err != nil {
			return err
		}
		in.record = encodeSnapshot(in.label)
		in.title = textTitle(d.Text())
		slices.SortFunc(recs, func(a, b stored) int { return cmp.Compare(a.arrival, b.arrival) })
		old := recs[:max(0, len(recs)-db.cfg.KeepRecent)]
		for _, r := range old {
			if d.Has(r.change.Hash) {
				in.fold = append(in.fold, r)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compact %s: %w", id, err)
	}
	if skip {
		return nil
	}
	return db.doInternal(&request{kind: reqSnapshot, id: id, install: &in})
}

// verifySnapshot checks that data decodes to d's text and version.
func verifySnapshot(d *crdt.Doc, data []byte) error {
	back, err := crdt.Decode(data, crdt.Author{})
	if err != nil {
		return fmt.Errorf("snapshot does not decode, not written: %w", err)
	}
	if back.Text() != d.Text() || !slices.Equal(back.Heads(), d.Heads()) {
		return errors.New("snapshot decodes to a different document, not written")
	}
	return nil
}
