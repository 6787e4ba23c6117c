package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

const (
	// RevocationVersion is the only revocation encoding version this package
	// reads and writes.
	RevocationVersion = 1
	// MaxRevocationSize is the largest revocation encoding accepted, in bytes.
	MaxRevocationSize = revocationFixed + MaxTokenSize

	revocationDomain = "quire-revocation-v1\x00"
	// revocationHeader is version, doc, kind, target, at.
	revocationHeader = 1 + 16 + 1 + 32 + 8
	revocationFixed  = revocationHeader + 2 + sigSize
)

// TargetKind says what a Revocation revokes.
type TargetKind uint8

// The kinds of revocation target.
const (
	// TargetToken revokes one token, by TokenID, and every token delegated from it.
	TargetToken TargetKind = 1
	// TargetKey revokes a device (or invite) key: every chain in which it is an
	// audience, hence everything it issued too.
	TargetKey TargetKind = 2
)

// String returns "token" or "key".
func (k TargetKind) String() string {
	switch k {
	case TargetToken:
		return "token"
	case TargetKey:
		return "key"
	}
	return fmt.Sprintf("target(%d)", uint8(k))
}

// Revocation is a signed record revoking a token or a key on one document.
// The revoker is Proof.Audience, who must hold Admin at At (see Check).
// Records are values: build them with Revoke or DecodeRevocation.
type Revocation struct {
	Doc    DocID
	Kind   TargetKind
	Target [32]byte
	// At is when the revoker signed, in Unix seconds; Proof must be valid then.
	At    int64
	Proof *Token
	Sig   [sigSize]byte
}

// Revoker returns the key that signed r.
func (r *Revocation) Revoker() Key { return r.Proof.Audience }

// Revoke signs a record revoking target (a TokenID or a Key, per kind) on
// proof's document at time at. revoker must be proof's audience and proof
// must grant Admin. Any admin may call it; Check decides whether the record
// counts.
func Revoke(proof *Token, revoker ed25519.PrivateKey, kind TargetKind, target [32]byte, at time.Time) (*Revocation, error) {
	if proof == nil {
		return nil, fmt.Errorf("revoke: no proof: %w", ErrMalformed)
	}
	if kind != TargetToken && kind != TargetKey {
		return nil, fmt.Errorf("revoke: %v: %w", kind, ErrMalformed)
	}
	if proof.Audience != PublicKeyOf(revoker) {
		return nil, fmt.Errorf("revoke: proof not issued to the revoker: %w", ErrWrongAudience)
	}
	if proof.Rights.Level() != Admin {
		return nil, fmt.Errorf("revoke: proof grants %v, need admin: %w", proof.Rights, ErrInsufficientRights)
	}
	if n := proof.Size(); n > MaxTokenSize {
		return nil, fmt.Errorf("revoke: proof of %d bytes: %w", n, ErrTooLarge)
	}
	r := &Revocation{Doc: proof.Doc, Kind: kind, Target: target, At: at.Unix(), Proof: proof}
	body := r.appendBody([]byte(revocationDomain))
	copy(r.Sig[:], ed25519.Sign(revoker, body))
	return r, nil
}

func (r *Revocation) appendBody(b []byte) []byte {
	b = append(b, RevocationVersion)
	b = append(b, r.Doc[:]...)
	b = append(b, byte(r.Kind))
	b = append(b, r.Target[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.At))
	n := r.Proof.Size()
	b = binary.BigEndian.AppendUint16(b, uint16(min(n, 0xffff)))
	return r.Proof.AppendEncode(b)
}

// Encode returns r's canonical encoding.
func (r *Revocation) Encode() []byte {
	b := r.appendBody(make([]byte, 0, revocationFixed+r.Proof.Size()))
	return append(b, r.Sig[:]...)
}

// ID returns the SHA-256 of r's encoding.
func (r *Revocation) ID() [32]byte { return sha256.Sum256(r.Encode()) }

// DecodeRevocation parses a canonical revocation encoding, with the same
// errors as Decode. It checks no signature; Check does. Any caller may use
// it on untrusted input.
func DecodeRevocation(b []byte) (*Revocation, error) {
	if len(b) > MaxRevocationSize {
		return nil, fmt.Errorf("decode revocation: %d bytes: %w", len(b), ErrTooLarge)
	}
	if len(b) < revocationFixed {
		return nil, fmt.Errorf("decode revocation: %d bytes, truncated: %w", len(b), ErrMalformed)
	}
	if b[0] != RevocationVersion {
		return nil, fmt.Errorf("decode revocation: unknown version %d: %w", b[0], ErrMalformed)
	}
	r := new(Revocation)
	p := b[1:]
	p = p[copy(r.Doc[:], p):]
	r.Kind, p = TargetKind(p[0]), p[1:]
	p = p[copy(r.Target[:], p):]
	r.At, p = int64(binary.BigEndian.Uint64(p)), p[8:]
	plen, p := int(binary.BigEndian.Uint16(p)), p[2:]
	if r.Kind != TargetToken && r.Kind != TargetKey {
		return nil, fmt.Errorf("decode revocation: %v: %w", r.Kind, ErrMalformed)
	}
	if len(p) != plen+sigSize {
		return nil, fmt.Errorf("decode revocation: %d bytes after the header, want %d: %w", len(p), plen+sigSize, ErrMalformed)
	}
	var err error
	if r.Proof, err = Decode(p[:plen]); err != nil {
		return nil, fmt.Errorf("decode revocation: proof: %w", err)
	}
	copy(r.Sig[:], p[plen:])
	return r, nil
}

// Check reports whether r is a valid revocation on document doc with root
// key root, ignoring other revocations (Decide applies those): r names doc,
// its signature is the revoker's, the revoker's proof verifies at r.At with
// Admin, and it does not target the root key, which no one may revoke. Any
// admin may sign a revocation of any other token or key, including another
// admin's; which links it applies to is decided by the rank rule (see Cut),
// and conflicts by Decide. Any caller may use it.
func (r *Revocation) Check(doc DocID, root Key) error {
	if r.Proof == nil {
		return fmt.Errorf("revocation: no proof: %w", ErrMalformed)
	}
	if r.Doc != doc {
		return fmt.Errorf("revocation: %w", ErrWrongDocument)
	}
	body := r.appendBody(nil)
	if !verifySig(r.Revoker(), revocationDomain, body, r.Sig[:]) {
		return fmt.Errorf("revocation: %w", ErrBadSignature)
	}
	rights, err := Verify(r.Proof, VerifyParams{Doc: doc, Root: root, Audience: r.Revoker(), Now: time.Unix(r.At, 0)})
	if err != nil {
		return fmt.Errorf("revocation: revoker's proof: %w", err)
	}
	if !rights.Covers(Admin) {
		return fmt.Errorf("revocation: revoker holds %v: %w", rights, ErrInsufficientRights)
	}
	if r.Kind == TargetKey && Key(r.Target) == root {
		return fmt.Errorf("revocation: %w", ErrIrrevocable)
	}
	return nil
}

// targets reports whether r revokes tok (a link of a chain): its id or its
// audience key.
func (r *Revocation) targets(id TokenID, audience Key) bool {
	switch r.Kind {
	case TargetToken:
		return r.Target == id
	case TargetKey:
		return r.Target == audience
	}
	return false
}
