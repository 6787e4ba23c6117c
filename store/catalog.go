package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/quire-dev/quire/crdt"
)

// Info is a document's catalogue entry.
type Info struct {
	ID       crdt.DocID
	Title    string // set by Create or SetTitle, else the text's first line as of the last snapshot
	Created  time.Time
	Modified time.Time // last time a change was stored
	Archived bool
	Bytes    int64 // change records plus snapshot
	Changes  int64 // change records not yet folded into the snapshot
}

type listed struct {
	id   crdt.DocID
	meta docMeta
}

func (l listed) info() Info {
	title := l.meta.Title
	if title == "" {
		title = l.meta.TextTitle
	}
	return Info{ID: l.id, Title: title, Created: l.meta.Created, Modified: l.meta.Modified,
		Archived: l.meta.Archived, Bytes: l.meta.Bytes, Changes: l.meta.Changes}
}

// List returns the catalogue: every stored, undeleted document, in id
// order, archived ones included (see Info.Archived).
func (db *DB) List() ([]Info, error) {
	ls, err := db.list()
	if err != nil {
		return nil, err
	}
	out := make([]Info, len(ls))
	for i, l := range ls {
		out[i] = l.info()
	}
	return out, nil
}

// Info returns the catalogue entry of id.
func (db *DB) Info(id crdt.DocID) (Info, error) {
	l := listed{id: id}
	err := db.view(func(txn *badger.Txn) error {
		if _, err := txn.Get(docKey(prefixTomb, id)); err == nil {
			return ErrDeleted
		}
		return getJSON(txn, docKey(prefixCatalog, id), &l.meta)
	})
	if err != nil {
		return Info{}, fmt.Errorf("info %s: %w", id, err)
	}
	return l.info(), nil
}

func (db *DB) list() ([]listed, error) {
	var out []listed
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{prefixCatalog}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, ok := parseDocKey(it.Item().Key())
			if !ok {
				continue
			}
			l := listed{id: id}
			if err := getJSON(txn, it.Item().KeyCopy(nil), &l.meta); err != nil {
				db.log.Warn("damaged catalogue entry", "doc", id, "err", err)
				continue
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return out, nil
}

// Create records document id in the catalogue with title before any
// change is stored. Creating an existing document only sets its title.
func (db *DB) Create(id crdt.DocID, title string) error {
	return db.do(&request{kind: reqMeta, id: id, create: true, meta: func(m *docMeta) error { m.Title = title; return nil }})
}

// SetTitle sets the catalogue title of id.
func (db *DB) SetTitle(id crdt.DocID, title string) error {
	return db.updateMeta(id, func(m *docMeta) error { m.Title = title; return nil })
}

// Archive sets or clears the archived flag of id. Archived documents stay
// stored and syncable; the flag is for the document list.
func (db *DB) Archive(id crdt.DocID, archived bool) error {
	return db.updateMeta(id, func(m *docMeta) error { m.Archived = archived; return nil })
}

func (db *DB) updateMeta(id crdt.DocID, f func(*docMeta) error) error {
	return db.do(&request{kind: reqMeta, id: id, meta: f})
}

// Delete deletes document id on this device: it records a tombstone, so
// that Append refuses the document's changes from then on (ErrDeleted)
// and a stale peer cannot bring it back, and removes its data.
func (db *DB) Delete(id crdt.DocID) error {
	return db.do(&request{kind: reqDelete, id: id})
}

// Deleted returns the tombstone of id, or ErrNotFound.
func (db *DB) Deleted(id crdt.DocID) (Tombstone, error) {
	var t Tombstone
	err := db.view(func(txn *badger.Txn) error {
		return getJSON(txn, docKey(prefixTomb, id), &t)
	})
	return t, err
}

// Tokens, known peers and settings are small named records for later
// issues (capability tokens, peer addresses, preferences): Put, Get and
// List by kind. They do not go through the committer; each Put is one
// synced transaction.

// Kind names a family of small records.
type Kind byte

// The kinds of small records.
const (
	Tokens   Kind = Kind(prefixToken)
	Peers    Kind = Kind(prefixPeer)
	Settings Kind = Kind(prefixSetting)
)

func (k Kind) valid() bool { return k == Tokens || k == Peers || k == Settings }

// Put stores value under name in kind.
func (db *DB) Put(kind Kind, name string, value []byte) error {
	if !kind.valid() {
		return fmt.Errorf("put: unknown kind %q", byte(kind))
	}
	return db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(nameKey(byte(kind), name), value) })
}

// Get returns the value of name in kind, or ErrNotFound.
func (db *DB) Get(kind Kind, name string) ([]byte, error) {
	if !kind.valid() {
		return nil, fmt.Errorf("get: unknown kind %q", byte(kind))
	}
	var v []byte
	err := db.view(func(txn *badger.Txn) (err error) {
		v, err = getValue(txn, nameKey(byte(kind), name))
		return err
	})
	return v, err
}

// Remove deletes name from kind; removing a missing name is not an error.
func (db *DB) Remove(kind Kind, name string) error {
	if !kind.valid() {
		return fmt.Errorf("remove: unknown kind %q", byte(kind))
	}
	return db.bdb.Update(func(txn *badger.Txn) error { return txn.Delete(nameKey(byte(kind), name)) })
}

// Names returns the names stored in kind, sorted.
func (db *DB) Names(kind Kind) ([]string, error) {
	if !kind.valid() {
		return nil, errors.New("names: unknown kind")
	}
	ks, err := db.keys([]byte{byte(kind)})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k[1:])
	}
	return out, err
}

// textTitle derives a title from a document's text: its first non-empty
// line without Markdown heading marks, at most 80 characters.
func textTitle(text string) string {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "#"))
		if line != "" {
			if r := []rune(line); len(r) > 80 {
				line = string(r[:80])
			}
			return line
		}
	}
	return ""
}
