package access

// SigCache remembers the links whose signatures have verified, so that
// checking the many changes an author signs under one proof costs one
// Ed25519 verification per link, not one per change. A link is keyed by its
// TokenID, the SHA-256 of its whole encoding (signature included), so a hit
// means the very same bytes verified before. Only the signature is cached:
// every other rule is checked on every call, since it depends on the
// parameters.
//
// A SigCache is bounded (oldest entries are dropped first) and is not safe
// for concurrent use: it belongs to the one goroutine that owns a document.
// The zero value is not usable; call NewSigCache.
type SigCache struct {
	seen map[TokenID]struct{}
	ring []TokenID
	next int
}

// NewSigCache returns a cache holding at most n link ids (n >= 1).
func NewSigCache(n int) *SigCache {
	n = max(n, 1)
	return &SigCache{seen: make(map[TokenID]struct{}, n), ring: make([]TokenID, 0, n)}
}

// has reports whether id verified before. A nil cache has nothing.
func (c *SigCache) has(id TokenID) bool {
	if c == nil {
		return false
	}
	_, ok := c.seen[id]
	return ok
}

// add records that id verified, dropping the oldest entry when full.
func (c *SigCache) add(id TokenID) {
	if c == nil || c.has(id) {
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, id)
		c.seen[id] = struct{}{}
		return
	}
	delete(c.seen, c.ring[c.next])
	c.ring[c.next] = id
	c.seen[id] = struct{}{}
	c.next = (c.next + 1) % len(c.ring)
}

// Len returns the number of ids held.
func (c *SigCache) Len() int { return len(c.ring) }
