package access

import (
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
func Verify(tok *Token, p VerifyParams) (Rights, error) { return verify(tok, p, true) }

// verify is Verify, checking the chain's uncached signatures as one batch
// if batch is set and one by one otherwise; tests compare the two.
func verify(tok *Token, p VerifyParams, batch bool) (Rights, error) {
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
	var ids [MaxDepth]TokenID
	for i := range n {
		ids[i] = TokenID(sha256.Sum256(encs[i]))
	}
	sigsOK := batch && batchSigs(&chain, &encs, &ids, n, p.Cache)
	now := p.Now.Unix()
	for i := n - 1; i >= 0; i-- {
		var parent *Token
		if i+1 < n {
			parent = chain[i+1]
		}
		if err := verifyLink(chain[i], parent, encs[i], ids[i], sigsOK, n-i, now, p); err != nil {
			return None, fmt.Errorf("verify: link %d of %d: %w", n-i, n, err)
		}
	}
	if tok.Audience != p.Audience {
		return None, fmt.Errorf("verify: audience %s, want %s: %w",
			Fingerprint(tok.Audience[:]), Fingerprint(p.Audience[:]), ErrWrongAudience)
	}
	return tok.Rights, nil
}

// batchSigs checks, as one SigBatch, the signatures of the chain's links
// that are not in cache, and reports whether all of them verify. With
// fewer than two such links, or if the batch fails, it returns false and
// verifyLink checks each signature alone, in chain order, so that a bad
// signature is reported at the same link, with the same error, as without
// batching.
func batchSigs(chain *[MaxDepth]*Token, encs *[MaxDepth][]byte, ids *[MaxDepth]TokenID, n int, cache *SigCache) bool {
	todo := 0
	size := 0
	for i := range n {
		if !cache.has(ids[i]) {
			todo++
			size += len(tokenDomain) + len(encs[i]) - sigSize
		}
	}
	if todo < 2 {
		return false
	}
	var b SigBatch
	buf := make([]byte, 0, size)
	for i := range n {
		if cache.has(ids[i]) {
			continue
		}
		start := len(buf)
		buf = append(append(buf, tokenDomain...), encs[i][:len(encs[i])-sigSize]...)
		b.Add(chain[i].Issuer, buf[start:], chain[i].Sig[:])
	}
	return b.Valid()
}

// verifyLink checks one link given its encoding, its id and its parent
// (nil for root). sigOK says its signature is known to verify.
func verifyLink(t, parent *Token, enc []byte, id TokenID, sigOK bool, depth int, now int64, p VerifyParams) error {
	if t.Doc != p.Doc {
		return ErrWrongDocument
	}
	if !t.Rights.Valid() || t.NotBefore > t.Expiry {
		return ErrMalformed
	}
	if !p.Cache.has(id) {
		if !sigOK && !verifySig(t.Issuer, tokenDomain, enc[:len(enc)-sigSize], t.Sig[:]) {
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
