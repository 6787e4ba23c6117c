package relay

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p/mailproto"
	"github.com/quire-dev/quire/store"
)

// Mailbox defaults.
const (
	// DefaultDocQuota is what the boxes of one document may cost on the
	// relay (each box its data plus BoxOverhead).
	DefaultDocQuota = 64 << 20
	// DefaultMaxDocs is how many documents a relay keeps mailboxes for.
	DefaultMaxDocs = 10000
	// DefaultMaxBytes is what all boxes together may cost.
	DefaultMaxBytes = 16 << 30
	// DefaultRetention is how long a box is kept.
	DefaultRetention = 30 * 24 * time.Hour
	// BoxOverhead is what a box costs against the quotas besides its
	// data (its key and header on disk), so that many tiny boxes cannot
	// pass the quotas.
	BoxOverhead = 64
	// maxDocRevocations bounds the revocation records kept per document;
	// a request bringing more is refused CodeFull (the relay fails
	// closed: it cannot drop a record).
	maxDocRevocations = 4096
	// pruneChunk bounds the expired boxes one transaction drops.
	pruneChunk = 1000
	// maxCachedRulings bounds the documents whose revocation ruling is
	// kept decided in memory; past it one is dropped, and decided again
	// from disk when next needed.
	maxCachedRulings = 1024
)

// MailboxConfig configures the relay's mailbox.
type MailboxConfig struct {
	// DocQuota bounds what the boxes of one document cost (data plus
	// BoxOverhead each); one device may use at most half of it. A Put
	// that would pass either, once expired boxes are dropped, is refused
	// CodeFull and stores nothing (the members keep their changes; they
	// sync when they meet). 0 means DefaultDocQuota.
	DocQuota int64
	// MaxBytes bounds what all boxes cost together; past it every Put is
	// refused CodeFull. 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxDocs bounds the documents with a mailbox; a request for a new one
	// past it is refused CodeFull. 0 means DefaultMaxDocs.
	MaxDocs int
	// Retention is how long a box is kept after it was put; older boxes
	// are skipped by Get and dropped by the next Put and by sweeps. 0
	// means DefaultRetention.
	Retention time.Duration
	// Roots, if not empty, are the only document owners (root keys) the
	// relay serves: an operator pins the people it relays for. Empty means
	// any document whose members give the relay a relay capability.
	Roots []access.Key
}

func (c *MailboxConfig) fill() {
	if c.DocQuota <= 0 {
		c.DocQuota = DefaultDocQuota
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxDocs <= 0 {
		c.MaxDocs = DefaultMaxDocs
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
}

// mailbox is the relay's store-and-forward service: per document, its
// root, the relay's own capability, the revocations members showed it and
// the boxes, in Badger. It decides every request with access.Authorize.
// Requests are served one at a time (mu); each is a few Badger operations
// and at most two capability checks, whose signatures are cached.
type mailbox struct {
	cfg   MailboxConfig
	self  access.Key
	now   func() time.Time
	log   *slog.Logger
	db    *badger.DB
	cache *access.SigCache

	mu      sync.Mutex
	docs    int   // documents with a mailbox
	total   int64 // what all boxes cost
	rulings map[crdt.DocID]*docRuling
}

// docRuling is a document's revocation records, decided.
type docRuling struct {
	ruling *access.Ruling
	events []access.RevocationEvent
	ids    map[[32]byte]bool
}

// Badger keys: a prefix byte, the document id, and per kind a suffix.
const (
	keyDoc        = 'd' // + doc → docMeta
	keyBox        = 'b' // + doc + seq (8, big-endian) → from (32) + time (8) + data
	keyRevocation = 'r' // + doc + record id (32) → record encoding
	keySender     = 'u' // + doc + device key (32) → uvarint cost of its boxes
)

func docKey(kind byte, doc crdt.DocID) []byte {
	return append([]byte{kind}, doc[:]...)
}

func boxKey(doc crdt.DocID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(docKey(keyBox, doc), seq)
}

func senderKey(doc crdt.DocID, from access.Key) []byte {
	return append(docKey(keySender, doc), from[:]...)
}

func boxCost(data int) int64 { return int64(data) + BoxOverhead }

// docMeta is a document's mailbox record.
type docMeta struct {
	root   access.Key
	next   uint64 // the next box's seq
	first  uint64 // the oldest seq that may still be held
	bytes  int64  // box data held
	nrevs  int    // revocation records held
	epoch  uint64 // random, set when the mailbox is made
	put    int64  // when the mailbox was made or last put to, Unix seconds
	mandat []byte // the relay's capability, encoded
}

func (m *docMeta) encode() []byte {
	b := append([]byte{1}, m.root[:]...)
	b = binary.AppendUvarint(b, m.next)
	b = binary.AppendUvarint(b, m.first)
	b = binary.AppendUvarint(b, uint64(m.bytes))
	b = binary.AppendUvarint(b, uint64(m.nrevs))
	b = binary.AppendUvarint(b, m.epoch)
	b = binary.AppendUvarint(b, uint64(m.put))
	return append(b, m.mandat...)
}

func decodeMeta(b []byte) (*docMeta, error) {
	if len(b) < 33 || b[0] != 1 {
		return nil, errors.New("mailbox record: bad header")
	}
	m := &docMeta{root: access.Key(b[1:33])}
	b = b[33:]
	var vals [6]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("mailbox record: bad field")
		}
		vals[i], b = v, b[n:]
	}
	m.next, m.first, m.bytes, m.nrevs, m.epoch, m.put = vals[0], vals[1], int64(vals[2]), int(vals[3]), vals[4], int64(vals[5])
	m.mandat = slices.Clone(b)
	return m, nil
}

// openMailbox opens (or creates) the mailbox database in dir.
func openMailbox(dir string, self access.Key, cfg MailboxConfig, now func() time.Time, log *slog.Logger) (*mailbox, error) {
	cfg.fill()
	// Boxes up to 1 MiB stay in the LSM tree, whose compaction reclaims
	// pruned ones; only a full-size box's header tips it into the value
	// log, which the sweep collects.
	opts := store.BadgerOptions(dir, 16<<20, log)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("relay: open mailbox in %s: %w", dir, err)
	}
	m := &mailbox{cfg: cfg, self: self, now: now, log: log, db: db, cache: access.NewSigCache(4096),
		rulings: map[crdt.DocID]*docRuling{}}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{keyDoc}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				meta, err := decodeMeta(v)
				if err != nil {
					return fmt.Errorf("document %x: %w", it.Item().Key()[1:], err)
				}
				m.docs++
				m.total += meta.bytes
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("relay: read mailbox: %w", err), db.Close())
	}
	return m, nil
}

func (m *mailbox) close() error { return m.db.Close() }

// chainRoot returns the first link of t's chain (its issuer is the root).
func chainRoot(t *access.Token) *access.Token {
	for t.Parent != nil {
		t = t.Parent
	}
	return t
}

// Serve decides and carries out one request from the device from.
func (m *mailbox) Serve(from access.Key, req mailproto.Request) mailproto.Response {
	m.mu.Lock()
	defer m.mu.Unlock()
	resp, err := m.serve(from, req)
	if err != nil {
		m.log.Error("mailbox request failed", "doc", req.Doc, "type", req.Type, "err", err)
		return mailproto.Refuse(mailproto.CodeInternal, "relay storage failed")
	}
	if resp.Type == mailproto.TypeError {
		m.log.Debug("mailbox request refused", "doc", req.Doc, "type", req.Type,
			"from", access.Fingerprint(from[:]), "code", resp.Code, "why", resp.Msg)
	}
	return resp
}

// serve returns an error only for a storage failure; refusals are
// responses. It decides in the order that makes a stranger cheapest: the
// requester's chain first (no revocation work for someone who holds
// nothing), then the revocations, the relay's mandate, and the requester
// again with the revocations applied.
func (m *mailbox) serve(from access.Key, req mailproto.Request) (mailproto.Response, error) {
	doc := req.Doc
	if len(req.Proof) == 0 {
		return mailproto.Refuse(mailproto.CodeUnauthorized, "no proof of access to document %s", doc), nil
	}
	proof, err := access.Decode(req.Proof)
	if err != nil {
		return mailproto.Refuse(mailproto.CodeMalformed, "proof: %v", err), nil
	}
	var offered *access.Token
	if len(req.RelayProof) > 0 {
		if offered, err = access.Decode(req.RelayProof); err != nil {
			return mailproto.Refuse(mailproto.CodeMalformed, "relay proof: %v", err), nil
		}
	}
	if req.Type == mailproto.TypePut && len(req.Box) == 0 {
		return mailproto.Refuse(mailproto.CodeMalformed, "empty box"), nil
	}

	meta, err := m.meta(doc)
	if err != nil {
		return mailproto.Response{}, err
	}
	isNew := meta == nil
	if isNew {
		if offered == nil {
			return mailproto.Refuse(mailproto.CodeNoMandate, "this relay holds no relay capability for document %s; send one", doc), nil
		}
		if offered.Doc != access.DocID(doc) {
			return mailproto.Refuse(mailproto.CodeNoMandate, "the relay proof is for document %s, not %s", crdt.DocID(offered.Doc), doc), nil
		}
		if !access.BoundToRoot(offered) {
			return mailproto.Refuse(mailproto.CodeNoMandate, "document %s: its id is not bound to its owner's key "+
				"(it was made before Quire bound ids to owners), so this relay cannot tell who owns it", doc), nil
		}
		var e [8]byte
		if _, err := rand.Read(e[:]); err != nil {
			return mailproto.Response{}, err
		}
		meta = &docMeta{root: chainRoot(offered).Issuer, next: 1, first: 1, epoch: binary.BigEndian.Uint64(e[:]), put: m.now().Unix()}
	}
	if len(m.cfg.Roots) > 0 && !slices.Contains(m.cfg.Roots, meta.root) {
		return mailproto.Refuse(mailproto.CodeNoMandate, "this relay serves only its operator's documents"), nil
	}
	now := m.now()
	pol := access.Policy{Doc: access.DocID(doc), Root: meta.root, Cache: m.cache}
	read := access.ChangeInfo{Author: from, Kind: access.KindRead, Time: now}
	if _, err := access.Authorize(read, proof, pol); err != nil {
		return mailproto.Refuse(mailproto.CodeUnauthorized, "%v", err), nil
	}

	// Revocations: the known ones, decided once and cached, and the new
	// ones shown, each checked against the document's root.
	dr, err := m.ruling(doc, meta, isNew)
	if err != nil {
		return mailproto.Response{}, err
	}
	var fresh []*access.Revocation
	for i, b := range req.Revocations {
		rec, err := access.DecodeRevocation(b)
		if err != nil {
			return mailproto.Refuse(mailproto.CodeMalformed, "revocation %d: %v", i, err), nil
		}
		id := rec.ID()
		if dr.ids[id] || slices.ContainsFunc(fresh, func(r *access.Revocation) bool { return r.ID() == id }) {
			continue
		}
		if err := rec.Check(access.DocID(doc), meta.root); err != nil {
			return mailproto.Refuse(mailproto.CodeMalformed, "revocation %d: %v", i, err), nil
		}
		fresh = append(fresh, rec)
	}
	if len(fresh) > 0 {
		if meta.nrevs+len(fresh) > maxDocRevocations {
			return mailproto.Refuse(mailproto.CodeFull, "document %s has %d revocation records on this relay (limit %d)", doc, meta.nrevs, maxDocRevocations), nil
		}
		dr = decide(doc, meta.root, dr.events, fresh)
		if !isNew {
			// A valid record is a fact about the document, kept whatever
			// becomes of this request.
			if err := m.addRevocations(doc, meta, fresh); err != nil {
				return mailproto.Response{}, err
			}
			m.cacheRuling(doc, dr)
			fresh = nil
		}
	}
	pol.Ruling = dr.ruling

	// The relay's own mandate: the one offered, else the one it holds.
	mandate := func(tok *access.Token) error {
		_, err := access.Authorize(access.ChangeInfo{Author: m.self, Kind: access.KindRelay, Time: now}, tok, pol)
		return err
	}
	var mandateErr error
	newMandate := false
	if offered != nil {
		if mandateErr = mandate(offered); mandateErr == nil {
			newMandate = true
		}
	}
	if !newMandate {
		held := mandateErr
		if len(meta.mandat) > 0 {
			tok, err := access.Decode(meta.mandat)
			if err != nil {
				return mailproto.Response{}, fmt.Errorf("stored relay proof of %s: %w", doc, err)
			}
			held = mandate(tok)
		} else if held == nil {
			held = errors.New("none held")
		}
		if held != nil {
			if mandateErr == nil {
				mandateErr = held
			}
			return mailproto.Refuse(mailproto.CodeNoMandate, "relay capability for document %s: %v", doc, mandateErr), nil
		}
	}

	// The requester, with the revocations.
	rights, err := access.Authorize(read, proof, pol)
	if err != nil {
		return mailproto.Refuse(mailproto.CodeUnauthorized, "%v", err), nil
	}
	if req.Type == mailproto.TypePut && !rights.Covers(access.Comment) {
		return mailproto.Refuse(mailproto.CodeUnauthorized, "holds %v on document %s, putting needs comment", rights, doc), nil
	}
	if isNew && m.docs >= m.cfg.MaxDocs {
		return mailproto.Refuse(mailproto.CodeFull, "the relay keeps mailboxes for %d documents (its limit)", m.docs), nil
	}

	if newMandate {
		held := meta.mandat
		meta.mandat = offered.Encode()
		newMandate = !bytes.Equal(held, meta.mandat)
	}
	var resp mailproto.Response
	if req.Type == mailproto.TypeGet && !isNew && !newMandate {
		// Nothing to write: a read-only transaction, no sync to disk.
		err = m.db.View(func(txn *badger.Txn) error {
			var err error
			resp, err = m.get(txn, req, meta, now)
			return err
		})
		return resp, err
	}
	var freed, added int64
	err = m.db.Update(func(txn *badger.Txn) error {
		if err := setRevocations(txn, doc, meta, fresh); err != nil {
			return err
		}
		switch req.Type {
		case mailproto.TypePut:
			var err error
			if freed, _, err = m.prune(txn, doc, meta, now); err != nil {
				return err
			}
			if resp, err = m.put(txn, from, req, meta, now, freed); err != nil {
				return err
			}
			if resp.Type == mailproto.TypeStored {
				added = boxCost(len(req.Box))
			}
		case mailproto.TypeGet:
			var err error
			if resp, err = m.get(txn, req, meta, now); err != nil {
				return err
			}
		}
		return txn.Set(docKey(keyDoc, doc), meta.encode())
	})
	if err != nil {
		return mailproto.Response{}, err
	}
	m.total += added - freed
	if isNew {
		m.docs++
		m.log.Info("mailbox opened", "doc", doc, "root", access.Fingerprint(meta.root[:]))
	}
	return resp, nil
}

// put stores req.Box as the document's next box if the quotas allow:
// the document's, the sender's half of it, and the relay's (freed is what
// pruning in this transaction gave back).
func (m *mailbox) put(txn *badger.Txn, from access.Key, req mailproto.Request, meta *docMeta, now time.Time, freed int64) (mailproto.Response, error) {
	doc, cost := req.Doc, boxCost(len(req.Box))
	if meta.bytes+cost > m.cfg.DocQuota {
		return mailproto.Refuse(mailproto.CodeFull, "document %s holds %d bytes on the relay; %d more would pass its quota of %d",
			doc, meta.bytes, cost, m.cfg.DocQuota), nil
	}
	held, err := senderCost(txn, doc, from)
	if err != nil {
		return mailproto.Response{}, err
	}
	if held+cost > m.cfg.DocQuota/2 {
		return mailproto.Refuse(mailproto.CodeFull, "device %s holds %d bytes of document %s on the relay; one device may hold half its quota of %d",
			access.Fingerprint(from[:]), held, doc, m.cfg.DocQuota), nil
	}
	if m.total-freed+cost > m.cfg.MaxBytes {
		return mailproto.Refuse(mailproto.CodeFull, "the relay holds %d bytes of boxes, its limit is %d", m.total-freed, m.cfg.MaxBytes), nil
	}
	v := make([]byte, 0, 40+len(req.Box))
	v = append(v, from[:]...)
	v = binary.BigEndian.AppendUint64(v, uint64(now.Unix()))
	v = append(v, req.Box...)
	if err := txn.Set(boxKey(doc, meta.next), v); err != nil {
		return mailproto.Response{}, err
	}
	if err := txn.Set(senderKey(doc, from), binary.AppendUvarint(nil, uint64(held+cost))); err != nil {
		return mailproto.Response{}, err
	}
	resp := mailproto.Response{Type: mailproto.TypeStored, Seq: meta.next, Epoch: meta.epoch, Retention: uint64(m.cfg.Retention / time.Second)}
	meta.next++
	meta.bytes += cost
	meta.put = now.Unix()
	return resp, nil
}

// senderCost reads what from's boxes of doc cost.
func senderCost(txn *badger.Txn, doc crdt.DocID, from access.Key) (int64, error) {
	item, err := txn.Get(senderKey(doc, from))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	var held uint64
	err = item.Value(func(v []byte) error {
		var n int
		if held, n = binary.Uvarint(v); n <= 0 {
			return fmt.Errorf("sender record of %s: malformed", doc)
		}
		return nil
	})
	return int64(held), err
}

// ruling returns doc's revocations decided (DecideUnordered: the relay
// cannot see the history that orders them, so every valid record counts).
// Known documents' rulings are cached.
func (m *mailbox) ruling(doc crdt.DocID, meta *docMeta, isNew bool) (*docRuling, error) {
	if isNew {
		return decide(doc, meta.root, nil, nil), nil
	}
	if dr := m.rulings[doc]; dr != nil {
		return dr, nil
	}
	events, err := m.revocations(doc)
	if err != nil {
		return nil, err
	}
	dr := decide(doc, meta.root, events, nil)
	m.cacheRuling(doc, dr)
	return dr, nil
}

// cacheRuling keeps doc's decided ruling, dropping another document's when
// maxCachedRulings are kept.
func (m *mailbox) cacheRuling(doc crdt.DocID, dr *docRuling) {
	if _, ok := m.rulings[doc]; !ok && len(m.rulings) >= maxCachedRulings {
		for k := range m.rulings {
			delete(m.rulings, k)
			break
		}
	}
	m.rulings[doc] = dr
}

// decide decides events plus recs.
func decide(doc crdt.DocID, root access.Key, events []access.RevocationEvent, recs []*access.Revocation) *docRuling {
	dr := &docRuling{events: slices.Clone(events), ids: map[[32]byte]bool{}}
	for _, rec := range recs {
		dr.events = append(dr.events, access.RevocationEvent{Change: access.ChangeRef(rec.ID()), Author: rec.Revoker(), Record: rec})
	}
	for _, ev := range dr.events {
		dr.ids[ev.Record.ID()] = true
	}
	dr.ruling = access.DecideUnordered(dr.events, access.DocID(doc), root)
	return dr
}

// setRevocations stores recs for doc in txn and counts them in meta (which
// the caller writes).
func setRevocations(txn *badger.Txn, doc crdt.DocID, meta *docMeta, recs []*access.Revocation) error {
	for _, rec := range recs {
		id := rec.ID()
		if err := txn.Set(append(docKey(keyRevocation, doc), id[:]...), rec.Encode()); err != nil {
			return err
		}
	}
	meta.nrevs += len(recs)
	return nil
}

// addRevocations stores recs for the known document doc at once, and
// drops its cached ruling.
func (m *mailbox) addRevocations(doc crdt.DocID, meta *docMeta, recs []*access.Revocation) error {
	delete(m.rulings, doc)
	return m.db.Update(func(txn *badger.Txn) error {
		if err := setRevocations(txn, doc, meta, recs); err != nil {
			return err
		}
		return txn.Set(docKey(keyDoc, doc), meta.encode())
	})
}

// sweep drops every document's expired boxes, and forgets a mailbox that
// holds none and was not put to for the retention (its record, mandate,
// revocations; a member's next request makes it again, with a new epoch,
// and members put their documents again). A relay runs it periodically,
// so documents nobody puts to any more keep neither disk nor a document
// slot. It takes the lock per document, so requests go on meanwhile, and
// goes on past a document it fails on. It returns how many mailboxes it
// forgot and the failures, joined.
func (m *mailbox) sweep() (int, error) {
	var docs []crdt.DocID
	err := m.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{keyDoc}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			docs = append(docs, crdt.DocID(it.Item().Key()[1:]))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	forgot := 0
	var errs []error
	for _, doc := range docs {
		gone, err := m.sweepDoc(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", doc, err))
		}
		if gone {
			forgot++
		}
	}
	// Boxes near the size limit live in the value log, which only a
	// rewrite gives back.
	for m.db.RunValueLogGC(0.5) == nil {
		// each call rewrites one value log file; repeat while one is worth it
	}
	return forgot, errors.Join(errs...)
}

// sweepDoc prunes one document to the end and forgets it if it is empty
// and unused.
func (m *mailbox) sweepDoc(doc crdt.DocID) (gone bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	meta, err := m.meta(doc)
	if err != nil || meta == nil {
		return false, err
	}
	now := m.now()
	for more := true; more; {
		var freed int64
		err := m.db.Update(func(txn *badger.Txn) error {
			var err error
			if freed, more, err = m.prune(txn, doc, meta, now); err != nil || freed == 0 {
				return err
			}
			return txn.Set(docKey(keyDoc, doc), meta.encode())
		})
		if err != nil {
			return false, err
		}
		m.total -= freed
	}
	if meta.bytes > 0 || now.Sub(time.Unix(meta.put, 0)) < m.cfg.Retention {
		return false, nil
	}
	// Forget it: its revocations and sender records, then the record.
	for _, prefix := range [][]byte{docKey(keyRevocation, doc), docKey(keySender, doc), docKey(keyBox, doc)} {
		if err := m.deletePrefix(prefix); err != nil {
			return false, err
		}
	}
	if err := m.db.Update(func(txn *badger.Txn) error { return txn.Delete(docKey(keyDoc, doc)) }); err != nil {
		return false, err
	}
	delete(m.rulings, doc)
	m.docs--
	m.log.Info("mailbox forgotten: empty and unused", "doc", doc)
	return true, nil
}

// deletePrefix deletes every key under prefix, pruneChunk keys a
// transaction.
func (m *mailbox) deletePrefix(prefix []byte) error {
	for {
		var keys [][]byte
		err := m.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < pruneChunk; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		err = m.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// meta reads doc's record, or nil if it has none.
func (m *mailbox) meta(doc crdt.DocID) (*docMeta, error) {
	var meta *docMeta
	err := m.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(docKey(keyDoc, doc))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			meta, err = decodeMeta(v)
			return err
		})
	})
	return meta, err
}

// revocations reads doc's revocation records as events.
func (m *mailbox) revocations(doc crdt.DocID) ([]access.RevocationEvent, error) {
	var evs []access.RevocationEvent
	err := m.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: docKey(keyRevocation, doc)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				rec, err := access.DecodeRevocation(v)
				if err != nil {
					return fmt.Errorf("stored revocation of %s: %w", doc, err)
				}
				evs = append(evs, access.RevocationEvent{Change: access.ChangeRef(rec.ID()), Author: rec.Revoker(), Record: rec})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return evs, err
}

// boxTime reads a stored box's time.
func boxTime(v []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(v[32:40])), 0)
}

// prune drops up to pruneChunk of doc's boxes older than the retention,
// oldest first, in txn: it moves meta.first past them, takes their cost
// off meta.bytes and their senders' records, and returns the cost freed
// and whether more may be expired.
func (m *mailbox) prune(txn *badger.Txn, doc crdt.DocID, meta *docMeta, now time.Time) (freed int64, more bool, err error) {
	cutoff := now.Add(-m.cfg.Retention)
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: docKey(keyBox, doc)})
	var drop [][]byte
	bySender := map[access.Key]int64{}
	for it.Seek(boxKey(doc, meta.first)); it.Valid(); it.Next() {
		if len(drop) == pruneChunk {
			more = true
			break
		}
		item := it.Item()
		var old bool
		var from access.Key
		var size int
		err = item.Value(func(v []byte) error {
			if len(v) < 40 {
				return fmt.Errorf("stored box %x: %d bytes", item.Key(), len(v))
			}
			old, from, size = boxTime(v).Before(cutoff), access.Key(v[:32]), len(v)-40
			return nil
		})
		if err != nil {
			it.Close()
			return 0, false, err
		}
		if !old {
			break
		}
		drop = append(drop, item.KeyCopy(nil))
		cost := boxCost(size)
		bySender[from] += cost
		freed += cost
		meta.first = binary.BigEndian.Uint64(item.Key()[17:]) + 1
	}
	it.Close()
	for _, k := range drop {
		if err := txn.Delete(k); err != nil {
			return 0, false, err
		}
	}
	for from, cost := range bySender {
		held, err := senderCost(txn, doc, from)
		if err != nil {
			return 0, false, err
		}
		if left := held - cost; left > 0 {
			err = txn.Set(senderKey(doc, from), binary.AppendUvarint(nil, uint64(left)))
		} else {
			err = txn.Delete(senderKey(doc, from))
		}
		if err != nil {
			return 0, false, err
		}
	}
	meta.bytes -= freed
	return freed, more, nil
}

// get reads the boxes after req.After, skipping expired ones.
func (m *mailbox) get(txn *badger.Txn, req mailproto.Request, meta *docMeta, now time.Time) (mailproto.Response, error) {
	limit := req.MaxBytes
	if limit == 0 || limit > mailproto.MaxGetBytes {
		limit = mailproto.MaxGetBytes
	}
	cutoff := now.Add(-m.cfg.Retention)
	resp := mailproto.Response{Type: mailproto.TypeBoxes, Next: req.After, Epoch: meta.epoch, Retention: uint64(m.cfg.Retention / time.Second)}
	if req.After == ^uint64(0) {
		return resp, nil
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: docKey(keyBox, req.Doc)})
	defer it.Close()
	var size uint64
	for it.Seek(boxKey(req.Doc, req.After+1)); it.Valid(); it.Next() {
		item := it.Item()
		seq := binary.BigEndian.Uint64(item.Key()[17:])
		var box mailproto.Box
		err := item.Value(func(v []byte) error {
			if len(v) < 40 {
				return fmt.Errorf("stored box %x: %d bytes", item.Key(), len(v))
			}
			t := boxTime(v)
			if t.Before(cutoff) {
				return nil
			}
			box = mailproto.Box{Seq: seq, From: access.Key(v[:32]), Time: t.Unix(), Data: slices.Clone(v[40:])}
			return nil
		})
		if err != nil {
			return resp, err
		}
		if box.Seq == 0 { // expired: skipped, and passed by the cursor unless a box came first
			if len(resp.Boxes) == 0 {
				resp.Next = seq
			}
			continue
		}
		if len(resp.Boxes) > 0 && (size+uint64(len(box.Data)) > limit || len(resp.Boxes) == mailproto.MaxBoxesPerGet) {
			resp.More = true
			break
		}
		size += uint64(len(box.Data))
		resp.Boxes = append(resp.Boxes, box)
		resp.Next = seq
	}
	return resp, nil
}
