package access

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"hash"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// sigRule is the package's one Ed25519 verification rule (see "Signatures"
// in the package doc). It is spelled out here, not taken from
// voi.VerifyOptionsDefault, so that a change of the library's default
// cannot change which signatures replicas accept.
var sigRule = &voi.Options{Verify: &voi.VerifyOptions{
	AllowSmallOrderA:   false,
	AllowSmallOrderR:   true,
	AllowNonCanonicalA: false,
	AllowNonCanonicalR: false,
	CofactorlessVerify: false,
}}

// batchDomain separates the hash that seeds a batch's coefficients from
// every other hash of the package.
const batchDomain = "quire-sigbatch-v1\x00"

// VerifySignature reports whether sig is key's Ed25519 signature of msg
// under the package's verification rule (see "Signatures" in the package
// doc). Every signature in Quire's access records is checked by this rule;
// other packages that need replicas to agree on a signature (change
// signatures, revocation cuts) may use it too. Any caller may use it.
func VerifySignature(key Key, msg, sig []byte) bool {
	return voi.VerifyWithOptions(key[:], msg, sig, sigRule)
}

// verifySig verifies sig over domain||msg by key.
func verifySig(key Key, domain string, msg, sig []byte) bool {
	signed := make([]byte, 0, len(domain)+len(msg))
	signed = append(append(signed, domain...), msg...)
	return VerifySignature(key, signed, sig)
}

// SigBatch checks several signatures at once, as one multiscalar
// multiplication, which costs less than checking them one by one (see
// BenchmarkVerifyDepth4 and BenchmarkSigBatch). Its verdict is the
// conjunction of VerifySignature's on each signature added: a batch of
// valid signatures always passes (the equation is cofactored), a batch
// with one invalid signature always fails (its nonzero 128-bit
// coefficient cannot cancel a non-torsion error), and one with several
// passes only if the coefficients happen to cancel their errors, a chance
// of about 2^-128 per batch an adversary tries (each try costs it a hash
// and a batch verification). A failed batch does not say which signature
// is bad: the caller checks each with VerifySignature to find out, so that
// its errors are the ones a one-by-one check gives.
//
// The batch's random coefficients are derived from a hash of everything
// added (keys, messages, signatures), so Valid is a pure function of its
// inputs: no randomness source, and the same verdict on every replica.
//
// The zero value is an empty batch. A SigBatch is not safe for concurrent
// use.
type SigBatch struct {
	v voi.BatchVerifier
	h hash.Hash // SHA-512 of batchDomain and every input added
	n int
}

// Add adds key's signature sig of msg to the batch. The batch keeps no
// reference to msg or sig.
func (b *SigBatch) Add(key Key, msg, sig []byte) {
	if b.h == nil {
		b.h = sha512.New()
		b.h.Write([]byte(batchDomain))
	}
	var lens [16]byte
	binary.BigEndian.PutUint64(lens[:8], uint64(len(sig)))
	binary.BigEndian.PutUint64(lens[8:], uint64(len(msg)))
	b.h.Write(key[:])
	b.h.Write(lens[:])
	b.h.Write(sig)
	b.h.Write(msg)
	if b.n == 0 {
		// Expanding each key into a table pays off only when keys repeat
		// across many signatures; a chain's keys are all different.
		b.v.ForceNoPublicKeyExpansion()
	}
	b.v.AddWithOptions(key[:], msg, sig, sigRule)
	b.n++
}

// Len returns the number of signatures added.
func (b *SigBatch) Len() int { return b.n }

// Valid reports whether every signature added verifies (see SigBatch). An
// empty batch is valid.
func (b *SigBatch) Valid() bool {
	if b.n == 0 {
		return true
	}
	// The coefficient generator reads a 32-byte key from the reader.
	seed := b.h.Sum(nil)
	return b.v.VerifyBatchOnly(bytes.NewReader(seed[:32]))
}
