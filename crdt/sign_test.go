package crdt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

// key returns a deterministic Ed25519 key and its author.
func key(name string) (ed25519.PrivateKey, crdt.Author) {
	seed := sha256.Sum256([]byte("quire test key " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	var a crdt.Author
	copy(a[:], priv.Public().(ed25519.PublicKey))
	return priv, a
}

// signedDoc returns a document whose author signs what it seals.
func signedDoc(t testing.TB, id crdt.DocID, name string) *crdt.Doc {
	t.Helper()
	priv, a := key(name)
	d := crdt.New(id, a)
	if err := d.SetSigner(priv); err != nil {
		t.Fatal(err)
	}
	return d
}

// verifier returns a document that verifies what it is given.
func verifier(id crdt.DocID, name string) *crdt.Doc {
	_, a := key(name)
	d := crdt.New(id, a)
	d.SetVerify(true)
	return d
}

var sigID = crdt.DocID{'s', 'i', 'g'}

func TestSealSigns(t *testing.T) {
	a := signedDoc(t, sigID, "alice")
	a.Insert(0, "hello")
	a.Seal()
	a.Insert(5, " world")
	a.Delete(0, 1)
	cs := a.Seal()
	if len(cs) != 1 {
		t.Fatalf("got %d changes, want 1", len(cs))
	}
	if err := cs[0].Verify(); err != nil {
		t.Fatal(err)
	}
	wire, err := cs[0].EncodeSigned()
	if err != nil {
		t.Fatal(err)
	}
	c, err := crdt.DecodeSignedChange(sigID, wire)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash != cs[0].Hash || !bytes.Equal(c.Sig, cs[0].Sig) {
		t.Fatal("signed wire form does not round-trip")
	}
	if got, want := len(wire), len(cs[0].Encode())+65; got != want {
		t.Errorf("signed wire form is %d bytes, want %d", got, want)
	}
}

func TestSetSignerChecksKey(t *testing.T) {
	_, a := key("alice")
	mallory, _ := key("mallory")
	d := crdt.New(sigID, a)
	if err := d.SetSigner(mallory); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("SetSigner with another key: %v, want ErrInvalid", err)
	}
	if err := d.SetSigner(ed25519.PrivateKey{1, 2}); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("SetSigner with a short key: %v, want ErrInvalid", err)
	}
	// Changes sealed before the signer was set are signed when it is.
	d.Insert(0, "x")
	d.Vector() // seals
	priv, _ := key("alice")
	if err := d.SetSigner(priv); err != nil {
		t.Fatal(err)
	}
	cs := d.Seal()
	if len(cs) != 1 || cs[0].Verify() != nil {
		t.Fatal("change sealed before SetSigner is not signed")
	}
}

func TestEncodeSignedUnsigned(t *testing.T) {
	_, a := key("alice")
	d := crdt.New(sigID, a)
	d.Insert(0, "x")
	c := d.Seal()[0]
	if _, err := c.EncodeSigned(); !errors.Is(err, crdt.ErrUnsigned) {
		t.Fatalf("EncodeSigned of an unsigned change: %v, want ErrUnsigned", err)
	}
}

// typeSealed types n random edits on d, sealing after each, and returns
// the sealed changes.
func typeSealed(d *crdt.Doc, r *rand.Rand, n int) []*crdt.Change {
	var out []*crdt.Change
	for range n {
		if d.Len() > 10 && r.IntN(4) == 0 {
			pos := r.IntN(d.Len() - 3)
			d.Delete(pos, 1+r.IntN(3))
		} else {
			d.Insert(r.IntN(d.Len()+1), randText(r))
		}
		out = append(out, d.Seal()...)
	}
	return out
}

// TestRetainedSignatures checks compaction: a long signed history keeps
// one signature per SigSpacing ops per author, a fresh replica verifies
// it, and replicas that got it by gossip or by encoding keep the same
// signatures and encode the same bytes.
func TestRetainedSignatures(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	t.Logf("seed 5,5")
	a := signedDoc(t, sigID, "alice")
	b := signedDoc(t, sigID, "bob")
	gossip := verifier(sigID, "carol")
	for range 20 {
		ca := typeSealed(a, r, 200)
		cb := typeSealed(b, r, 100)
		for _, c := range ca {
			if err := c.Verify(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Apply(ca...); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Apply(cb...); err != nil {
			t.Fatal(err)
		}
		if _, err := gossip.Apply(append(ca, cb...)...); err != nil {
			t.Fatal(err)
		}
	}
	ops := a.Ops()
	if max := 2 + ops/crdt.SigSpacing + 2; a.Signatures() > max {
		t.Errorf("%d ops: %d signatures retained, want at most %d", ops, a.Signatures(), max)
	}
	enc := a.Encode()
	fresh, err := crdt.DecodeVerified(enc, crdt.Author{9})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Text() != a.Text() {
		t.Fatal("decoded text differs")
	}
	for name, d := range map[string]*crdt.Doc{"bob": b, "gossip": gossip, "decoded": fresh} {
		if !bytes.Equal(d.Encode(), enc) {
			t.Errorf("%s: encoding differs from alice's (%d / %d signatures)", name, d.Signatures(), a.Signatures())
		}
	}
	// Load keeps the signatures without checking them.
	loaded, err := crdt.Load(enc, crdt.Author{9})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Encode(), enc) {
		t.Error("Load does not keep the signatures")
	}
	// A replica catching up by delta verifies it.
	late := verifier(sigID, "dave")
	if _, err := late.ApplyEncoded(a.EncodeSince(nil)); err != nil {
		t.Fatal(err)
	}
	if late.Text() != a.Text() || !bytes.Equal(late.Encode(), enc) {
		t.Error("replica caught up by delta differs")
	}
}

// TestEncodeBatch checks that repeated batches deliver exactly the whole
// history, that each verifies on its own, and that they keep to maxBytes
// unless a single cut needs more.
func TestEncodeBatch(t *testing.T) {
	for _, maxBytes := range []int{1, 300, 4096, 1 << 20} {
		t.Run(fmt.Sprint(maxBytes), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(maxBytes)))
			a := signedDoc(t, sigID, "alice")
			b := signedDoc(t, sigID, "bob")
			for range 10 {
				cb := typeSealed(b, r, 30)
				if _, err := a.Apply(typeSealed(a, r, 50)...); err != nil {
					t.Fatal(err)
				}
				if _, err := a.Apply(cb...); err != nil {
					t.Fatal(err)
				}
			}
			// A replica with part of the history already.
			recv := verifier(sigID, "carol")
			if _, err := recv.ApplyEncoded(b.Encode()); err != nil {
				t.Fatal(err)
			}
			batches := 0
			for {
				data, more := a.EncodeBatch(recv.Vector(), maxBytes)
				// Each batch verifies on its own, on a copy of the receiver.
				alone, err := crdt.DecodeVerified(recv.Encode(), crdt.Author{7})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := alone.ApplyEncoded(data); err != nil {
					t.Fatalf("batch %d alone: %v", batches, err)
				}
				ops := recv.Ops()
				if _, err := recv.ApplyEncoded(data); err != nil {
					t.Fatalf("batch %d: %v", batches, err)
				}
				if recv.Pending() != 0 {
					t.Fatalf("batch %d left %d changes waiting", batches, recv.Pending())
				}
				batches++
				if len(data) > maxBytes && maxBytes >= 4096 {
					t.Errorf("batch %d is %d bytes, max %d", batches, len(data), maxBytes)
				}
				if !more {
					break
				}
				if recv.Ops() == ops {
					t.Fatalf("batch %d moved nothing", batches)
				}
			}
			if recv.Text() != a.Text() || !slices.Equal(recv.Heads(), a.Heads()) {
				t.Fatal("batches did not deliver the whole history")
			}
			if !bytes.Equal(recv.Encode(), a.Encode()) {
				t.Error("receiver's encoding differs")
			}
			t.Logf("%d batches", batches)
		})
	}
}

// TestDecodeV1 reads an unsigned document in the previous encoding
// version.
func TestDecodeV1(t *testing.T) {
	// Made by the version-1 encoder: "hello" by Author{1}, then " world".
	data, err := hex.DecodeString("515244017631000000000000000000000000000001010000000000000000000000000000000000000000000000000000000000000000000202000204050106010104012c00000b68656c6c6f20776f726c64")
	if err != nil {
		t.Fatal(err)
	}
	d, err := crdt.Decode(data, crdt.Author{9})
	if err != nil {
		t.Fatal(err)
	}
	if d.Text() != "hello world" {
		t.Fatalf("text %q", d.Text())
	}
	if _, err := crdt.DecodeVerified(data, crdt.Author{9}); !errors.Is(err, crdt.ErrUnsigned) {
		t.Fatalf("DecodeVerified of an unsigned document: %v, want ErrUnsigned", err)
	}
}

func TestConvergenceSigned(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for seed := range uint64(n) {
		if err := runSessionWith(rand.New(rand.NewPCG(seed, 0x5167)), true); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// BenchmarkSeal measures one typed character and its Seal, with and
// without signing.
func BenchmarkSeal(b *testing.B) {
	for _, signed := range []bool{false, true} {
		b.Run(fmt.Sprintf("signed=%v", signed), func(b *testing.B) {
			priv, a := key("bench")
			d := crdt.New(sigID, a)
			if signed {
				d.SetSigner(priv)
			}
			for b.Loop() {
				d.Insert(d.Len(), "x")
				d.Seal()
			}
		})
	}
}

// BenchmarkVerifyChange measures DecodeSignedChange of a typical sealed
// change (a few words).
func BenchmarkVerifyChange(b *testing.B) {
	d := signedDoc(b, sigID, "bench")
	d.Insert(0, "hello there ")
	wire, _ := d.Seal()[0].EncodeSigned()
	for b.Loop() {
		if _, err := crdt.DecodeSignedChange(sigID, wire); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeBatchLong cuts a history several SigSpacing long into batches
// that each fit in maxBytes (the gap between retained signatures does)
// and verify on their own. Bob writes only at the start: see EncodeBatch
// on authors who keep interleaving.
func TestEncodeBatchLong(t *testing.T) {
	t.Log("seed 11,11")
	r := rand.New(rand.NewPCG(11, 11))
	a := signedDoc(t, sigID, "alice")
	b := signedDoc(t, sigID, "bob")
	b.Insert(0, "bob was here first")
	a.Apply(b.Seal()...)
	var sb strings.Builder
	for a.Ops() < 6*crdt.SigSpacing {
		sb.Reset()
		for range 40 {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		a.Insert(r.IntN(a.Len()+1), sb.String())
		a.Seal()
	}
	const maxBytes = 24 << 10
	recv := verifier(sigID, "carol")
	sizes := []int{}
	for more := true; more; {
		var data []byte
		data, more = a.EncodeBatch(recv.Vector(), maxBytes)
		if _, err := recv.ApplyEncoded(data); err != nil {
			t.Fatalf("batch %d: %v", len(sizes), err)
		}
		sizes = append(sizes, len(data))
		if len(data) > maxBytes {
			t.Errorf("batch %d is %d bytes, max %d", len(sizes), len(data), maxBytes)
		}
	}
	t.Logf("%d ops, %d signatures, whole %d bytes, batches %v", a.Ops(), a.Signatures(), len(a.Encode()), sizes)
	if len(sizes) < 3 {
		t.Errorf("%d batches, want several", len(sizes))
	}
	if recv.Text() != a.Text() || !bytes.Equal(recv.Encode(), a.Encode()) {
		t.Fatal("batches did not deliver the whole history")
	}
}
