package p2ptest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// Key derives a fixed device key from name, so tests are reproducible.
func Key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("p2ptest key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// counter is a deterministic stand-in for crypto/rand.Reader.
type counter byte

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		*c++
		p[i] = byte(*c)
	}
	return len(p), nil
}

// Epoch is the fixed time test tokens are valid around (a year either way).
var Epoch = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// Grant issues, from the document root key, a token granting rights on doc
// to the device key, valid for a year either side of Epoch.
func Grant(doc crdt.DocID, root, device ed25519.PrivateKey, rights access.Rights) *access.Token {
	rnd := counter(device[0])
	tok, err := access.Issue(nil, root, access.Grant{
		Audience: access.PublicKeyOf(device), Doc: access.DocID(doc), Rights: rights,
		NotBefore: Epoch.AddDate(-1, 0, 0), Expiry: Epoch.AddDate(1, 0, 0),
	}, &rnd)
	if err != nil { // fixed inputs: a failure is a bug in this helper
		panic(fmt.Sprintf("p2ptest: issue token: %v", err))
	}
	return tok
}

// Clock returns a clock stuck at Epoch, for CheckProof.
func Clock() func() time.Time { return func() time.Time { return Epoch } }
