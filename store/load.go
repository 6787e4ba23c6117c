package store

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/quire-dev/quire/crdt"
)

// Status reports how LoadDoc assembled a document.
type Status struct {
	// FromSnapshot is set when a snapshot was the starting point.
	FromSnapshot bool
	// Changes counts the change records read after the snapshot.
	Changes int
	// Damaged lists records that failed their checksum or hash check and
	// were skipped.
	Damaged []Damage
	// Missing lists changes that stored changes depend on but that the
	// store does not hold (lost to damage or never received).
	Missing []crdt.Hash
}

// NeedsRepair reports whether the document is missing history that peers
// must resend: a damaged record, or a change whose parents are absent.
func (s Status) NeedsRepair() bool { return len(s.Damaged) > 0 || len(s.Missing) > 0 }

// Damage is one record that failed its check.
type Damage struct {
	Doc crdt.DocID
	Key string // hex of the Badger key
	Err error
}

func (d Damage) String() string { return fmt.Sprintf("doc %s key %s: %v", d.Doc, d.Key, d.Err) }

// stored is a change record as read from disk.
type stored struct {
	change  *crdt.Change
	arrival uint64
	size    int // key plus value bytes
}

// LoadDoc returns document id, ready for editing by localAuthor: its
// latest snapshot plus the changes stored after it. Damaged records are
// skipped and reported in Status, never a panic or a failed load; the
// document then holds everything that is intact. It returns ErrDeleted
// for a deleted document and ErrNotFound for one never stored.
func (db *DB) LoadDoc(id crdt.DocID, localAuthor crdt.Author) (*crdt.Doc, Status, error) {
	var (
		d   *crdt.Doc
		st  Status
		err error
	)
	verr := db.view(func(txn *badger.Txn) error {
		d, st, _, err = db.readDoc(txn, id, localAuthor)
		return nil
	})
	if verr != nil {
		return nil, st, verr
	}
	for _, dmg := range st.Damaged {
		db.log.Warn("damaged record", "doc", id, "key", dmg.Key, "err", dmg.Err)
	}
	return d, st, err
}

// errBadgerPanic marks a panic inside Badger while reading: its iterators
// panic on some damaged tables instead of returning an error.
var errBadgerPanic = errors.New("badger panicked reading damaged files")

// readDoc assembles the document from one consistent read, and returns
// the change records it read. A panic in Badger (damaged files) becomes an
// error wrapping errBadgerPanic: input from a file must not crash Quire.
func (db *DB) readDoc(txn *badger.Txn, id crdt.DocID, author crdt.Author) (d *crdt.Doc, st Status, recs []stored, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, recs = nil, nil
			err = fmt.Errorf("load %s: %w: %v", id, errBadgerPanic, firstLine(fmt.Sprint(p)))
		}
	}()
	return db.readDocUnsafe(txn, id, author)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (db *DB) readDocUnsafe(txn *badger.Txn, id crdt.DocID, author crdt.Author) (*crdt.Doc, Status, []stored, error) {
	var st Status
	if _, err := txn.Get(docKey(prefixTomb, id)); err == nil {
		return nil, st, nil, fmt.Errorf("load %s: %w", id, ErrDeleted)
	}
	var meta docMeta
	metaErr := getJSON(txn, docKey(prefixCatalog, id), &meta)
	var d *crdt.Doc
	skey := docKey(prefixSnapshot, id)
	if v, err := getValue(txn, skey); err == nil {
		d, err = decodeSnapshotDoc(v, author)
		if err != nil {
			st.Damaged = append(st.Damaged, Damage{id, hex.EncodeToString(skey), err})
		} else {
			st.FromSnapshot = true
		}
	} else if !errors.Is(err, ErrNotFound) {
		st.Damaged = append(st.Damaged, Damage{id, hex.EncodeToString(skey), err})
	}
	if d == nil {
		d = crdt.New(id, author)
	}
	// The live records are in the current generation. Without a usable
	// snapshot or catalogue entry, read every generation not yet dropped:
	// folded records there are the best remaining copy of the history.
	prefix := genKey(prefixChange, id, meta.Gen)
	if !st.FromSnapshot || metaErr != nil {
		prefix = docKey(prefixChange, id)
	}
	recs, damaged, err := readChanges(txn, id, prefix)
	if err != nil {
		return nil, st, nil, fmt.Errorf("load %s: %w", id, err)
	}
	st.Damaged = append(st.Damaged, damaged...)
	if metaErr != nil && !st.FromSnapshot && len(recs) == 0 && len(st.Damaged) == 0 {
		return nil, st, nil, fmt.Errorf("load %s: %w", id, ErrNotFound)
	}
	// Records the snapshot already covers (by author and sequence number)
	// are skipped without looking their hashes up, which would make the
	// CRDT hash the whole history on open.
	v := d.Vector()
	var todo []*crdt.Change
	for _, r := range recs {
		c := r.change
		if v[c.Author] >= c.Seq+uint64(c.Len()) {
			continue
		}
		if !d.Has(c.Hash) {
			todo = append(todo, c)
		}
	}
	st.Changes = len(todo)
	if _, err := d.Apply(causalOrder(todo)...); err != nil {
		st.Damaged = append(st.Damaged, Damage{id, "", rejected(err)})
	}
	st.Missing = d.Missing()
	return d, st, recs, nil
}

// rejected summarises Apply's joined errors: one per rejected change.
func rejected(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	if len(errs) <= 1 {
		return fmt.Errorf("rejected by the CRDT: %w", err)
	}
	return fmt.Errorf("%d changes rejected by the CRDT, the first: %w", len(errs), errs[0])
}

func decodeSnapshotDoc(v []byte, author crdt.Author) (*crdt.Doc, error) {
	s, err := decodeSnapshot(v, false)
	if err != nil {
		return nil, err
	}
	// The snapshot passed its checksum: it is what this device wrote, so
	// change hashes can wait until they are needed.
	d, err := crdt.Load(s.Data, author)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return d, nil
}

// readChanges reads and checks every change record of id: the hash of the
// decoded change must equal the hash in its key.
func readChanges(txn *badger.Txn, id crdt.DocID, prefix []byte) ([]stored, []Damage, error) {
	var (
		recs    []stored
		damaged []Damage
		seen    = make(map[crdt.Hash]bool)
	)
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		bad := func(err error) { damaged = append(damaged, Damage{id, hex.EncodeToString(key), err}) }
		h, ok := parseChangeKey(key)
		if !ok {
			bad(errors.New("malformed key"))
			continue
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			bad(err)
			continue
		}
		arrival, enc, err := decodeChangeValue(v)
		if err != nil {
			bad(err)
			continue
		}
		ch, err := decodeStoredChange(id, enc)
		if err != nil {
			bad(err)
			continue
		}
		if ch.Hash != h {
			bad(fmt.Errorf("change hashes to %s: %w", ch.Hash, errChecksum))
			continue
		}
		if !seen[h] { // the same change may be in two generations
			seen[h] = true
			recs = append(recs, stored{change: ch, arrival: arrival, size: len(key) + len(v)})
		}
	}
	return recs, damaged, nil
}

// causalOrder sorts changes so that each comes after its parents among
// them (Kahn's algorithm, ties by sequence number then hash), so that
// Apply never has to buffer them.
func causalOrder(cs []*crdt.Change) []*crdt.Change {
	idx := make(map[crdt.Hash]int, len(cs))
	for i, c := range cs {
		idx[c.Hash] = i
	}
	waiting := make([]int, len(cs))
	children := make(map[int][]int)
	for i, c := range cs {
		for _, p := range c.Parents {
			if j, ok := idx[p]; ok {
				waiting[i]++
				children[j] = append(children[j], i)
			}
		}
	}
	less := func(a, b int) int {
		if c := cmp.Compare(cs[a].Seq, cs[b].Seq); c != 0 {
			return c
		}
		return bytes.Compare(cs[a].Hash[:], cs[b].Hash[:])
	}
	var ready []int
	for i := range cs {
		if waiting[i] == 0 {
			ready = append(ready, i)
		}
	}
	slices.SortFunc(ready, less)
	out := make([]*crdt.Change, 0, len(cs))
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		out = append(out, cs[i])
		var next []int
		for _, k := range children[i] {
			if waiting[k]--; waiting[k] == 0 {
				next = append(next, k)
			}
		}
		if len(next) > 0 {
			slices.SortFunc(next, less)
			ready = append(ready, next...)
		}
	}
	if len(out) < len(cs) { // a cycle cannot happen with real hashes; keep the rest for Apply to reject
		seen := make(map[crdt.Hash]bool, len(out))
		for _, c := range out {
			seen[c.Hash] = true
		}
		for _, c := range cs {
			if !seen[c.Hash] {
				out = append(out, c)
			}
		}
	}
	return out
}

// Heads returns the heads of what the store holds of document id, as
// maintained by Append (exact when changes were appended parents first).
func (db *DB) Heads(id crdt.DocID) ([]crdt.Hash, error) {
	var hs []crdt.Hash
	err := db.view(func(txn *badger.Txn) error {
		v, err := getValue(txn, docKey(prefixHeads, id))
		if err != nil {
			return err
		}
		hs, err = decodeHashes(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("heads of %s: %w", id, err)
	}
	return hs, nil
}

// ChangesSince returns the stored changes of id that v does not cover,
// oldest first, from the per-author index. When v is older than the
// snapshot (the changes were folded into it), it loads the document and
// asks the CRDT instead.
func (db *DB) ChangesSince(id crdt.DocID, v crdt.Vector) ([]*crdt.Change, error) {
	var (
		out    []*crdt.Change
		folded bool
	)
	err := db.view(func(txn *badger.Txn) error {
		if _, err := txn.Get(docKey(prefixTomb, id)); err == nil {
			return ErrDeleted
		}
		var meta docMeta
		if err := getJSON(txn, docKey(prefixCatalog, id), &meta); err != nil {
			return err
		}
		if sv, err := getValue(txn, docKey(prefixSnapshot, id)); err == nil {
			s, err := decodeSnapshot(sv, true)
			if err != nil || !v.Covers(s.Vector) {
				folded = true
				return nil
			}
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: genKey(prefixAuthor, id, meta.Gen)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			a, seq, ok := parseAuthorKey(it.Item().Key())
			if !ok {
				continue
			}
			val, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			h, n, err := decodeAuthorValue(val)
			if err != nil {
				return err
			}
			if seq+n <= v[a] {
				continue
			}
			cv, err := getValue(txn, changeKey(id, meta.Gen, h))
			if err != nil {
				return fmt.Errorf("change %s: %w", h, err)
			}
			_, enc, err := decodeChangeValue(cv)
			if err != nil {
				return err
			}
			ch, err := decodeStoredChange(id, enc)
			if err != nil || ch.Hash != h {
				return fmt.Errorf("change %s damaged: %w", h, errors.Join(err, errChecksum))
			}
			out = append(out, ch)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes of %s since vector: %w", id, err)
	}
	if folded {
		d, _, err := db.LoadDoc(id, crdt.Author{})
		if err != nil {
			return nil, err
		}
		return d.ChangesSince(v), nil
	}
	return causalOrder(out), nil
}

// view runs fn in a read-only transaction. A panic inside Badger (its
// iterators panic on some damaged tables instead of returning an error)
// becomes an error wrapping errBadgerPanic: input from a file must not
// crash Quire.
func (db *DB) view(fn func(txn *badger.Txn) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errBadgerPanic, firstLine(fmt.Sprint(p)))
		}
	}()
	return db.bdb.View(fn)
}

// getValue returns a copy of the value at key, or ErrNotFound.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func getJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := getValue(txn, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("record %x: %w", key, err)
	}
	return nil
}

// keys returns every key with prefix.
func (db *DB) keys(prefix []byte) ([][]byte, error) {
	var ks [][]byte
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ks = append(ks, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return ks, err
}

func sortHashes(hs []crdt.Hash) {
	slices.SortFunc(hs, func(a, b crdt.Hash) int { return bytes.Compare(a[:], b[:]) })
}
