package crdt

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestPrecedes(t *testing.T) {
	id := DocID{7}
	a, b := New(id, Author{1}), New(id, Author{2})
	a.Insert(0, "x")
	ca := a.Seal()
	b.Apply(ca...)
	b.Insert(1, "y")
	cb := b.Seal()
	a.Insert(0, "z") // concurrent with b's change
	cz := a.Seal()
	a.Apply(cb...)
	hb, hz := cb[0].Hash, cz[0].Hash
	for _, tc := range []struct {
		x     Hash
		heads []Hash
		want  bool
	}{
		{ca[0].Hash, []Hash{hb}, true},
		{hb, []Hash{hb}, true},
		{hz, []Hash{hb}, false},
		{hb, []Hash{hz}, false},
		{ca[0].Hash, []Hash{hz}, true},
		{hz, a.Heads(), true},
	} {
		got, err := a.Precedes(tc.x, tc.heads)
		if err != nil || got != tc.want {
			t.Errorf("Precedes(%s, %v) = %v, %v; want %v", tc.x, tc.heads, got, err, tc.want)
		}
	}
	if _, err := a.Precedes(Hash{9}, a.Heads()); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("unknown change: %v", err)
	}
	if _, err := a.Precedes(hb, []Hash{{9}}); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("unknown head: %v", err)
	}
}

// TestVerifyRemembers checks that Verify's memory of a good signature
// never vouches for a changed author, hash or signature.
func TestVerifyRemembers(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	var a Author
	copy(a[:], priv.Public().(ed25519.PublicKey))
	d := New(DocID{3}, a)
	if err := d.SetSigner(priv); err != nil {
		t.Fatal(err)
	}
	d.Insert(0, "x")
	c := d.Seal()[0]
	if err := c.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(); err != nil { // remembered
		t.Fatal(err)
	}
	sig := c.Sig
	c.Sig = append([]byte(nil), sig...)
	c.Sig[0] ^= 1
	if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("flipped signature: %v", err)
	}
	c.Sig = sig
	c.Author[0] ^= 1
	if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other author: %v", err)
	}
	c.Author[0] ^= 1
	c.Hash[0] ^= 1
	if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other hash: %v", err)
	}
	c.Hash[0] ^= 1
	c.Sig[5] ^= 1 // in place, same backing array
	if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature changed in place: %v", err)
	}
}
