package crdt_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

var fuzzID = crdt.DocID{'f', 'u', 'z', 'z'}

// seedDoc returns a small document with concurrent history: the seeds of
// the fuzz corpora.
func seedDoc() (*crdt.Doc, []*crdt.Change) {
	a := crdt.New(fuzzID, crdt.Author{1})
	b := crdt.New(fuzzID, crdt.Author{2})
	var all []*crdt.Change
	a.Insert(0, "hello world")
	cs := a.Seal()
	all = append(all, cs...)
	b.Apply(cs...)
	a.Delete(0, 5)
	a.Insert(0, "HELLO")
	b.Insert(11, " 🙂 again")
	b.Delete(2, 2)
	ca, cb := a.Seal(), b.Seal()
	all = append(all, ca...)
	all = append(all, cb...)
	a.Apply(cb...)
	b.Apply(ca...)
	a.Insert(3, "é")
	all = append(all, a.Seal()...)
	return a, all
}

func FuzzDecodeChange(f *testing.F) {
	_, cs := seedDoc()
	for _, c := range cs {
		f.Add(c.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := crdt.DecodeChange(fuzzID, b)
		if err != nil {
			if !errors.Is(err, crdt.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(c.Encode(), b) {
			t.Fatal("decoded change does not re-encode to the same bytes")
		}
	})
}

func FuzzDecode(f *testing.F) {
	d, _ := seedDoc()
	f.Add(d.Encode())
	f.Add(d.EncodeSince(crdt.Vector{crdt.Author{1}: 11}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := crdt.Decode(b, crdt.Author{9})
		if err != nil {
			return
		}
		enc := d.Encode()
		d2, err := crdt.Decode(enc, crdt.Author{9})
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d2.Text() != d.Text() || !bytes.Equal(d2.Encode(), enc) {
			t.Fatal("encode-decode-encode not stable")
		}
	})
}

// FuzzApply feeds arbitrary changes to a replica holding the seed history:
// whatever is accepted must reach two replicas identically, and rejected
// input must leave the text alone.
func FuzzApply(f *testing.F) {
	d, cs := seedDoc()
	for _, c := range cs {
		f.Add(c.Encode())
	}
	enc := d.Encode()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := crdt.DecodeChange(fuzzID, b)
		if err != nil {
			return
		}
		x, _ := crdt.Decode(enc, crdt.Author{7})
		y, _ := crdt.Decode(enc, crdt.Author{8})
		before := x.Text()
		_, errX := x.Apply(c)
		_, errY := y.Apply(c)
		if (errX == nil) != (errY == nil) || x.Text() != y.Text() {
			t.Fatalf("replicas disagree: %v / %v", errX, errY)
		}
		if errX != nil && x.Text() != before {
			t.Fatal("rejected change changed the text")
		}
	})
}

// FuzzConverge drives a random session from the fuzzer's bytes.
func FuzzConverge(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(42), uint64(7))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		if err := runSessionRand(rand.New(rand.NewPCG(a, b))); err != nil {
			t.Fatal(err)
		}
	})
}

// signedSeedDoc is seedDoc with signing authors (keys from key), and the
// changes signed as sealed.
func signedSeedDoc() (*crdt.Doc, []*crdt.Change) {
	pa, ka := key("fuzz a")
	pb, kb := key("fuzz b")
	a := crdt.New(fuzzID, ka)
	b := crdt.New(fuzzID, kb)
	a.SetSigner(pa)
	b.SetSigner(pb)
	var all []*crdt.Change
	a.Insert(0, "hello world")
	cs := a.Seal()
	all = append(all, cs...)
	b.Apply(cs...)
	a.Delete(0, 5)
	a.Insert(0, "HELLO")
	b.Insert(11, " 🙂 again")
	b.Delete(2, 2)
	ca, cb := a.Seal(), b.Seal()
	all = append(all, ca...)
	all = append(all, cb...)
	a.Apply(cb...)
	b.Apply(ca...)
	a.Insert(3, "é")
	all = append(all, a.Seal()...)
	return a, all
}

// FuzzSignedChange decodes signed wire forms and gives what decodes to a
// verifying replica: errors are precise, what decodes re-encodes to the
// same bytes, and only genuine changes are stored (the fuzzer cannot sign).
func FuzzSignedChange(f *testing.F) {
	d, cs := signedSeedDoc()
	for _, c := range cs {
		b, _ := c.EncodeSigned()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := crdt.DecodeSignedChange(fuzzID, b)
		if err != nil {
			if !errors.Is(err, crdt.ErrInvalid) && !errors.Is(err, crdt.ErrBadSignature) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrBadSignature", err)
			}
			return
		}
		if err := c.Verify(); err != nil {
			t.Fatal(err)
		}
		if again, _ := c.EncodeSigned(); !bytes.Equal(again, b) {
			t.Fatal("decoded change does not re-encode to the same bytes")
		}
		if !d.Has(c.Hash) {
			t.Fatalf("accepted a change %s its author never made", c.Hash)
		}
		r := crdt.New(fuzzID, crdt.Author{7})
		r.SetVerify(true)
		if _, err := r.Apply(c); err != nil && r.Has(c.Hash) {
			t.Fatal("rejected change stored")
		}
	})
}

// FuzzVerifyEncoded feeds signed encodings, whole and delta, to verifying
// decoders: whatever they accept is made of genuine changes only.
func FuzzVerifyEncoded(f *testing.F) {
	d, cs := signedSeedDoc()
	f.Add(d.Encode())
	f.Add(d.EncodeSince(crdt.Vector{cs[0].Author: 11}))
	base := crdt.New(fuzzID, crdt.Author{8})
	base.Apply(cs[0])
	baseEnc := base.Encode()
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := crdt.DecodeVerified(b, crdt.Author{9}); err == nil {
			for _, h := range x.Heads() {
				if !d.Has(h) {
					t.Fatalf("DecodeVerified accepted a forged change %s", h)
				}
			}
		}
		r, err := crdt.DecodeVerified(baseEnc, crdt.Author{7})
		if err != nil {
			t.Fatal(err)
		}
		r.ApplyEncoded(b)
		for _, h := range r.Heads() {
			if !d.Has(h) {
				t.Fatalf("ApplyEncoded stored a forged change %s", h)
			}
		}
	})
}
