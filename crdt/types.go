package crdt

import (
	"bytes"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
)

// Author is an author's 32-byte Ed25519 public key. Inside a document authors
// are referred to by a small index; the key appears only at the boundary.
type Author [32]byte

func (a Author) String() string { return fmt.Sprintf("%x", a[:6]) }

// Compare orders authors by key bytes. It is the tie-break for concurrent
// insertions at the same place: the smaller key's text comes first.
func (a Author) Compare(b Author) int { return bytes.Compare(a[:], b[:]) }

// Hash identifies a change: SHA-256 over the document id and the change's
// canonical encoding.
type Hash [32]byte

func (h Hash) String() string { return fmt.Sprintf("%x", h[:8]) }

// DocID is a document's random 128-bit id.
type DocID [16]byte

var docIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// String returns the id in lower-case base32 without padding.
func (id DocID) String() string { return lower(docIDEncoding.EncodeToString(id[:])) }

// ParseDocID parses the form String returns (either case).
func ParseDocID(s string) (DocID, error) {
	var id DocID
	b, err := docIDEncoding.DecodeString(upper(s))
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("parse document id %q: want 26 base32 characters", s)
	}
	copy(id[:], b)
	return id, nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// OpKind is the kind of an operation.
type OpKind uint8

const (
	// Insert inserts text.
	Insert OpKind = iota
	// Delete deletes code points.
	Delete
)

func (k OpKind) String() string {
	if k == Insert {
		return "ins"
	}
	return "del"
}

// Op is a run of single-character operations by one author, in the
// coordinates of the document as its author saw it.
//
// An insert run of Len code points at Pos inserts Text, one code point after
// another. A delete run removes the range [Pos, Pos+Len) of the document
// before it: forward (the delete key: every op at Pos) or, when Rev is set,
// backward (backspace: the first op removes Pos+Len-1, the last Pos).
type Op struct {
	Kind OpKind
	Pos  int
	Len  int
	Rev  bool
	Text string
}

// Edit is a change to the text of one replica: delete Del code points at Pos,
// then insert Text there. Merges and local edits report what they did to the
// text as edits, in order, for the UI.
type Edit struct {
	Pos  int
	Del  int
	Text string
}

// Vector maps each author to the number of its ops a replica holds (its next
// sequence number). It is the per-author form of a version.
type Vector map[Author]uint64

// Clone returns a copy of v.
func (v Vector) Clone() Vector {
	c := make(Vector, len(v))
	for a, n := range v {
		c[a] = n
	}
	return c
}

// Covers reports whether v holds everything w holds.
func (v Vector) Covers(w Vector) bool {
	for a, n := range w {
		if v[a] < n {
			return false
		}
	}
	return true
}

// Errors callers branch on.
var (
	// ErrInvalid marks input that violates the format or the rules of the
	// CRDT: the change or encoding is rejected whole.
	ErrInvalid = errors.New("invalid")
	// ErrEquivocation marks a change that reuses an author's sequence numbers
	// with different content.
	ErrEquivocation = errors.New("equivocation")
	// ErrUnknownVersion marks a version that names changes this replica does
	// not have.
	ErrUnknownVersion = errors.New("unknown version")
	// ErrBufferFull marks a change that waits for missing parents but found
	// the pending buffer full; it was dropped and catch-up will resend it.
	ErrBufferFull = errors.New("pending buffer full")
	// ErrPosition marks a local edit outside the document.
	ErrPosition = errors.New("position out of range")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func sortHashes(hs []Hash) {
	slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
}

// SignedChangeVersion is the first byte of a change's signed form
// (Change.EncodeSigned); the unsigned form (Encode) never starts with it.
const SignedChangeVersion = signedChangeVersion
