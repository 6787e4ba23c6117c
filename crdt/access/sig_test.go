package access

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// This file pins the signature rule (package doc, "Signatures") on crafted
// signatures, and checks that batch and one-by-one verification agree on
// them, alone, mixed with valid ones, and inside token chains.

// order8 is a point of order 8 (from the well-known list of Ed25519's
// small-order points); torsion() checks that it is.
const order8 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"

// identityNonCanonical encodes the identity (y = 1) as y = p + 1.
const identityNonCanonical = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"

// identityNegZero encodes the identity with the sign bit of x = 0 set.
const identityNegZero = "0100000000000000000000000000000000000000000000000000000000000080"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePoint(t testing.TB, b []byte) *curve.EdwardsPoint {
	t.Helper()
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(b); err != nil {
		t.Fatal(err)
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return &p
}

func encodePoint(p *curve.EdwardsPoint) []byte {
	var c curve.CompressedEdwardsY
	c.SetEdwardsPoint(p)
	return c[:]
}

// torsion returns the order-8 point, after checking its order.
func torsion(t testing.TB) *curve.EdwardsPoint {
	t.Helper()
	T := decodePoint(t, mustHex(t, order8))
	var x curve.EdwardsPoint
	x.Add(T, T)
	x.Add(&x, &x)
	if x.IsIdentity() {
		t.Fatal("order8 has order 4 or less")
	}
	x.Add(&x, &x)
	if !x.IsIdentity() {
		t.Fatal("order8 is not of order 8")
	}
	return T
}

// randScalar returns a uniform scalar from rng.
func randScalar(t testing.TB, rng *rand.Rand) *scalar.Scalar {
	t.Helper()
	var wide [64]byte
	for i := range wide {
		wide[i] = byte(rng.Uint32())
	}
	var s scalar.Scalar
	if _, err := s.SetBytesModOrderWide(wide[:]); err != nil {
		t.Fatal(err)
	}
	return &s
}

// forge returns R || S with S = r + k*a, k = SHA-512(R || A || msg), for
// the encodings R and A given: a valid signature under the cofactored
// equation whenever R - [r]B and A - [a]B are of small order.
func forge(t testing.TB, renc, aenc []byte, r, a *scalar.Scalar, msg []byte) []byte {
	t.Helper()
	h := sha512.New()
	h.Write(renc)
	h.Write(aenc)
	h.Write(msg)
	var k, s scalar.Scalar
	if _, err := k.SetBytesModOrderWide(h.Sum(nil)); err != nil {
		t.Fatal(err)
	}
	s.Mul(&k, a)
	s.Add(&s, r)
	sig := append([]byte(nil), renc...)
	sb := make([]byte, 32)
	if err := s.ToBytes(sb); err != nil {
		t.Fatal(err)
	}
	return append(sig, sb...)
}

// sigCase is a crafted (key, message, signature) and the verdicts of this
// package's rule and of crypto/ed25519.Verify (cofactorless, lax on A),
// which the rule deliberately differs from on some of them.
type sigCase struct {
	name      string
	key       []byte
	msg, sig  []byte
	want, std bool
}

// sigCases builds the crafted signatures from rng.
func sigCases(t testing.TB, rng *rand.Rand) []sigCase {
	t.Helper()
	T := torsion(t)
	zero := new(scalar.Scalar)
	var out []sigCase
	add := func(name string, key, msg, sig []byte, want, std bool) {
		out = append(out, sigCase{name, key, msg, sig, want, std})
	}
	msg := func() []byte {
		m := make([]byte, 16+rng.IntN(200))
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		return m
	}
	// An honest key pair.
	a := randScalar(t, rng)
	var A curve.EdwardsPoint
	A.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, a)
	aenc := encodePoint(&A)
	nonce := func() (*scalar.Scalar, []byte) {
		r := randScalar(t, rng)
		var R curve.EdwardsPoint
		R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
		return r, encodePoint(&R)
	}

	m := msg()
	r, renc := nonce()
	honest := forge(t, renc, aenc, r, a, m)
	add("honest", aenc, m, honest, true, true)
	add("wrong message", aenc, msg(), honest, false, false)

	// S + L: the same signature with a non-canonical S.
	high := append([]byte(nil), honest...)
	addL(high[32:])
	add("S not reduced", aenc, m, high, false, false)

	// R with a torsion component: cofactored accepts, cofactorless never.
	m = msg()
	r, _ = nonce()
	var R curve.EdwardsPoint
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
	R.Add(&R, T)
	add("R mixed order", aenc, m, forge(t, encodePoint(&R), aenc, r, a, m), true, false)

	// R of small order (r = 0): allowed; cofactorless rejects it.
	m = msg()
	add("R of order 8", aenc, m, forge(t, mustHex(t, order8), aenc, zero, a, m), true, false)

	// R the identity: valid under both equations.
	m = msg()
	id := encodePoint(R.Identity())
	add("R identity", aenc, m, forge(t, id, aenc, zero, a, m), true, true)

	// R a non-canonical encoding (of the identity): ZIP-215 would accept it,
	// this rule and crypto/ed25519 do not.
	m = msg()
	add("R non-canonical y", aenc, m, forge(t, mustHex(t, identityNonCanonical), aenc, zero, a, m), false, false)
	m = msg()
	add("R negative zero", aenc, m, forge(t, mustHex(t, identityNegZero), aenc, zero, a, m), false, false)

	// A with a torsion component, signed with its prime-order part's
	// secret: cofactored accepts; cofactorless only if [k]T is the
	// identity, which the loop rules out.
	var A2 curve.EdwardsPoint
	A2.Add(&A, T)
	a2enc := encodePoint(&A2)
	for {
		m = msg()
		r, renc = nonce()
		sig := forge(t, renc, a2enc, r, a, m)
		std := ed25519.Verify(a2enc, m, sig)
		if !std {
			add("A mixed order", a2enc, m, sig, true, false)
			break
		}
	}

	// A of small order: anyone can sign anything for it (R = identity,
	// S = 0 satisfies both equations whenever [k]A is the identity, always
	// for A the identity). crypto/ed25519 accepts that; the rule rejects
	// small-order keys.
	m = msg()
	add("A identity", id, m, append(append([]byte(nil), id...), make([]byte, 32)...), false, true)
	m = msg()
	add("A order 8", mustHex(t, order8), m, forge(t, id, mustHex(t, order8), zero, zero, m), false,
		ed25519.Verify(mustHex(t, order8), m, forge(t, id, mustHex(t, order8), zero, zero, m)))
	m = msg()
	add("A non-canonical y", mustHex(t, identityNonCanonical), m, append(append([]byte(nil), id...), make([]byte, 32)...), false, true)

	// A not on the curve.
	for y := byte(2); ; y++ {
		enc := make([]byte, 32)
		enc[0] = y
		var c curve.CompressedEdwardsY
		_, _ = c.SetBytes(enc)
		var p curve.EdwardsPoint
		if _, err := p.SetCompressedY(&c); err != nil {
			add("A not on the curve", enc, m, honest, false, false)
			break
		}
	}
	add("short signature", aenc, m, honest[:63], false, false)
	return out
}

// addL adds the group order L to the little-endian 256-bit s in place.
func addL(s []byte) {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for i := range s {
		v := int(s[i]) + int(l[i]) + carry
		s[i], carry = byte(v), v>>8
	}
}

func keyOf(t testing.TB, b []byte) Key {
	t.Helper()
	k, err := KeyOf(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignatureRule checks each crafted case against the documented rule,
// records where crypto/ed25519 differs, and checks that a batch holding
// the case alone or among valid signatures agrees with VerifySignature.
func TestSignatureRule(t *testing.T) {
	seed := uint64(0x5157)
	t.Logf("seed %#x", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	cases := sigCases(t, rng)
	valid := cases[0]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var k Key
			if len(c.key) == len(k) {
				k = keyOf(t, c.key)
			}
			if got := VerifySignature(k, c.msg, c.sig); got != c.want {
				t.Errorf("VerifySignature: got %v, want %v", got, c.want)
			}
			if got := ed25519.Verify(c.key, c.msg, c.sig); got != c.std {
				t.Errorf("crypto/ed25519.Verify: got %v, want %v", got, c.std)
			}
			var alone SigBatch
			alone.Add(k, c.msg, c.sig)
			if got := alone.Valid(); got != c.want {
				t.Errorf("batch of one: got %v, want %v", got, c.want)
			}
			var mixed SigBatch
			mixed.Add(keyOf(t, valid.key), valid.msg, valid.sig)
			mixed.Add(k, c.msg, c.sig)
			mixed.Add(keyOf(t, valid.key), valid.msg, valid.sig)
			if got := mixed.Valid(); got != c.want {
				t.Errorf("batch among valid signatures: got %v, want %v", got, c.want)
			}
		})
	}
}

// TestSigBatchAgrees draws random batches of the crafted cases: a batch is
// valid exactly when every signature in it is.
func TestSigBatchAgrees(t *testing.T) {
	seed := uint64(0xba7c)
	t.Logf("seed %#x", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	cases := sigCases(t, rng)
	for i := range 300 {
		var b SigBatch
		want := true
		n := 1 + rng.IntN(2*MaxDepth)
		var names []string
		for range n {
			c := cases[rng.IntN(len(cases))]
			var k Key
			copy(k[:], c.key) // the short keys (none yet) would be zero-padded
			b.Add(k, c.msg, c.sig)
			want = want && VerifySignature(k, c.msg, c.sig)
			names = append(names, c.name)
		}
		if got := b.Valid(); got != want {
			t.Fatalf("batch %d %q: got %v, want %v", i, names, got, want)
		}
	}
	var empty SigBatch
	if !empty.Valid() {
		t.Error("empty batch: got invalid")
	}
}

// TestVerifyBatchAgrees checks that Verify (which batches) and a
// one-by-one check return the same rights and the same error, word for
// word, on chains with a bad or crafted signature at a random link, and
// on every conformance fixture.
func TestVerifyBatchAgrees(t *testing.T) {
	seed := uint64(0xc4a1)
	t.Logf("seed %#x", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	T := torsion(t)
	names := []string{"root", "a", "b", "c", "d", "e", "f", "g", "h"}
	p := VerifyParams{Doc: testDoc, Root: testPub("root"), Now: testEpoch}
	compare := func(t *testing.T, what string, tok *Token, p VerifyParams) error {
		t.Helper()
		r1, err1 := verify(tok, p, true)
		r2, err2 := verify(tok, p, false)
		if r1 != r2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("%s: batch %v, %v; one by one %v, %v", what, r1, err1, r2, err2)
		}
		return err1
	}
	for i := range 200 {
		depth := 2 + rng.IntN(MaxDepth-1)
		tok := chain(t, Write, names[:depth+1]...)
		links := []*Token{}
		for l := tok; l != nil; l = l.Parent {
			links = append([]*Token{l}, links...)
		}
		bad := rng.IntN(depth)
		what := fmt.Sprintf("case %d depth %d link %d", i, depth, bad+1)
		p.Audience = tok.Audience
		switch rng.IntN(3) {
		case 0: // a flipped signature bit
			links[bad].Sig[rng.IntN(sigSize)] ^= 1 << rng.IntN(8)
			if err := compare(t, what+" flipped", tok, p); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%s flipped: got %v, want %v", what, err, ErrBadSignature)
			}
		case 1: // a signature with a torsion component in R: the rule accepts it
			a := secretScalar(t, names[bad])
			r := randScalar(t, rng)
			var R curve.EdwardsPoint
			R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
			R.Add(&R, T)
			body := append([]byte(tokenDomain), links[bad].appendBody(nil)...)
			copy(links[bad].Sig[:], forge(t, encodePoint(&R), links[bad].Issuer[:], r, a, body))
			for j := bad + 1; j < depth; j++ { // the children embed the changed link: re-sign them
				links[j].sign(testKey(names[j]))
			}
			if err := compare(t, what+" mixed R", tok, p); err != nil {
				t.Fatalf("%s mixed R: %v", what, err)
			}
		case 2: // a link issued by a small-order key with the trivial forgery
			id := encodePoint(new(curve.EdwardsPoint).Identity())
			links[bad].Issuer = keyOf(t, id)
			if bad > 0 {
				links[bad-1].Audience = links[bad].Issuer
				links[bad-1].sign(testKey(names[bad-1]))
			}
			links[bad].Sig = [sigSize]byte{}
			copy(links[bad].Sig[:], id)
			for j := bad + 1; j < depth; j++ {
				links[j].sign(testKey(names[j]))
			}
			err := compare(t, what+" small-order issuer", tok, p)
			if bad == 0 {
				if !errors.Is(err, ErrUnknownRoot) {
					t.Fatalf("%s: got %v, want %v", what, err, ErrUnknownRoot)
				}
			} else if !errors.Is(err, ErrBadSignature) || !containsLink(err, bad+1) {
				t.Fatalf("%s: got %v, want %v at link %d", what, err, ErrBadSignature, bad+1)
			}
		}
	}
	t.Run("fixtures", func(t *testing.T) {
		for _, f := range genFixtures(t) {
			tok, err := Decode(f.enc)
			if err != nil {
				continue
			}
			fp, err := f.params()
			if err != nil {
				t.Fatal(err)
			}
			compare(t, f.Name, tok, fp)
		}
	})
}

// containsLink reports whether err names link n.
func containsLink(err error, n int) bool {
	return err != nil && strings.Contains(err.Error(), fmt.Sprintf("link %d of", n))
}

// secretScalar returns the signing scalar of testKey(name): the clamped
// first half of SHA-512 of its seed, reduced.
func secretScalar(t testing.TB, name string) *scalar.Scalar {
	t.Helper()
	h := sha512.Sum512(testKey(name).Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	var s scalar.Scalar
	if _, err := s.SetBytesModOrder(h[:32]); err != nil {
		t.Fatal(err)
	}
	return &s
}

// BenchmarkSigBatch is four link-sized signatures checked as one batch, to
// compare with four BenchmarkEd25519Verify.
func BenchmarkSigBatch(b *testing.B) {
	tok := chain(b, Write, "root", "a", "b", "c", "d")
	type entry struct {
		key      Key
		msg, sig []byte
	}
	var es []entry
	for l := tok; l != nil; l = l.Parent {
		es = append(es, entry{l.Issuer, append([]byte(tokenDomain), l.appendBody(nil)...), l.Sig[:]})
	}
	for b.Loop() {
		var sb SigBatch
		for _, e := range es {
			sb.Add(e.key, e.msg, e.sig)
		}
		if !sb.Valid() {
			b.Fatal("bad batch")
		}
	}
}

// BenchmarkSigBatch64 is 64 short messages (a change hash each) by 8 keys
// checked as one batch, against BenchmarkVerifySignature64 checking them
// one by one: what a history verifier would gain from SigBatch.
func BenchmarkSigBatch64(b *testing.B) {
	keys, msgs, sigs := sigs64()
	for b.Loop() {
		var sb SigBatch
		for i := range msgs {
			sb.Add(keys[i], msgs[i], sigs[i])
		}
		if !sb.Valid() {
			b.Fatal("bad batch")
		}
	}
}

// BenchmarkVerifySignature64 is BenchmarkSigBatch64 one by one.
func BenchmarkVerifySignature64(b *testing.B) {
	keys, msgs, sigs := sigs64()
	for b.Loop() {
		for i := range msgs {
			if !VerifySignature(keys[i], msgs[i], sigs[i]) {
				b.Fatal("bad signature")
			}
		}
	}
}

func sigs64() (keys []Key, msgs, sigs [][]byte) {
	for i := range 64 {
		name := fmt.Sprintf("author%d", i%8)
		msg := sha512.Sum512_256([]byte(fmt.Sprint("change", i)))
		keys = append(keys, testPub(name))
		msgs = append(msgs, msg[:])
		sigs = append(sigs, ed25519.Sign(testKey(name), msg[:]))
	}
	return keys, msgs, sigs
}
