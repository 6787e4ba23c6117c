package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Revocations answers whether a token or a key has been revoked. The crdt
// side implements it over a document's history; RevocationSet and Ruling are
// implementations in this package.
type Revocations interface {
	// TokenRevoked reports whether the token with this id is revoked.
	TokenRevoked(id TokenID) bool
	// KeyRevoked reports whether this device (or invite) key is revoked.
	KeyRevoked(k Key) bool
}

// RevocationSet is a plain set of revoked token ids and keys. The zero value
// (and nil maps) revoke nothing.
type RevocationSet struct {
	Tokens map[TokenID]bool
	Keys   map[Key]bool
}

// TokenRevoked implements Revocations.
func (s RevocationSet) TokenRevoked(id TokenID) bool { return s.Tokens[id] }

// KeyRevoked implements Revocations.
func (s RevocationSet) KeyRevoked(k Key) bool { return s.Keys[k] }

// VerifyParams is what a verifier knows independently of the token.
type VerifyParams struct {
	// Doc is the document the token must be for.
	Doc DocID
	// Root is the document's root key, named in its genesis change.
	Root Key
	// Audience is the key presenting the token (the author of a change, the
	// peer on the other end of a stream).
	Audience Key
	// Now is the time to check lifetimes against, with Skew either side.
	Now time.Time
	// Revoked, if not nil, is consulted for every link's id and audience.
	Revoked Revocations
	// Cache, if not nil, skips signatures that verified before and records
	// those that verify now.
	Cache *SigCache
}

// Verify checks every rule of the package doc on tok's whole chain and
// returns the rights it grants to p.Audience. Errors wrap one sentinel and
// name the failing link, counted from the root (link 1). Any caller may use
// it on untrusted tokens.
func Verify(tok *Token, p VerifyParams) (Rights, error) {
	var chain [MaxDepth]*Token
	n := 0
	for t := tok; t != nil; t = t.Parent {
		if n == MaxDepth {
			return None, fmt.Errorf("verify: more than %d links: %w", MaxDepth, ErrChainTooDeep)
		}
		chain[n] = t
		n++
	}
	if n == 0 {
		return None, fmt.Errorf("verify: no token: %w", ErrMalformed)
	}
	// Encode once; each parent's encoding is a slice of its child's.
	enc := tok.Encode()
	if len(enc) > MaxTokenSize {
		return None, fmt.Errorf("verify: %d bytes: %w", len(enc), ErrTooLarge)
	}
	var encs [MaxDepth][]byte
	for i := 0; i < n; i++ {
		encs[i] = enc
		if i+1 < n {
			plen := int(binary.BigEndian.Uint16(enc[tokenHeader:]))
			enc = enc[tokenHeader+2 : tokenHeader+2+plen]
		}
	}
	if chain[n-1].Issuer != p.Root {
		return None, fmt.Errorf("verify: root issuer %s: %w", Fingerprint(chain[n-1].Issuer[:]), ErrUnknownRoot)
	}
	now := p.Now.Unix()
	for i := n - 1; i >= 0; i-- {
		var parent *Token
		if i+1 < n {
			parent = chain[i+1]
		}
		if err := verifyLink(chain[i], parent, encs[i], now, p); err != nil {
			return None, fmt.Errorf("verify: link %d of %d: %w", n-i, n, err)
		}
	}
	if tok.Audience != p.Audience {
		return None, fmt.Errorf("verify: audience %s, want %s: %w",
			Fingerprint(tok.Audience[:]), Fingerprint(p.Audience[:]), ErrWrongAudience)
	}
	return tok.Rights, nil
}

// verifyLink checks one link given its encoding and its parent (nil for root).
func verifyLink(t, parent *Token, enc []byte, now int64, p VerifyParams) error {
	if t.Doc != p.Doc {
		return ErrWrongDocument
	}
	if !t.Rights.Valid() || t.NotBefore > t.Expiry {
		return ErrMalformed
	}
	id := TokenID(sha256.Sum256(enc))
	if !p.Cache.has(id) {
		if !verifySig(t.Issuer, tokenDomain, enc[:len(enc)-sigSize], t.Sig[:]) {
			return ErrBadSignature
		}
		p.Cache.add(id)
	}
	if parent != nil {
		if err := checkLink(parent, t); err != nil {
			return err
		}
	}
	if err := checkTime(t, now); err != nil {
		return err
	}
	if p.Revoked != nil {
		if p.Revoked.TokenRevoked(id) {
			return fmt.Errorf("token %v: %w", id, ErrRevoked)
		}
		if p.Revoked.KeyRevoked(t.Audience) {
			return fmt.Errorf("key %s: %w", Fingerprint(t.Audience[:]), ErrRevoked)
		}
	}
	return nil
}

// checkTime checks now against [NotBefore-Skew, Expiry+Skew] without overflow.
func checkTime(t *Token, now int64) error {
	if t.NotBefore > math.MinInt64+Skew && now < t.NotBefore-Skew {
		return fmt.Errorf("now %d, not before %d: %w", now, t.NotBefore, ErrNotYetValid)
	}
	if t.Expiry < math.MaxInt64-Skew && now > t.Expiry+Skew {
		return fmt.Errorf("now %d, expired %d: %w", now, t.Expiry, ErrExpired)
	}
	return nil
}

// verifySig verifies sig over domain||msg by key.
func verifySig(key Key, domain string, msg, sig []byte) bool {
	signed := make([]byte, 0, len(domain)+len(msg))
	signed = append(append(signed, domain...), msg...)
	return ed25519.Verify(key[:], signed, sig)
}
