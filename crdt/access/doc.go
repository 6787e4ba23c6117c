// Package access defines Quire's capability tokens, invite links and
// revocation records, and the one authorization rule, [Authorize], that
// every replica and every relay applies to every change and action.
//
// The package is pure: no goroutines, no I/O, no wall clock (time is a
// parameter), no logging, and randomness only from an io.Reader the caller
// passes in. Besides the standard library it imports one package, the
// Ed25519 verifier of github.com/oasisprotocol/curve25519-voi (BSD-3-Clause,
// pure computation, pinned in go.mod), so crdt, store, p2p and relay can
// all import it without pulling in libp2p or Badger.
//
// # Signatures
//
// Every signature of a token or revocation record is checked by one rule,
// [VerifySignature], so that every replica accepts exactly the same
// signatures. It is RFC 8032's cofactored verification with strict
// encodings (curve25519-voi's default options, spelled out in sig.go):
//
//   - the key A and the signature's R must be canonical encodings (y < p,
//     and no sign bit on x = 0) of points on the curve;
//   - A must not be of small order (a multiple of it by 8 is the
//     identity): anyone could sign for such a key;
//   - S must be reduced (S < L);
//   - [8][S]B = [8]R + [8][k]A, with k = SHA-512(R || A || M) mod L.
//
// R may be of small order. Every signature crypto/ed25519.Sign makes
// verifies. The rule differs from crypto/ed25519.Verify only on crafted
// signatures: that one accepts small-order and non-canonical keys and uses
// the cofactorless equation, so it rejects signatures whose R has a
// torsion component (and most of those whose A has one), which this rule
// accepts (TestSignatureRule lists the cases). The cofactored equation is what makes batch verification exact:
// [Verify] checks a chain's signatures as one [SigBatch], whose verdict is
// the conjunction of VerifySignature's, and if the batch fails it checks
// them one by one, so its errors are those of a one-by-one check.
//
// # Identities
//
// A device is an Ed25519 key pair (the same key as its libp2p peer key).
// [Fingerprint] renders a public key for people to compare.
//
// # Tokens
//
// A [Token] grants [Rights] on one document to an audience key for a bounded
// lifetime. A root token is issued by the document's root key (the creator
// named in the genesis change). Any other token embeds the parent it is
// delegated from, and its issuer must be that parent's audience.
//
// Delegation rule: any holder may delegate a subset of its own rights, within
// its own lifetime, to any key. Admin is not needed to delegate. This is the
// classic attenuation rule of capability systems, and it is what invite links
// need: the invite key holds, say, Write and hands Write to the device that
// accepts the link. The price is that a Write holder can share Write; the
// remedy is revocation, which cuts every token delegated below the revoked one.
//
// Invariants checked by [Verify] on every link, root first:
//   - the chain has at most [MaxDepth] links and encodes to at most [MaxTokenSize] bytes;
//   - the root's issuer is the document's root key;
//   - every link names the same document;
//   - every link's signature is valid;
//   - a child's issuer is its parent's audience;
//   - a child's rights are a subset of its parent's (see [Rights.Within]);
//   - a child's [NotBefore, Expiry] lies within its parent's;
//   - now lies within every link's [NotBefore-Skew, Expiry+Skew];
//   - VerifyParams.Revoked reports no link (by id or audience key) revoked;
//   - the last link's audience is the expected audience.
//
// # Encoding
//
// Token, version 1 (all integers big-endian, times as two's-complement
// Unix seconds):
//
//	version   1   = 1
//	issuer   32   Ed25519 public key
//	audience 32   Ed25519 public key (device or invite key)
//	doc      16   document id
//	rights    1   level in bits 0..2 (1 read .. 4 admin), relay in bit 7
//	nbf       8
//	exp       8
//	nonce    16
//	plen      2   length of the parent's encoding, 0 for a root token
//	parent plen   the parent token's encoding
//	sig      64   Ed25519 by issuer over "quire-token-v1\x00" || every byte above
//
// Revocation, version 1: version (1) = 1, doc (16), kind (1: 1 token, 2
// key), target (32: token id or key), at (8), plen (2), the revoker's proof
// token (plen), sig (64) by the proof's audience over
// "quire-revocation-v1\x00" || every byte above.
//
// Invite link: "quire://join/" then unpadded base64url of version (1) = 1,
// doc (16), invite key seed (32), the invite token's encoding.
//
// Tokens and revocation records have one canonical binary encoding: fixed
// width fields, big-endian integers, and a 2-byte length before the embedded
// parent (0 for a root). Decoding rejects unknown versions, undefined right
// bits, NotBefore after Expiry, trailing bytes and short input, so anything
// that decodes re-encodes to the same bytes. A token's id is the SHA-256 of
// its encoding. Signatures cover a domain-separation prefix followed by the
// encoding of every field except the signature.
//
// # Revocation
//
// A [Revocation] record, signed by a holder of Admin, revokes a token (by id)
// or a device key, and with it every chain that contains that token or has
// that key as an audience (so everything the key delegated, too), subject to
// the rank rule: a revocation applies only to links at least as deep in
// their chain as the revoker's own proof. So an admin can revoke its peers
// (same depth) and everything below them, but never the links its own
// authority comes through; the root (depth 1) can revoke anything, and the
// root key itself can be revoked by no one. Allowing peers is what lets two
// admins revoke each other; that conflict is settled deterministically by
// [Decide]. A record that names a link above its revoker is valid but has no
// effect on that link.
//
// Revoking a token by id stops that token and everything below it, but its
// issuer can still issue a new one (with a new nonce, hence a new id): to
// stop a delegator, revoke its key or its own token. Under the signature
// rule (S reduced, canonical R, small-order keys refused), no one but the
// issuer can produce a second valid encoding of a token under a new id:
// changing R's encoding or adding torsion to R changes k.
//
// Records travel inside the document's history, each in a change authored
// by its revoker (or, as the app places them, at a signed cut of the
// revoker's heads); [Decide] turns the records of a history into a
// [Ruling] by a deterministic rule over the causal order, described there.
// A revocation rejects the target's changes made after it: those whose
// causal past holds the revocation. Its changes in the revocation's past
// stay, and so do its changes concurrent with the revocation (made without
// having seen it): that is the rule for concurrent work, the same on every
// replica since the causal order is. A revoked device therefore has to be
// refused at once by every peer that knows the revocation (KindRead), so
// that it cannot keep publishing changes whose parents predate it; such
// backdated changes are indistinguishable from honest concurrent work and
// are kept. [Authorize] is the one decision: the token check at the
// change's time, the right the change's kind needs, and the ruling.
//
// Times are the signer's claims (a token's lifetime, a change's time, a
// revocation's At); every replica decides alike because none reads its own
// clock here. Bounding how far a live change's claimed time may be from the
// receiver's clock is the receiver's job.
package access
