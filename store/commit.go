package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/quire-dev/quire/crdt"
)

// errStaleSnapshot refuses a snapshot built before another was installed.
var errStaleSnapshot = errors.New("stale snapshot")

// maxGroup bounds how many queued requests one group commit takes.
const maxGroup = 4096

type requestKind int

const (
	reqAppend requestKind = iota
	reqSnapshot
	reqDelete
	reqMeta
	reqVacuum
)

// request is one call waiting for the committer. done receives exactly
// one value, after the request's writes are synced (or failed).
type request struct {
	kind    requestKind
	id      crdt.DocID
	changes []*crdt.Change
	install *install             // reqSnapshot
	meta    func(*docMeta) error // reqMeta
	create  bool                 // reqMeta: create the entry if missing
	done    chan error
}

// install is a snapshot the compactor built, for the committer to write
// together with the deletion of the changes it folds.
type install struct {
	record     []byte
	label      snapshot
	fold       []stored // changes the snapshot covers that are deleted
	sawArrival uint64   // meta.NextArrival when the compactor read the doc
	title      string   // textTitle of the snapshot's text
	gen        uint32   // meta.Gen when the compactor read the doc
}

// docState is the committer's cache of one document's bookkeeping. Only
// the committer goroutine touches it.
type docState struct {
	meta    docMeta
	exists  bool
	deleted bool
	snapVec crdt.Vector
	heads   map[crdt.Hash]struct{}
	// waiting holds parents named by changes stored in this session that
	// were not heads then: when one arrives later (out of order) it is not
	// a head. Cleared by each snapshot, which rewrites the exact heads.
	waiting map[crdt.Hash]struct{}
}

// committer is the one goroutine that writes document data. It takes
// every request queued while the previous group was syncing and commits
// them together: a burst of appends costs one sync.
type committer struct {
	db   *DB
	docs map[crdt.DocID]*docState
}

func newCommitter(db *DB) *committer {
	return &committer{db: db, docs: make(map[crdt.DocID]*docState)}
}

// Append stores changes of document id and returns once they are durable
// (fsynced). Changes already stored, or covered by the document's
// snapshot, are skipped, so appending the same change twice is a no-op.
// All the changes of one call commit atomically. Append blocks while the
// committer's queue (Config.QueueLen) is full; it never drops a change.
// Changes must carry their Hash (from crdt.Doc.Seal or crdt.DecodeChange).
// It returns ErrDeleted for a deleted document.
func (db *DB) Append(id crdt.DocID, changes ...*crdt.Change) error {
	if len(changes) == 0 {
		return nil
	}
	return db.do(&request{kind: reqAppend, id: id, changes: changes})
}

// AppendAsync is Append without the wait: it queues the changes (blocking
// only while the queue is full) and returns a channel that receives
// Append's result once they are durable, or a failure. A caller that
// persists, then broadcasts can keep editing meanwhile and broadcast when
// the result arrives; a bulk importer can keep many appends in flight so
// that each sync covers a large group.
func (db *DB) AppendAsync(id crdt.DocID, changes ...*crdt.Change) <-chan error {
	if len(changes) == 0 {
		done := make(chan error, 1)
		done <- nil
		return done
	}
	return db.enqueue(&request{kind: reqAppend, id: id, changes: changes})
}

// do queues r for the committer and waits for its result.
func (db *DB) do(r *request) error {
	return <-db.enqueue(r)
}

// enqueue queues r for the committer and returns its result channel.
func (db *DB) enqueue(r *request) <-chan error {
	r.done = make(chan error, 1)
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		r.done <- ErrClosed
		return r.done
	}
	db.reqs <- r
	return r.done
}

// doInternal is do for the store's own requests, which Close still makes
// after it has refused new Appends.
func (db *DB) doInternal(r *request) error {
	r.done = make(chan error, 1)
	db.reqs <- r
	return <-r.done
}

func (c *committer) run() {
	defer close(c.db.stopped)
	batch := make([]*request, 0, 64)
	for {
		select {
		case r := <-c.db.reqs:
			batch = append(batch[:0], r)
		case <-c.db.stop:
			for {
				select {
				case r := <-c.db.reqs:
					c.commit([]*request{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxGroup {
			select {
			case r := <-c.db.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.commit(batch)
	}
}

// commit writes a group of requests in as few transactions as Badger
// allows (each synced on commit) and then answers every request. A
// vacuum request runs on its own, between the requests around it.
func (c *committer) commit(batch []*request) {
	for len(batch) > 0 {
		i := slices.IndexFunc(batch, func(r *request) bool { return r.kind == reqVacuum })
		switch {
		case i < 0:
			c.commitGroup(batch)
			return
		case i > 0:
			c.commitGroup(batch[:i])
		}
		batch[i].done <- c.vacuum()
		batch = batch[i+1:]
	}
}

func (c *committer) commitGroup(batch []*request) {
	if h := c.db.cfg.hooks.commit; h != nil {
		h(len(batch))
	}
	touched := make(map[crdt.DocID]*docState)
	errs := make([]error, len(batch))
	fatal := c.write(batch, touched, errs)
	if fatal != nil {
		c.db.log.Error("store commit", "err", fatal)
		for id := range touched {
			delete(c.docs, id) // reload from disk: partial groups may have landed
		}
	}
	due := false
	every := int64(c.db.cfg.SnapshotEvery)
	for _, st := range touched {
		due = due || st.meta.SinceSnapshot >= every
		if st.meta.SinceSnapshot >= snapshotCap*every {
			c.db.urgent.Store(true)
		}
	}
	for i, r := range batch {
		if fatal != nil {
			errs[i] = fmt.Errorf("store %s: %w", r.id, fatal)
		}
		r.done <- errs[i]
	}
	if due {
		select {
		case c.db.dirty <- struct{}{}:
		default:
		}
	}
}

// write applies the group's requests and commits them. A panic inside
// Badger (damaged files) fails the group instead of the process.
func (c *committer) write(batch []*request, touched map[crdt.DocID]*docState, errs []error) (fatal error) {
	w := &writer{bdb: c.db.bdb, txn: c.db.bdb.NewTransaction(true)}
	defer func() {
		if p := recover(); p != nil {
			w.txn.Discard()
			fatal = fmt.Errorf("%w: %v", errBadgerPanic, firstLine(fmt.Sprint(p)))
		}
	}()
	for i, r := range batch {
		errs[i], fatal = c.apply(w, r, touched)
		if fatal != nil {
			w.txn.Discard()
			return fatal
		}
	}
	if fatal = c.writeState(w, touched); fatal != nil {
		w.txn.Discard()
		return fatal
	}
	return w.commit()
}

// apply adds r's writes to w. It returns r's own error (the request is
// refused, the group goes on) and a fatal error that fails the group.
func (c *committer) apply(w *writer, r *request, touched map[crdt.DocID]*docState) (error, error) {
	st, err := c.state(r.id)
	if err != nil {
		return nil, err
	}
	switch r.kind {
	case reqAppend:
		if st.deleted {
			return fmt.Errorf("append to %s: %w", r.id, ErrDeleted), nil
		}
		touched[r.id] = st
		return nil, c.appendChanges(w, r.id, st, r.changes)
	case reqSnapshot:
		if st.deleted {
			return fmt.Errorf("snapshot %s: %w", r.id, ErrDeleted), nil
		}
		if st.meta.Gen != r.install.gen {
			// Another snapshot was installed since this one was built:
			// this one may not cover what that one folded.
			return fmt.Errorf("snapshot %s: built from generation %d, now %d: %w", r.id, r.install.gen, st.meta.Gen, errStaleSnapshot), nil
		}
		touched[r.id] = st
		return nil, c.installSnapshot(w, r.id, st, r.install)
	case reqDelete:
		if st.deleted {
			return nil, nil
		}
		touched[r.id] = st
		return nil, c.deleteDoc(w, r.id, st)
	case reqMeta:
		if st.deleted {
			return fmt.Errorf("document %s: %w", r.id, ErrDeleted), nil
		}
		if !st.exists && !r.create {
			return fmt.Errorf("document %s: %w", r.id, ErrNotFound), nil
		}
		if !st.exists {
			now := c.db.cfg.Now()
			st.exists, st.meta.Created, st.meta.Modified = true, now, now
		}
		m := st.meta
		if err := r.meta(&m); err != nil {
			return err, nil
		}
		st.meta = m
		touched[r.id] = st
		return nil, nil
	}
	panic(fmt.Sprintf("store: unknown request kind %d", r.kind))
}

func (c *committer) appendChanges(w *writer, id crdt.DocID, st *docState, cs []*crdt.Change) error {
	now := c.db.cfg.Now()
	if !st.exists {
		st.exists = true
		st.meta.Created = now
	}
	added := false
	for _, ch := range cs {
		n := uint64(ch.Len())
		if ch.Seq+n <= st.snapVec[ch.Author] {
			continue // folded into the snapshot
		}
		key := changeKey(id, st.meta.Gen, ch.Hash)
		enc := encodeStoredChange(ch)
		if item, err := w.txn.Get(key); err == nil {
			// Stored already, unless the stored record is damaged: then
			// this copy (resent by a peer) repairs it.
			intact := false
			item.Value(func(v []byte) error {
				_, old, err := decodeChangeValue(v)
				intact = err == nil && bytes.Equal(old, enc)
				return nil
			})
			if intact {
				continue
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		val := encodeChangeValue(st.meta.NextArrival, enc)
		if err := w.set(key, val); err != nil {
			return err
		}
		if err := w.set(authorKey(id, st.meta.Gen, ch.Author, ch.Seq), encodeAuthorValue(ch.Hash, int(n))); err != nil {
			return err
		}
		st.meta.NextArrival++
		st.meta.Changes++
		st.meta.SinceSnapshot++
		st.meta.Bytes += int64(len(key) + len(val))
		for _, p := range ch.Parents {
			if _, ok := st.heads[p]; ok {
				delete(st.heads, p)
			} else {
				st.waiting[p] = struct{}{}
			}
		}
		if _, ok := st.waiting[ch.Hash]; ok {
			delete(st.waiting, ch.Hash)
		} else {
			st.heads[ch.Hash] = struct{}{}
		}
		added = true
	}
	if added {
		st.meta.Modified = now
	}
	return nil
}

func (c *committer) installSnapshot(w *writer, id crdt.DocID, st *docState, in *install) error {
	if h := c.db.cfg.hooks.snapshotWrite; h != nil {
		h(id)
	}
	folded := make(map[crdt.Hash]bool, len(in.fold))
	for _, s := range in.fold {
		folded[s.change.Hash] = true
	}
	// Read the generation's records before writing: w may commit and
	// start a new transaction on any write.
	recs, err := genRecords(w.txn, id, st.meta.Gen)
	if err != nil {
		return err
	}
	if err := w.set(docKey(prefixSnapshot, id), in.record); err != nil {
		return err
	}
	// Start the next generation with every record the snapshot does not
	// fold: the recent ones, and any stored after the compactor read.
	gen := st.meta.Gen + 1
	var n, size int64
	for _, r := range recs {
		if folded[r.hash] {
			continue
		}
		k := changeKey(id, gen, r.hash)
		if err := w.set(k, r.value); err != nil {
			return err
		}
		if r.change != nil {
			if err := w.set(authorKey(id, gen, r.change.Author, r.change.Seq), encodeAuthorValue(r.hash, r.change.Len())); err != nil {
				return err
			}
		}
		n++
		size += int64(len(k) + len(r.value))
	}
	st.meta.Gen = gen
	st.meta.TextTitle = in.title
	st.meta.Changes = n
	st.meta.Bytes = size + int64(len(in.record))
	st.meta.SnapshotBytes = int64(len(in.record))
	st.meta.SinceSnapshot = int64(st.meta.NextArrival - in.sawArrival)
	st.snapVec = in.label.Vector
	if st.meta.NextArrival == in.sawArrival {
		clear(st.waiting)
		st.heads = make(map[crdt.Hash]struct{}, len(in.label.Heads))
		for _, h := range in.label.Heads {
			st.heads[h] = struct{}{}
		}
	}
	return nil
}

// genRecord is one change record of a generation, decoded where intact.
type genRecord struct {
	hash   crdt.Hash
	value  []byte
	change *crdt.Change // nil if the record is damaged
}

func genRecords(txn *badger.Txn, id crdt.DocID, gen uint32) ([]genRecord, error) {
	var out []genRecord
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: genKey(prefixChange, id, gen)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		h, ok := parseChangeKey(it.Item().Key())
		if !ok {
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		r := genRecord{hash: h, value: v}
		if _, enc, err := decodeChangeValue(v); err == nil {
			if ch, err := decodeStoredChange(id, enc); err == nil && ch.Hash == h {
				r.change = ch
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// vacuum drops every folded generation of every document. Badger's
// DropPrefix blocks writes while it rewrites the tables concerned, so
// only the committer calls it, between groups.
func (c *committer) vacuum() error {
	docs, err := c.db.list()
	if err != nil {
		return err
	}
	var prefixes [][]byte
	var ids []crdt.DocID
	for _, l := range docs {
		for g := l.meta.OldestGen; g < l.meta.Gen; g++ {
			prefixes = append(prefixes, genKey(prefixChange, l.id, g), genKey(prefixAuthor, l.id, g))
		}
		if l.meta.OldestGen < l.meta.Gen {
			ids = append(ids, l.id)
		}
	}
	// Data a crash left behind while Delete removed it record by record.
	gone, err := c.db.deletedWithData()
	if err != nil {
		return err
	}
	for _, id := range gone {
		for _, p := range []byte{prefixChange, prefixAuthor, prefixSnapshot, prefixHeads, prefixCatalog} {
			prefixes = append(prefixes, docKey(p, id))
		}
	}
	if len(prefixes) == 0 {
		return nil
	}
	if err := c.db.bdb.DropPrefix(prefixes...); err != nil {
		return fmt.Errorf("drop folded generations: %w", err)
	}
	w := &writer{bdb: c.db.bdb, txn: c.db.bdb.NewTransaction(true)}
	touched := make(map[crdt.DocID]*docState)
	for _, id := range ids {
		st, err := c.state(id)
		if err != nil {
			w.txn.Discard()
			return err
		}
		st.meta.OldestGen = st.meta.Gen
		touched[id] = st
	}
	if err := c.writeState(w, touched); err != nil {
		w.txn.Discard()
		return err
	}
	return w.commit()
}

// deletedWithData returns the deleted documents that still have records.
func (db *DB) deletedWithData() ([]crdt.DocID, error) {
	var out []crdt.DocID
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixTomb}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, ok := parseDocKey(it.Item().Key())
			if !ok {
				continue
			}
			for _, p := range []byte{prefixChange, prefixAuthor, prefixSnapshot} {
				if hasPrefix(txn, docKey(p, id)) {
					out = append(out, id)
					break
				}
			}
		}
		return nil
	})
	return out, err
}

func hasPrefix(txn *badger.Txn, prefix []byte) bool {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	it.Rewind()
	return it.Valid()
}

// deleteDoc records the tombstone and removes the document's data.
func (c *committer) deleteDoc(w *writer, id crdt.DocID, st *docState) error {
	if err := w.set(docKey(prefixTomb, id), encodeJSON(Tombstone{Deleted: c.db.cfg.Now()})); err != nil {
		return err
	}
	for _, p := range []byte{prefixCatalog, prefixHeads, prefixSnapshot} {
		if err := w.delete(docKey(p, id)); err != nil {
			return err
		}
	}
	for _, p := range []byte{prefixChange, prefixAuthor} {
		keys, err := c.db.keys(docKey(p, id))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := w.delete(k); err != nil {
				return err
			}
		}
	}
	st.deleted = true
	return nil
}

// writeState writes the catalogue entry and heads of every touched
// document, in the group's last transaction.
func (c *committer) writeState(w *writer, touched map[crdt.DocID]*docState) error {
	for id, st := range touched {
		if st.deleted || !st.exists {
			continue
		}
		if err := w.set(docKey(prefixCatalog, id), encodeJSON(st.meta)); err != nil {
			return err
		}
		hs := make([]crdt.Hash, 0, len(st.heads))
		for h := range st.heads {
			hs = append(hs, h)
		}
		sortHashes(hs)
		if err := w.set(docKey(prefixHeads, id), encodeHashes(hs)); err != nil {
			return err
		}
	}
	return nil
}

// state returns the cached bookkeeping of id, reading it on first use.
func (c *committer) state(id crdt.DocID) (*docState, error) {
	if st, ok := c.docs[id]; ok {
		return st, nil
	}
	st := &docState{heads: make(map[crdt.Hash]struct{}), waiting: make(map[crdt.Hash]struct{})}
	err := c.db.view(func(txn *badger.Txn) error {
		if _, err := txn.Get(docKey(prefixTomb, id)); err == nil {
			st.deleted = true
			return nil
		}
		if err := getJSON(txn, docKey(prefixCatalog, id), &st.meta); err == nil {
			st.exists = true
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if v, err := getValue(txn, docKey(prefixHeads, id)); err == nil {
			hs, err := decodeHashes(v)
			if err != nil {
				return fmt.Errorf("heads of %s: %w", id, err)
			}
			for _, h := range hs {
				st.heads[h] = struct{}{}
			}
		}
		if v, err := getValue(txn, docKey(prefixSnapshot, id)); err == nil {
			s, err := decodeSnapshot(v, false) // a damaged label must not cover changes
			if err != nil {
				// A damaged snapshot covers nothing: changes it held are
				// stored again when peers resend them.
				c.db.log.Warn("damaged snapshot label", "doc", id, "err", err)
			} else {
				st.snapVec = s.Vector
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load state of %s: %w", id, err)
	}
	c.docs[id] = st
	return st, nil
}

// writer is a write transaction that splits itself when Badger says it is
// too big. Every commit is synced (SyncWrites).
type writer struct {
	bdb *badger.DB
	txn *badger.Txn
}

func (w *writer) set(k, v []byte) error {
	return w.retry(func() error { return w.txn.Set(k, v) })
}

func (w *writer) delete(k []byte) error {
	return w.retry(func() error { return w.txn.Delete(k) })
}

func (w *writer) retry(op func() error) error {
	err := op()
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	if err := w.txn.Commit(); err != nil {
		return err
	}
	w.txn = w.bdb.NewTransaction(true)
	return op()
}

func (w *writer) commit() error { return w.txn.Commit() }
