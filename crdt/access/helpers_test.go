package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"
	"time"
)

// testKey returns a private key derived deterministically from name.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("quire-access-test-key:" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// testPub returns the Key of testKey(name).
func testPub(name string) Key { return PublicKeyOf(testKey(name)) }

// detReader is a deterministic io.Reader: SHA-256 in counter mode over a seed.
type detReader struct {
	seed string
	n    uint64
	buf  []byte
}

func newDetReader(seed string) *detReader { return &detReader{seed: seed} }

func (r *detReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], r.n)
		r.n++
		sum := sha256.Sum256(append([]byte(r.seed), c[:]...))
		r.buf = append(r.buf, sum[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

var _ io.Reader = (*detReader)(nil)

var (
	testDoc   = DocID{0x51, 0x55, 0x49, 0x52, 0x45, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	otherDoc  = DocID{0xff, 1}
	testEpoch = time.Unix(1_800_000_000, 0)
)

// hours returns testEpoch shifted by h hours.
func hours(h int) time.Time { return testEpoch.Add(time.Duration(h) * time.Hour) }

// mustIssue issues a token or fails the test.
func mustIssue(t testing.TB, parent *Token, issuer string, g Grant) *Token {
	t.Helper()
	if g.Doc == (DocID{}) {
		g.Doc = testDoc
	}
	tok, err := Issue(parent, testKey(issuer), g, newDetReader("nonce:"+issuer+g.Audience.String()))
	if err != nil {
		t.Fatalf("Issue by %s: %v", issuer, err)
	}
	return tok
}

// chain issues root -> k1 -> k2 ... with the given rights, each valid from
// hours(-24) to hours(24), and returns the last token. names[0] is the root key.
func chain(t testing.TB, rights Rights, names ...string) *Token {
	t.Helper()
	var tok *Token
	for i := 0; i+1 < len(names); i++ {
		tok = mustIssue(t, tok, names[i], Grant{
			Audience: testPub(names[i+1]), Rights: rights,
			NotBefore: hours(-24), Expiry: hours(24),
		})
	}
	return tok
}

// resign re-signs tok (not its parents) with priv after a test mutated it.
func resign(tok *Token, priv ed25519.PrivateKey) *Token {
	tok.Issuer = PublicKeyOf(priv)
	tok.sign(priv)
	return tok
}

// signWith signs domain||msg; tests use it to build records Revoke refuses.
func signWith(priv ed25519.PrivateKey, domain string, msg []byte) []byte {
	return ed25519.Sign(priv, append([]byte(domain), msg...))
}
