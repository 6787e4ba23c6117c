package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// Key is an Ed25519 public key in fixed-size form, so it can be compared and
// used as a map key.
type Key [ed25519.PublicKeySize]byte

// KeyOf converts pub to a Key. Any caller may use it; it returns an error if
// pub has the wrong length.
func KeyOf(pub ed25519.PublicKey) (Key, error) {
	var k Key
	if len(pub) != len(k) {
		return k, fmt.Errorf("public key of %d bytes: %w", len(pub), ErrMalformed)
	}
	copy(k[:], pub)
	return k, nil
}

// PublicKeyOf returns the Key of a private key. It panics if priv is not a
// valid ed25519.PrivateKey, which is a programming error of the caller.
func PublicKeyOf(priv ed25519.PrivateKey) Key {
	k, err := KeyOf(priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	return k
}

// PublicKey returns k as an ed25519.PublicKey sharing no memory with k.
func (k Key) PublicKey() ed25519.PublicKey { return append(ed25519.PublicKey(nil), k[:]...) }

// String returns k in lower-case hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// DocID is a document id: 128 random bits.
type DocID [16]byte

// docEnc is the alphabet DESIGN.md prints document ids in.
var docEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// String returns id in unpadded upper-case base32 (26 characters).
func (id DocID) String() string { return docEnc.EncodeToString(id[:]) }

// ParseDocID parses the form String returns.
func ParseDocID(s string) (DocID, error) {
	var id DocID
	b, err := docEnc.DecodeString(strings.ToUpper(s))
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("document id %q: %w", s, ErrMalformed)
	}
	copy(id[:], b)
	return id, nil
}

// TokenID is the SHA-256 of a token's canonical encoding.
type TokenID [sha256.Size]byte

// String returns id in lower-case hex.
func (id TokenID) String() string { return hex.EncodeToString(id[:]) }

// Fingerprint returns a short, human-comparable fingerprint of a public key:
// the first 10 bytes of SHA-256(pub) in upper-case RFC 4648 base32 (16
// characters, no padding), in four groups of four joined by '-', for example
// "MFRG-GZDF-MZTW-Q2LK". 80 bits are enough for people to compare two
// devices; they are not meant to resist a targeted second-preimage search.
// Any caller may use it.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	s := docEnc.EncodeToString(sum[:10])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// DocIDFor returns the document id bound to a root key and the nonce of
// the root's own token: the first 16 bytes of SHA-256 over a domain
// string, the key and the nonce. A document created this way cannot be
// claimed by another root (see BoundToRoot): a relay that pins a
// document's root on first use relies on it.
func DocIDFor(root Key, nonce [16]byte) DocID {
	h := sha256.New()
	h.Write([]byte("quire-doc-id-v1\x00"))
	h.Write(root[:])
	h.Write(nonce[:])
	var id DocID
	copy(id[:], h.Sum(nil))
	return id
}

// BoundToRoot reports whether t's document id is DocIDFor its chain's
// root key and the nonce of the chain's first token (the root's own). It
// checks no signature (Verify does); a chain that verifies and is bound
// names the one root its document can have.
func BoundToRoot(t *Token) bool {
	first := t
	for first.Parent != nil {
		first = first.Parent
	}
	return DocIDFor(first.Issuer, first.Nonce) == t.Doc
}
