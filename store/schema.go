package store

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/quire-dev/quire/crdt"
)

// This file is the whole on-disk schema of the Badger database: every key
// prefix, every record layout, the schema version and its migrations.
// Nothing else in the package builds a key or parses a value by hand.
//
// Keys start with one prefix byte; document ids are 16 bytes, hashes and
// author keys 32, sequence and arrival numbers 8 (big-endian, so keys sort
// numerically).
//
//	0x00 "schema"             -> uvarint schema version
//	'c' doc gen hash          -> arrival(8) ++ change            (a change as received: its
//	                             signed form (EncodeSigned) if it has a signature, else Encode)
//	'a' doc gen author seq    -> hash(32) ++ uvarint op count    (per-author index)
//	'h' doc                   -> n × hash(32)                    (heads of what is stored)
//	's' doc                   -> snapshot record (see encodeSnapshot)
//	'm' doc                   -> JSON docMeta                    (catalogue entry)
//	'x' doc                   -> JSON Tombstone                  (deleted document)
//	't' name                  -> capability token bytes
//	'p' peer id               -> known peer record bytes
//	'g' name                  -> setting bytes
//
// gen (4 bytes) is the document's generation, docMeta.Gen. Each snapshot
// starts a new generation: the committer copies the change records it
// keeps into it, and everything left in older generations is folded into
// the snapshot. Older generations are then dropped whole (Badger
// DropPrefix), which removes their tombstones and old versions from disk
// at once; deleting records one by one would leave them in Badger's last
// level, which it rewrites only past 10 MB of stale data per table.
//
// The device identity key is not in the database: it is a file of its own
// (identity.go) so that p2p can start before the database opens.

// SchemaVersion is the version of the layout above. Bump it with a
// migration in migrations whenever a key or record changes meaning.
const SchemaVersion = 1

const (
	prefixMeta     byte = 0x00
	prefixChange   byte = 'c'
	prefixAuthor   byte = 'a'
	prefixHeads    byte = 'h'
	prefixSnapshot byte = 's'
	prefixCatalog  byte = 'm'
	prefixTomb     byte = 'x'
	prefixToken    byte = 't'
	prefixPeer     byte = 'p'
	prefixSetting  byte = 'g'
)

var keySchema = []byte("\x00schema")

// migration upgrades a database from version n to n+1 inside one
// transaction; the caller then records version n+1 in the same transaction.
type migration func(txn *badger.Txn) error

// migrations[n] upgrades schema version n to n+1. Version 1 is the first
// on-disk layout, so the table is empty; tests run the mechanism with a
// fake table.
var migrations = map[int]migration{}

func docKey(prefix byte, id crdt.DocID) []byte {
	k := make([]byte, 0, 1+len(id))
	return append(append(k, prefix), id[:]...)
}

// genKey is the prefix of generation gen's records of kind prefix.
func genKey(prefix byte, id crdt.DocID, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(docKey(prefix, id), gen)
}

func changeKey(id crdt.DocID, gen uint32, h crdt.Hash) []byte {
	return append(genKey(prefixChange, id, gen), h[:]...)
}

func authorKey(id crdt.DocID, gen uint32, a crdt.Author, seq uint64) []byte {
	k := append(genKey(prefixAuthor, id, gen), a[:]...)
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseAuthorKey returns the author and sequence number in an 'a' key.
func parseAuthorKey(k []byte) (crdt.Author, uint64, bool) {
	var a crdt.Author
	if len(k) != 1+16+4+32+8 {
		return a, 0, false
	}
	copy(a[:], k[21:53])
	return a, binary.BigEndian.Uint64(k[53:]), true
}

func nameKey(prefix byte, name string) []byte {
	return append([]byte{prefix}, name...)
}

// parseChangeKey returns the hash in a 'c' key.
func parseChangeKey(k []byte) (crdt.Hash, bool) {
	var h crdt.Hash
	if len(k) != 1+16+4+32 {
		return h, false
	}
	copy(h[:], k[21:])
	return h, true
}

// parseDocKey returns the document id of any per-document key.
func parseDocKey(k []byte) (crdt.DocID, bool) {
	var id crdt.DocID
	if len(k) < 17 {
		return id, false
	}
	copy(id[:], k[1:17])
	return id, true
}

func encodeChangeValue(arrival uint64, enc []byte) []byte {
	v := make([]byte, 8, 8+len(enc))
	binary.BigEndian.PutUint64(v, arrival)
	return append(v, enc...)
}

func decodeChangeValue(v []byte) (arrival uint64, enc []byte, err error) {
	if len(v) < 8 {
		return 0, nil, errors.New("change record too short")
	}
	return binary.BigEndian.Uint64(v), v[8:], nil
}

func encodeAuthorValue(h crdt.Hash, n int) []byte {
	return binary.AppendUvarint(append([]byte(nil), h[:]...), uint64(n))
}

func decodeAuthorValue(v []byte) (crdt.Hash, uint64, error) {
	var h crdt.Hash
	if len(v) < 33 {
		return h, 0, errors.New("author index record too short")
	}
	copy(h[:], v)
	n, k := binary.Uvarint(v[32:])
	if k <= 0 {
		return h, 0, errors.New("author index record: bad op count")
	}
	return h, n, nil
}

func encodeHashes(hs []crdt.Hash) []byte {
	b := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func decodeHashes(b []byte) ([]crdt.Hash, error) {
	if len(b)%32 != 0 {
		return nil, errors.New("hash list length not a multiple of 32")
	}
	hs := make([]crdt.Hash, len(b)/32)
	for i := range hs {
		copy(hs[i][:], b[32*i:])
	}
	return hs, nil
}

// snapshotMagic starts a snapshot record:
//
//	"QSS" version(1) sha256(32 over everything after it)
//	uvarint n, n × head hash(32)
//	uvarint n, n × (author(32), uvarint seq)   (the vector)
//	doc.Encode() bytes (the rest)
var snapshotMagic = []byte("QSS\x01")

// snapshot is a document's encoding labelled with the version it covers.
type snapshot struct {
	Heads  []crdt.Hash
	Vector crdt.Vector
	Data   []byte // crdt.Doc.Encode()
}

func encodeSnapshot(s snapshot) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(s.Heads)))
	body = append(body, encodeHashes(s.Heads)...)
	body = binary.AppendUvarint(body, uint64(len(s.Vector)))
	for _, a := range sortedAuthors(s.Vector) {
		body = append(body, a[:]...)
		body = binary.AppendUvarint(body, s.Vector[a])
	}
	body = append(body, s.Data...)
	sum := sha256.Sum256(body)
	out := make([]byte, 0, len(snapshotMagic)+32+len(body))
	return append(append(append(out, snapshotMagic...), sum[:]...), body...)
}

// errChecksum marks a record whose checksum or hash does not match.
var errChecksum = errors.New("checksum mismatch")

// decodeSnapshot checks and parses a snapshot record. With labelOnly it
// skips the checksum (the caller only wants the label and will check the
// whole record when it decodes the document).
func decodeSnapshot(v []byte, labelOnly bool) (snapshot, error) {
	var s snapshot
	if len(v) < len(snapshotMagic)+32 || !bytes.Equal(v[:len(snapshotMagic)], snapshotMagic) {
		return s, errors.New("snapshot: bad magic")
	}
	body := v[len(snapshotMagic)+32:]
	if !labelOnly {
		if sum := sha256.Sum256(body); !bytes.Equal(sum[:], v[len(snapshotMagic):len(snapshotMagic)+32]) {
			return s, fmt.Errorf("snapshot: %w", errChecksum)
		}
	}
	r := bytes.NewReader(body)
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len())/32 {
		return s, errors.New("snapshot: bad heads")
	}
	s.Heads = make([]crdt.Hash, n)
	for i := range s.Heads {
		r.Read(s.Heads[i][:])
	}
	n, err = binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len())/33 {
		return s, errors.New("snapshot: bad vector")
	}
	s.Vector = make(crdt.Vector, n)
	for range n {
		var a crdt.Author
		if k, _ := r.Read(a[:]); k != len(a) {
			return s, errors.New("snapshot: short vector")
		}
		seq, err := binary.ReadUvarint(r)
		if err != nil {
			return s, errors.New("snapshot: bad vector seq")
		}
		s.Vector[a] = seq
	}
	s.Data = body[len(body)-r.Len():]
	return s, nil
}

// docMeta is a document's catalogue entry, rewritten in the same
// transaction as every group of its changes.
type docMeta struct {
	Title     string    `json:"title,omitempty"`
	TextTitle string    `json:"text_title,omitempty"` // derived at each snapshot
	Created   time.Time `json:"created"`
	Modified  time.Time `json:"modified"`
	Archived  bool      `json:"archived,omitempty"`
	// Bytes counts the stored change records and snapshot.
	Bytes int64 `json:"bytes"`
	// Changes counts stored change records (folded ones excluded).
	Changes int64 `json:"changes"`
	// NextArrival numbers changes in the order they were stored.
	NextArrival uint64 `json:"next_arrival"`
	// SinceSnapshot counts changes stored since the last snapshot.
	SinceSnapshot int64 `json:"since_snapshot"`
	SnapshotBytes int64 `json:"snapshot_bytes,omitempty"`
	// Gen is the generation holding the live change records; generations
	// from OldestGen up to Gen are folded and wait to be dropped.
	Gen       uint32 `json:"gen,omitempty"`
	OldestGen uint32 `json:"oldest_gen,omitempty"`
}

// Tombstone records a deleted document so that a stale peer cannot bring
// it back.
type Tombstone struct {
	Deleted time.Time `json:"deleted"`
}

func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err)) // our own plain structs
	}
	return b
}

// encodeStoredChange is the stored form of a change: signed when it
// carries a signature, so that the document can serve it to peers later.
func encodeStoredChange(ch *crdt.Change) []byte {
	if ch.Sig != nil {
		if b, err := ch.EncodeSigned(); err == nil {
			return b
		}
	}
	return ch.Encode()
}

// decodeStoredChange decodes what encodeStoredChange wrote. The signature
// is not checked again: it was checked before the change was stored, and
// the record's hash check (the caller compares Hash with the key) guards
// against damage.
func decodeStoredChange(id crdt.DocID, enc []byte) (*crdt.Change, error) {
	if len(enc) > 0 && enc[0] == crdt.SignedChangeVersion {
		const head = 1 + ed25519.SignatureSize
		if len(enc) < head {
			return nil, fmt.Errorf("signed change record: truncated: %w", errChecksum)
		}
		ch, err := crdt.DecodeChange(id, enc[head:])
		if err != nil {
			return nil, err
		}
		ch.Sig = bytes.Clone(enc[1:head])
		return ch, nil
	}
	return crdt.DecodeChange(id, enc)
}
