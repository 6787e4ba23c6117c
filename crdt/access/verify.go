package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Link identifies one link of a chain for a revocation check: the link's
// token id, its audience key, and its depth in the chain (the root is 1).
type Link struct {
	ID       TokenID
	Audience Key
	Depth    int
}

// Revocations answers whether a link of a chain has been revoked, by its
// token id or its audience key. Ruling (the outcome of Decide over a
// history) and RevocationSet implement it; the crdt side may too.
type Revocations interface {
	// Revoked reports whether l is revoked.
	Revoked(l Link) bool
}

// RevocationSet is a plain set of revoked token ids and keys, at any depth.
// The zero value (and nil maps) revoke nothing.
type RevocationSet struct {
	Tokens map[TokenID]bool
	Keys   map[Key]bool
}

// Revoked implements Revocations.
func (s RevocationSet) Revoked(l Link) bool { return s.Tokens[l.ID] || s.Keys[l.Audience] }

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
		if err := verifyLink(chain[i], parent, encs[i], n-i, now, p); err != nil {
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
func verifyLink(t, parent *Token, enc []byte, depth int, now int64, p VerifyParams) error {
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
		if p.Revoked.Revoked(Link{ID: id, Audience: t.Audience, Depth: depth}) {
			return fmt.Errorf("token %v or key %s: %w", id, Fingerprint(t.Audience[:]), ErrRevoked)
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
