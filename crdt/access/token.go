package access

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Limits and format constants shared by every replica.
const (
	// TokenVersion is the only token encoding version this package reads and writes.
	TokenVersion = 1
	// MaxDepth is the longest delegation chain accepted; a root token has depth 1.
	MaxDepth = 8
	// MaxTokenSize is the largest token encoding accepted, in bytes.
	MaxTokenSize = 8 << 10
	// Skew is the clock skew, in seconds, tolerated on either side of a
	// token's [NotBefore, Expiry].
	Skew = 60
)

const (
	tokenDomain = "quire-token-v1\x00"
	nonceSize   = 16
	sigSize     = ed25519.SignatureSize
	// tokenHeader is version, issuer, audience, doc, rights, nbf, exp, nonce.
	tokenHeader = 1 + 32 + 32 + 16 + 1 + 8 + 8 + nonceSize
	// tokenFixed is every fixed-width part: header, parent length, signature.
	tokenFixed = tokenHeader + 2 + sigSize
)

// Token is a capability: Issuer grants Rights on document Doc to Audience
// from NotBefore to Expiry (Unix seconds, both inclusive), as a delegation of
// Parent (nil for a root token). Sig is Issuer's signature.
//
// Tokens are values: build them with Issue or Decode and do not modify them
// afterwards, since the signature covers every field.
type Token struct {
	Issuer    Key
	Audience  Key
	Doc       DocID
	Rights    Rights
	NotBefore int64
	Expiry    int64
	Nonce     [nonceSize]byte
	Parent    *Token
	Sig       [sigSize]byte
}

// Grant is what Issue puts in a new token.
type Grant struct {
	// Audience receives the rights: a device key or an invite key.
	Audience Key
	// Doc is the document; for a delegation it must equal the parent's.
	Doc DocID
	// Rights granted; for a delegation, a subset of the parent's.
	Rights Rights
	// NotBefore and Expiry bound the lifetime (second precision, inclusive);
	// for a delegation, within the parent's.
	NotBefore, Expiry time.Time
}

// NewRoot issues the root token of a new document: from root's key to
// itself, with the nonce read from rand and the document id DocIDFor that
// key and nonce, so the id is bound to its root (BoundToRoot).
func NewRoot(root ed25519.PrivateKey, rights Rights, notBefore, expiry time.Time, rand io.Reader) (*Token, error) {
	var nonce [nonceSize]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("new root: read nonce: %w", err)
	}
	self := PublicKeyOf(root)
	return Issue(nil, root, Grant{Audience: self, Doc: DocIDFor(self, nonce), Rights: rights, NotBefore: notBefore, Expiry: expiry},
		bytes.NewReader(nonce[:]))
}

// Issue signs a new token granting g, as a delegation of parent, or as a
// root token if parent is nil (then issuer must be the document's root key
// for the token to verify). It reads the nonce from rand. Issue refuses with
// the same sentinel errors Verify would return for a token that could never
// verify: rights or lifetime broader than the parent's, another document, an
// issuer that is not the parent's audience, a chain or encoding too long.
// Any caller may use it.
func Issue(parent *Token, issuer ed25519.PrivateKey, g Grant, rand io.Reader) (*Token, error) {
	t := &Token{
		Issuer:    PublicKeyOf(issuer),
		Audience:  g.Audience,
		Doc:       g.Doc,
		Rights:    g.Rights,
		NotBefore: g.NotBefore.Unix(),
		Expiry:    g.Expiry.Unix(),
		Parent:    parent,
	}
	if !t.Rights.Valid() {
		return nil, fmt.Errorf("issue: rights %v: %w", t.Rights, ErrMalformed)
	}
	if t.NotBefore > t.Expiry {
		return nil, fmt.Errorf("issue: not-before after expiry: %w", ErrMalformed)
	}
	if parent != nil {
		if err := checkLink(parent, t); err != nil {
			return nil, fmt.Errorf("issue: %w", err)
		}
		if d := parent.Depth(); d >= MaxDepth {
			return nil, fmt.Errorf("issue: parent has depth %d: %w", d, ErrChainTooDeep)
		}
	}
	if n := t.Size(); n > MaxTokenSize {
		return nil, fmt.Errorf("issue: %d bytes: %w", n, ErrTooLarge)
	}
	if _, err := io.ReadFull(rand, t.Nonce[:]); err != nil {
		return nil, fmt.Errorf("issue: read nonce: %w", err)
	}
	t.sign(issuer)
	return t, nil
}

// checkLink checks the delegation rules between a parent and its child
// (everything but signatures and time).
func checkLink(parent, child *Token) error {
	switch {
	case child.Doc != parent.Doc:
		return ErrWrongDocument
	case child.Issuer != parent.Audience:
		return ErrBrokenChain
	case !child.Rights.Within(parent.Rights):
		return fmt.Errorf("%v not within %v: %w", child.Rights, parent.Rights, ErrRightsEscalation)
	case child.NotBefore < parent.NotBefore || child.Expiry > parent.Expiry:
		return fmt.Errorf("[%d, %d] not within [%d, %d]: %w",
			child.NotBefore, child.Expiry, parent.NotBefore, parent.Expiry, ErrLifetimeEscalation)
	}
	return nil
}

// sign sets t.Sig; it performs no checks, so tests can build invalid tokens.
func (t *Token) sign(priv ed25519.PrivateKey) {
	body := t.appendBody(append(make([]byte, 0, len(tokenDomain)+t.Size()), tokenDomain...))
	copy(t.Sig[:], ed25519.Sign(priv, body))
}

// Depth returns the number of links in t's chain: 1 for a root token. It
// stops counting at MaxDepth+1.
func (t *Token) Depth() int {
	n := 0
	for ; t != nil && n <= MaxDepth; t = t.Parent {
		n++
	}
	return n
}

// Size returns the length of t's encoding in bytes.
func (t *Token) Size() int {
	n := 0
	for i := 0; t != nil && i <= MaxDepth; t, i = t.Parent, i+1 {
		n += tokenFixed
	}
	return n
}

// Encode returns t's canonical encoding. A chain deeper than MaxDepth+1 is
// truncated, since it could never decode anyway.
func (t *Token) Encode() []byte {
	return t.AppendEncode(make([]byte, 0, t.Size()))
}

// AppendEncode appends t's canonical encoding to b and returns the result.
func (t *Token) AppendEncode(b []byte) []byte {
	return append(t.appendBody(b), t.Sig[:]...)
}

// ID returns the SHA-256 of t's encoding.
func (t *Token) ID() TokenID { return sha256.Sum256(t.Encode()) }

// appendBody appends everything but the signature: the signed bytes.
func (t *Token) appendBody(b []byte) []byte {
	return t.appendBodyDepth(b, 1)
}

func (t *Token) appendBodyDepth(b []byte, depth int) []byte {
	b = append(b, TokenVersion)
	b = append(b, t.Issuer[:]...)
	b = append(b, t.Audience[:]...)
	b = append(b, t.Doc[:]...)
	b = append(b, byte(t.Rights))
	b = binary.BigEndian.AppendUint64(b, uint64(t.NotBefore))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Expiry))
	b = append(b, t.Nonce[:]...)
	if t.Parent == nil || depth > MaxDepth {
		return append(b, 0, 0)
	}
	at := len(b)
	b = append(b, 0, 0)
	b = append(t.Parent.appendBodyDepth(b, depth+1), t.Parent.Sig[:]...)
	binary.BigEndian.PutUint16(b[at:], uint16(min(len(b)-at-2, 0xffff)))
	return b
}

// Decode parses a canonical token encoding. It returns ErrTooLarge for input
// over MaxTokenSize, ErrChainTooDeep for a chain over MaxDepth and
// ErrMalformed for anything else that is not exactly one canonical token. It
// checks no signature: that is Verify's job. Decode allocates one Token per
// link and keeps no reference to b. Any caller may use it on untrusted input.
func Decode(b []byte) (*Token, error) {
	if len(b) > MaxTokenSize {
		return nil, fmt.Errorf("decode token: %d bytes: %w", len(b), ErrTooLarge)
	}
	t, err := decodeLink(b, 1)
	if err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	return t, nil
}

func decodeLink(b []byte, depth int) (*Token, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("link %d: %w", depth, ErrChainTooDeep)
	}
	if len(b) < tokenFixed {
		return nil, fmt.Errorf("link %d: %d bytes, truncated: %w", depth, len(b), ErrMalformed)
	}
	if b[0] != TokenVersion {
		return nil, fmt.Errorf("link %d: unknown version %d: %w", depth, b[0], ErrMalformed)
	}
	t := new(Token)
	p := b[1:]
	p = p[copy(t.Issuer[:], p):]
	p = p[copy(t.Audience[:], p):]
	p = p[copy(t.Doc[:], p):]
	t.Rights, p = Rights(p[0]), p[1:]
	t.NotBefore, p = int64(binary.BigEndian.Uint64(p)), p[8:]
	t.Expiry, p = int64(binary.BigEndian.Uint64(p)), p[8:]
	p = p[copy(t.Nonce[:], p):]
	plen, p := int(binary.BigEndian.Uint16(p)), p[2:]
	if !t.Rights.Valid() {
		return nil, fmt.Errorf("link %d: rights %#x: %w", depth, uint8(t.Rights), ErrMalformed)
	}
	if t.NotBefore > t.Expiry {
		return nil, fmt.Errorf("link %d: not-before after expiry: %w", depth, ErrMalformed)
	}
	if len(p) != plen+sigSize {
		return nil, fmt.Errorf("link %d: %d bytes after the header, want %d: %w", depth, len(p), plen+sigSize, ErrMalformed)
	}
	if plen > 0 {
		parent, err := decodeLink(p[:plen], depth+1)
		if err != nil {
			return nil, err
		}
		t.Parent = parent
	}
	copy(t.Sig[:], p[plen:])
	return t, nil
}
