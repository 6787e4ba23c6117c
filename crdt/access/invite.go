package access

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	// InvitePrefix starts every invite link.
	InvitePrefix = "quire://join/"
	// InviteVersion is the only invite payload version this package reads and writes.
	InviteVersion = 1
	// MaxLinkSize is the longest invite link accepted, in bytes.
	MaxLinkSize = len(InvitePrefix) + (1+16+ed25519.SeedSize+MaxTokenSize+2)/3*4 + 4
)

var linkEnc = base64.RawURLEncoding

// Invite is the content of an invite link: the document, a token whose
// audience is the invite key, and the invite key's private seed. Whoever
// holds the link holds the key, and can delegate the token's rights (within
// its lifetime) to their own device with Accept.
type Invite struct {
	Doc   DocID
	Token *Token
	Key   ed25519.PrivateKey
}

// NewInvite creates an invite key pair from rand and issues, from holder's
// proof, a token granting g.Rights on proof's document to that key for
// [g.NotBefore, g.Expiry]; g.Audience and g.Doc are ignored. Any holder of a
// token may call it (see the delegation rule in the package doc).
func NewInvite(proof *Token, holder ed25519.PrivateKey, g Grant, rand io.Reader) (*Invite, error) {
	if proof == nil {
		return nil, fmt.Errorf("new invite: no proof: %w", ErrMalformed)
	}
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("new invite: read key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed[:])
	g.Audience, g.Doc = PublicKeyOf(key), proof.Doc
	tok, err := Issue(proof, holder, g, rand)
	if err != nil {
		return nil, fmt.Errorf("new invite: %w", err)
	}
	return &Invite{Doc: proof.Doc, Token: tok, Key: key}, nil
}

// String returns the link: InvitePrefix followed by the unpadded base64url
// of version (1 byte), document id (16), invite key seed (32) and the token
// encoding (the rest).
func (inv *Invite) String() string {
	b := make([]byte, 0, 1+16+ed25519.SeedSize+inv.Token.Size())
	b = append(b, InviteVersion)
	b = append(b, inv.Doc[:]...)
	b = append(b, inv.Key.Seed()...)
	b = inv.Token.AppendEncode(b)
	return InvitePrefix + linkEnc.EncodeToString(b)
}

// ParseInvite parses a link made by Invite.String. It returns ErrBadLink for
// a string that is not a quire://join/ link, ErrTooLarge for one over
// MaxLinkSize, ErrMalformed for a payload that does not decode canonically,
// and ErrWrongDocument or ErrWrongAudience if the token does not match the
// link's document or key. It checks no signature; Accept does. Any caller
// may use it on untrusted input.
func ParseInvite(link string) (*Invite, error) {
	if len(link) > MaxLinkSize {
		return nil, fmt.Errorf("parse invite: %d bytes: %w", len(link), ErrTooLarge)
	}
	payload, ok := strings.CutPrefix(link, InvitePrefix)
	if !ok {
		return nil, fmt.Errorf("parse invite: missing %q: %w", InvitePrefix, ErrBadLink)
	}
	b, err := linkEnc.Strict().DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("parse invite: base64url: %v: %w", err, ErrMalformed)
	}
	const head = 1 + 16 + ed25519.SeedSize
	if len(b) < head {
		return nil, fmt.Errorf("parse invite: %d bytes, truncated: %w", len(b), ErrMalformed)
	}
	if b[0] != InviteVersion {
		return nil, fmt.Errorf("parse invite: unknown version %d: %w", b[0], ErrMalformed)
	}
	inv := &Invite{Key: ed25519.NewKeyFromSeed(b[1+16 : head])}
	copy(inv.Doc[:], b[1:])
	if inv.Token, err = Decode(b[head:]); err != nil {
		return nil, fmt.Errorf("parse invite: %w", err)
	}
	if inv.Token.Doc != inv.Doc {
		return nil, fmt.Errorf("parse invite: token for document %v: %w", inv.Token.Doc, ErrWrongDocument)
	}
	if inv.Token.Audience != PublicKeyOf(inv.Key) {
		return nil, fmt.Errorf("parse invite: token not issued to the link's key: %w", ErrWrongAudience)
	}
	return inv, nil
}

// Accept parses link, checks its token chain at now (signatures, narrowing,
// lifetimes; the root is taken from the chain itself, since the joining
// device learns the document's root key only from its genesis change, where
// Verify checks it again), and issues with the invite key a token granting
// the invite's rights for the invite's lifetime to device. The nonce is read
// from rand. Any caller holding the link may call it.
func Accept(link string, device ed25519.PublicKey, now time.Time, rand io.Reader) (*Token, error) {
	inv, err := ParseInvite(link)
	if err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	return inv.Accept(device, now, rand)
}

// Accept is like the function Accept on an already parsed invite.
func (inv *Invite) Accept(device ed25519.PublicKey, now time.Time, rand io.Reader) (*Token, error) {
	dev, err := KeyOf(device)
	if err != nil {
		return nil, fmt.Errorf("accept: device key: %w", err)
	}
	root := inv.Token
	for root.Parent != nil && root.Depth() <= MaxDepth {
		root = root.Parent
	}
	_, err = Verify(inv.Token, VerifyParams{Doc: inv.Doc, Root: root.Issuer, Audience: inv.Token.Audience, Now: now})
	if err != nil {
		return nil, fmt.Errorf("accept: invite token: %w", err)
	}
	tok, err := Issue(inv.Token, inv.Key, Grant{
		Audience:  dev,
		Doc:       inv.Doc,
		Rights:    inv.Token.Rights,
		NotBefore: time.Unix(inv.Token.NotBefore, 0),
		Expiry:    time.Unix(inv.Token.Expiry, 0),
	}, rand)
	if err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	return tok, nil
}
