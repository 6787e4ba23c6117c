package app

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/store"
)

// A document key is the 32-byte secret every member holds and no relay
// does: changes a member leaves in a relay's mailbox are sealed with it
// (AES-256-GCM). The document's creator makes it; invite links carry it in
// their fragment ("quire://join/…#KEY"), which never reaches a relay.

const docKeySize = 32

// ErrNoDocKey reports a document whose key this device does not hold (it
// joined through a link made before document keys, or by a tool that
// dropped the fragment): it syncs with peers directly but not through
// relays' mailboxes.
var ErrNoDocKey = errors.New("this device holds no key for the document; it cannot use relay mailboxes until it joins through a new invite link")

func docKeyName(id DocID) string { return "dockey/" + id.String() }

// docKey returns the document's key. A device that holds none and is the
// document's root makes one (documents created before keys existed).
func (p *Peer) docKey(id DocID, own *access.Token) ([]byte, error) {
	b, err := p.db.Get(store.Tokens, docKeyName(id))
	if err == nil && len(b) == docKeySize {
		return b, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if own == nil || rootOf(own) != p.self {
		return nil, ErrNoDocKey
	}
	return p.newDocKey(id)
}

// newDocKey makes and stores a fresh key for document id.
func (p *Peer) newDocKey(id DocID) ([]byte, error) {
	k := make([]byte, docKeySize)
	if _, err := io.ReadFull(p.cfg.Rand, k); err != nil {
		return nil, fmt.Errorf("new document key: %w", err)
	}
	if err := p.db.Put(store.Tokens, docKeyName(id), k); err != nil {
		return nil, err
	}
	return k, nil
}

var fragmentEnc = base64.RawURLEncoding

// withDocKey appends the key as the link's fragment.
func withDocKey(link string, key []byte) string {
	if len(key) != docKeySize {
		return link
	}
	return link + "#" + fragmentEnc.EncodeToString(key)
}

// splitDocKey separates an invite link from its key fragment; key is nil
// if the link has none. A fragment that is not a key is an error.
func splitDocKey(link string) (base string, key []byte, err error) {
	base, frag, ok := strings.Cut(strings.TrimSpace(link), "#")
	if !ok {
		return base, nil, nil
	}
	key, err = fragmentEnc.Strict().DecodeString(frag)
	if err != nil || len(key) != docKeySize {
		return base, nil, fmt.Errorf("invite link: the part after # is not a document key: %w", access.ErrBadLink)
	}
	return base, key, nil
}

// sealer seals and opens mailbox boxes of one document.
type sealer struct {
	aead cipher.AEAD
	ad   []byte
}

func newSealer(id DocID, key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, ad: append([]byte("quire-mailbox-v1\x00"), id[:]...)}, nil
}

func (s *sealer) seal(plain []byte) []byte { return s.aead.Seal(nil, nil, plain, s.ad) }

// errSealed reports a box that does not open with the document key.
var errSealed = errors.New("box does not open with the document key (altered, or sealed with another key)")

func (s *sealer) open(box []byte) ([]byte, error) {
	plain, err := s.aead.Open(nil, nil, box, s.ad)
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}
