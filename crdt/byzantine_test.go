package crdt_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

// byzSetup returns alice's signed document with some history, a verifying
// replica holding the same history, and a change alice then sealed (not
// yet given to the replica) with its signed wire form.
func byzSetup(t *testing.T) (alice, recv *crdt.Doc, next *crdt.Change, wire []byte) {
	t.Helper()
	alice = signedDoc(t, sigID, "alice")
	alice.Insert(0, "the quick brown fox")
	base := alice.Seal()
	recv = verifier(sigID, "carol")
	if _, err := recv.Apply(base...); err != nil {
		t.Fatal(err)
	}
	alice.Insert(4, "very ")
	alice.Delete(0, 1)
	next = alice.Seal()[0]
	wire, err := next.EncodeSigned()
	if err != nil {
		t.Fatal(err)
	}
	return alice, recv, next, wire
}

// snapshot is what a rejected input must leave alone.
type snapshot struct {
	text    string
	heads   []crdt.Hash
	enc     []byte
	pending int
}

func snap(d *crdt.Doc) snapshot {
	return snapshot{d.Text(), d.Heads(), d.Encode(), d.Pending()}
}

func (s snapshot) check(t *testing.T, d *crdt.Doc) {
	t.Helper()
	if got := snap(d); got.text != s.text || !slices.Equal(got.heads, s.heads) || !bytes.Equal(got.enc, s.enc) || got.pending != s.pending {
		t.Fatalf("rejected input changed the document: text %q (was %q), %d pending (was %d)", got.text, s.text, got.pending, s.pending)
	}
}

// clone deep-copies a change so a test can tamper with it.
func clone(c *crdt.Change) *crdt.Change {
	x := *c
	x.Parents = slices.Clone(c.Parents)
	x.Ops = slices.Clone(c.Ops)
	x.Sig = slices.Clone(c.Sig)
	return &x
}

// rehash gives c the hash of its (tampered) content in document id.
func rehash(t *testing.T, id crdt.DocID, c *crdt.Change) {
	t.Helper()
	x, err := crdt.DecodeChange(id, c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	c.Hash = x.Hash
}

// TestByzantineChanges feeds a verifying replica forged, altered,
// misattributed and replayed changes: none is accepted or stored, the
// document is left as it was, and the error names the reason.
func TestByzantineChanges(t *testing.T) {
	mallory, _ := key("mallory")
	otherID := crdt.DocID{'o', 't', 'h', 'e', 'r'}
	cases := []struct {
		name   string
		forge  func(t *testing.T, alice *crdt.Doc, next *crdt.Change) []*crdt.Change
		reason error
		waits  int // genuine changes left waiting for the forged one's hash
	}{
		{"body altered, hash kept", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Ops[0].Pos++
			return []*crdt.Change{x}
		}, crdt.ErrHashMismatch, 0},
		{"body altered, rehashed", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Ops[0].Pos++
			rehash(t, sigID, x)
			return []*crdt.Change{x}
		}, crdt.ErrBadSignature, 0},
		{"signature bit flipped", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Sig[10] ^= 4
			return []*crdt.Change{x}
		}, crdt.ErrBadSignature, 0},
		{"signature truncated", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Sig = x.Sig[:63]
			return []*crdt.Change{x}
		}, crdt.ErrBadSignature, 0},
		{"re-signed by another key", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Sig = ed25519.Sign(mallory, append([]byte("quire/change-sig/v1\x00"), x.Hash[:]...))
			return []*crdt.Change{x}
		}, crdt.ErrBadSignature, 0},
		{"unsigned", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Sig = nil
			return []*crdt.Change{x}
		}, crdt.ErrUnsigned, 0},
		{"signed by the author for another document", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			other := signedDoc(t, otherID, "alice")
			other.Insert(0, "the quick brown fox")
			return other.Seal()
		}, crdt.ErrHashMismatch, 0},
		{"replayed from another document, rehashed", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			other := signedDoc(t, otherID, "alice")
			other.Insert(0, "another text")
			x := other.Seal()[0]
			rehash(t, sigID, x)
			return []*crdt.Change{x}
		}, crdt.ErrBadSignature, 0},
		{"forged parent", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Parents = []crdt.Hash{{0xde, 0xad}}
			rehash(t, sigID, x)
			return []*crdt.Change{x}
		}, crdt.ErrBadSignature, 0},
		{"dangling parent, unsigned", func(t *testing.T, _ *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Parents = []crdt.Hash{{0xde, 0xad}}
			x.Sig = nil
			rehash(t, sigID, x)
			return []*crdt.Change{x}
		}, crdt.ErrUnsigned, 0},
		{"unsigned tail not covered", func(t *testing.T, alice *crdt.Doc, c *crdt.Change) []*crdt.Change {
			// Alice's later changes with their signatures stripped: the
			// signed one before them does not cover them.
			alice.Insert(0, "T")
			t1 := clone(alice.Seal()[0])
			alice.Insert(0, "U")
			t2 := clone(alice.Seal()[0])
			t1.Sig, t2.Sig = nil, nil
			return []*crdt.Change{t1, t2}
		}, crdt.ErrUnsigned, 0},
		{"covered only by another author", func(t *testing.T, alice *crdt.Doc, c *crdt.Change) []*crdt.Change {
			x := clone(c)
			x.Sig = nil
			bob := signedDoc(t, sigID, "bob")
			bob.Apply(alice.ChangesSince(nil)...)
			bob.Insert(0, "B")
			// Bob's change is genuine: it waits for alice's.
			return []*crdt.Change{x, bob.Seal()[0]}
		}, crdt.ErrUnsigned, 1},
		{"unsigned, beside a signed change of its author", func(t *testing.T, alice *crdt.Doc, c *crdt.Change) []*crdt.Change {
			// Mallory's change in alice's name next to a signed change of
			// alice's that does not have it in its past (they are
			// siblings), which is not given: see below.
			x := clone(c)
			x.Sig = nil
			x.Ops[0].Pos++
			rehash(t, sigID, x)
			return []*crdt.Change{x}
		}, crdt.ErrUnsigned, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alice, recv, next, _ := byzSetup(t)
			before := snap(recv)
			before.pending += tc.waits
			forged := tc.forge(t, alice, next)
			_, err := recv.Apply(forged...)
			if !errors.Is(err, tc.reason) {
				t.Fatalf("got %v, want %v", err, tc.reason)
			}
			before.check(t, recv)
			for _, c := range forged[:len(forged)-tc.waits] {
				if recv.Has(c.Hash) {
					t.Fatalf("forged change %s stored", c.Hash)
				}
			}
			// The genuine change still applies afterwards.
			if _, err := recv.Apply(next); err != nil {
				t.Fatal(err)
			}
			want, err := alice.TextAt([]crdt.Hash{next.Hash})
			if err != nil {
				t.Fatal(err)
			}
			if tc.waits > 0 {
				want = recv.Text() // the waiting change applied too
			}
			if recv.Text() != want || recv.Pending() != 0 {
				t.Fatalf("text %q, want %q", recv.Text(), want)
			}
		})
	}
}

// TestUncoveredSibling gives an unsigned change in alice's name together
// with a genuine signed change of hers that does not have it in its causal
// past: the signed one applies, the other is refused and not stored.
func TestUncoveredSibling(t *testing.T) {
	_, recv, next, _ := byzSetup(t)
	x := clone(next)
	x.Sig = nil
	x.Ops[0].Pos++
	rehash(t, sigID, x)
	_, err := recv.Apply(x, next)
	if !errors.Is(err, crdt.ErrUnsigned) {
		t.Fatalf("got %v, want ErrUnsigned", err)
	}
	if recv.Has(x.Hash) || !recv.Has(next.Hash) || recv.Pending() != 0 {
		t.Fatal("wrong changes stored")
	}
}

// TestByzantineWire tampers with the signed wire form of a change.
func TestByzantineWire(t *testing.T) {
	_, _, _, wire := byzSetup(t)
	for i := range len(wire) * 8 {
		b := slices.Clone(wire)
		b[i/8] ^= 1 << (i % 8)
		c, err := crdt.DecodeSignedChange(sigID, b)
		if err == nil {
			t.Fatalf("bit %d flipped: accepted change %s", i, c.Hash)
		}
		if !errors.Is(err, crdt.ErrInvalid) && !errors.Is(err, crdt.ErrBadSignature) {
			t.Fatalf("bit %d flipped: error %v is neither ErrInvalid nor ErrBadSignature", i, err)
		}
	}
	for n := range len(wire) {
		if _, err := crdt.DecodeSignedChange(sigID, wire[:n]); !errors.Is(err, crdt.ErrInvalid) && !errors.Is(err, crdt.ErrBadSignature) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := crdt.DecodeSignedChange(crdt.DocID{'x'}, wire); !errors.Is(err, crdt.ErrBadSignature) {
		t.Fatalf("replayed into another document: %v, want ErrBadSignature", err)
	}
}

// TestByzantineEncoded flips every bit of a signed delta and of a signed
// whole document, and feeds unsigned ones to verifying replicas: only
// genuine changes are ever stored.
func TestByzantineEncoded(t *testing.T) {
	alice, recv, _, _ := byzSetup(t)
	alice.Insert(0, "more ")
	alice.Seal()
	alice.Insert(3, "and more ")
	delta := alice.EncodeSince(recv.Vector())
	whole := alice.Encode()
	base := recv.Encode()
	genuine := func(t *testing.T, d *crdt.Doc, what string) {
		t.Helper()
		for _, h := range d.Heads() {
			if !alice.Has(h) {
				t.Fatalf("%s: stored forged change %s", what, h)
			}
		}
	}
	for i := range len(delta) * 8 {
		b := slices.Clone(delta)
		b[i/8] ^= 1 << (i % 8)
		r, err := crdt.DecodeVerified(base, crdt.Author{9})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ApplyEncoded(b); err == nil && r.Text() != alice.Text() {
			t.Fatalf("delta bit %d flipped: accepted, text %q", i, r.Text())
		}
		genuine(t, r, "delta")
		if r.Pending() != 0 {
			t.Fatalf("delta bit %d flipped: %d changes buffered", i, r.Pending())
		}
	}
	for i := range len(whole) * 8 {
		b := slices.Clone(whole)
		b[i/8] ^= 1 << (i % 8)
		if d, err := crdt.DecodeVerified(b, crdt.Author{9}); err == nil {
			t.Fatalf("whole bit %d flipped: accepted, text %q", i, d.Text())
		}
	}
	// The same history, unsigned: refused whole and as a delta.
	_, a := key("alice")
	unsigned := crdt.New(sigID, a) // alice's key, but no signer
	for _, c := range alice.ChangesSince(nil) {
		c.Sig = nil
		if _, err := unsigned.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := crdt.DecodeVerified(unsigned.Encode(), crdt.Author{9}); !errors.Is(err, crdt.ErrUnsigned) {
		t.Fatalf("unsigned document: %v, want ErrUnsigned", err)
	}
	before := snap(recv)
	if _, err := recv.ApplyEncoded(unsigned.EncodeSince(recv.Vector())); !errors.Is(err, crdt.ErrUnsigned) {
		t.Fatalf("unsigned delta: %v, want ErrUnsigned", err)
	}
	before.check(t, recv)
}

// TestAdmit checks the admission hook: it sees each new change after the
// signature checks, and what it refuses is not stored.
func TestAdmit(t *testing.T) {
	alice := signedDoc(t, sigID, "alice")
	bob := signedDoc(t, sigID, "bob")
	alice.Insert(0, "abc")
	ca := alice.Seal()
	bob.Apply(ca...)
	bob.Insert(0, "B")
	cb := bob.Seal()
	recv := verifier(sigID, "carol")
	var seen []crdt.Author
	errNoCap := errors.New("no write capability")
	recv.SetAdmit(func(c *crdt.Change) error {
		seen = append(seen, c.Author)
		if c.Author == bob.Author() {
			return errNoCap
		}
		return nil
	})
	_, err := recv.Apply(append(ca, cb...)...)
	if !errors.Is(err, crdt.ErrNotAdmitted) || !errors.Is(err, errNoCap) {
		t.Fatalf("got %v, want ErrNotAdmitted wrapping the hook's error", err)
	}
	if recv.Text() != "abc" || recv.Has(cb[0].Hash) || recv.Pending() != 0 {
		t.Fatalf("text %q: bob's change stored", recv.Text())
	}
	if len(seen) != 2 {
		t.Fatalf("hook saw %d changes, want 2", len(seen))
	}
	// A duplicate is not shown again; a forged change never reaches it.
	seen = nil
	x := clone(cb[0])
	x.Sig[0] ^= 1
	recv.Apply(ca[0], x)
	if len(seen) != 0 {
		t.Fatalf("hook saw %d changes, want 0", len(seen))
	}
}
