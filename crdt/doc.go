// Package crdt is Quire's replicated text: the history of a document and
// its current text, as a pure value. It does no I/O, starts no goroutines,
// reads no clock and logs nothing; callers persist and send what it
// returns and feed it what peers send.
//
// # Model
//
// A document is a sequence of Unicode code points. Every single-character
// insert or delete is an op; a Change is a run of consecutive ops by one
// author (a 32-byte Ed25519 public key), made on top of the changes named
// by its parents. A change's Hash covers the document id and the change's
// canonical encoding, parents included, so the history is a hash DAG:
// tampering, forged parents and reused sequence numbers (equivocation)
// are detected. Local edits (Doc.Insert, Doc.Delete) go into an open
// change that Doc.Seal closes and returns, so typing is signed and sent
// per seal, not per keystroke.
//
// # Signatures
//
// A change's Sig is its author's Ed25519 signature over a domain string and
// the change's Hash; it is carried beside the change, not inside its hash.
// Because a hash covers the document id and the parents' hashes, and every
// change of an author follows the author's previous change, one valid
// signature authenticates its change and every earlier change of the same
// author: a verifier walks the hash links from the signed change.
//
// A Doc with a signer (SetSigner) signs each change it seals: one
// signature per seal, never per keystroke. A Doc that verifies (SetVerify,
// DecodeVerified) accepts a remote change only if its hash matches its
// content, and it is validly signed or in the causal past of a validly
// signed change of the same author in the same input (Apply call or
// encoding); then an optional admission hook (SetAdmit) may refuse it.
// Anything refused is never buffered or stored (ErrHashMismatch,
// ErrBadSignature, ErrUnsigned, ErrNotAdmitted). A signature that is
// present is checked even when verification is off; Load alone trusts its
// input (this device's own store).
//
// A Doc does not keep a signature per change. Per author it retains the
// signature of the last change of each SigSpacing-op bucket of sequence
// numbers, so memory grows with authors plus ops/SigSpacing and the
// author's latest signed change is always retained. Encode, EncodeSince
// and EncodeBatch carry the retained signatures of the changes they hold,
// which is enough to verify every change's authorship; EncodeBatch cuts a
// catch-up into batches that each end, per author, at a retained
// signature, so each verifies on its own.
//
// # Algorithm
//
// The op log keeps every op in local-version (LV) order, the order this
// replica learned them, which is a topological order of the causal graph;
// all its tables are run-length encoded. The current text is cached in a
// rope. Following Eg-walker (Gentle and Kleppmann, "Collaborative Text
// Editing with Eg-walker: Better, Faster, Smaller", EuroSys 2025), an op
// made on top of the replica's current version applies to the rope as it
// is; concurrent ops are transformed by replaying only the conflicting part
// of the history through a short-lived tracker (tracker.go), which is
// dropped at critical versions and kept between merges while edits stay
// concurrent. Concurrent inserts at the same place order as in YATA with
// Diamond Types' modification (equivalent to FugueMax): they never
// interleave, and ties break by author key, smaller first, then sequence
// number.
//
// # Invariants
//
//   - Applying is idempotent and order-independent: replicas that hold the
//     same changes have the same text, heads and vector, and the same
//     Encode bytes when they also retain the same signatures (they do when
//     every author signed every change it sealed).
//   - A change applies only when its parents are present; until then it
//     waits in a buffer of at most MaxPendingChanges changes and
//     MaxPendingOps ops (Doc.Missing names what it waits for). When the
//     buffer is full the change is dropped with ErrBufferFull; catch-up
//     delivers it again.
//   - A change is accepted only if it follows its author's previous change
//     (sequence numbers are contiguous and causally ordered), its parents
//     form an antichain, and every op fits the document it was made in.
//     A batch that fails is rolled back whole and retried change by change.
//   - Decoding untrusted bytes never panics and allocates at most in
//     proportion to its input (counts are checked against the bytes that
//     remain; compressed text may expand at most 1032:1, DEFLATE's limit).
//   - The encodings are versioned: Change's first byte (0x81 for the signed
//     form), Encode's magic and version byte (2; version 1, without
//     signatures, is still read).
//
// # Ownership
//
// A Doc is not safe for concurrent use: one goroutine owns each open
// document and serialises every call.
package crdt
