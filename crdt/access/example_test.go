package access_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/quire-dev/quire/crdt/access"
)

// keyFor derives a fixed key for the examples; real keys come from crypto/rand.
func keyFor(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
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

// Example walks through the life of a document's access: the creator's
// root token, an invite link, a device accepting it, a check of the
// device's token, and revoking the invite.
func Example() {
	rnd := new(counter)
	creator, phone := keyFor("creator"), keyFor("phone")
	doc := access.DocID{0x42}
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

	// The creator holds the root capability, issued to its own key.
	root, _ := access.Issue(nil, creator, access.Grant{
		Audience: access.PublicKeyOf(creator), Doc: doc, Rights: access.Admin,
		NotBefore: now, Expiry: now.AddDate(1, 0, 0),
	}, rnd)

	// It shares a link granting write for a week.
	inv, _ := access.NewInvite(root, creator, access.Grant{Rights: access.Write, NotBefore: now, Expiry: now.AddDate(0, 0, 7)}, rnd)
	link := inv.String()

	// The phone accepts the link and gets a token of its own.
	tok, err := access.Accept(link, phone.Public().(ed25519.PublicKey), now.Add(time.Hour), rnd)
	if err != nil {
		fmt.Println(err)
		return
	}
	params := access.VerifyParams{Doc: doc, Root: access.PublicKeyOf(creator), Audience: access.PublicKeyOf(phone), Now: now.Add(2 * time.Hour)}
	rights, err := access.Verify(tok, params)
	fmt.Println("phone:", rights, err, "depth", tok.Depth())

	// Revoking the invite revokes what was delegated from it.
	params.Revoked = access.RevocationSet{Tokens: map[access.TokenID]bool{inv.Token.ID(): true}}
	_, err = access.Verify(tok, params)
	fmt.Println("after revoking the invite:", errors.Is(err, access.ErrRevoked))
	// Output:
	// phone: write <nil> depth 3
	// after revoking the invite: true
}

// ExampleFingerprint shows the form devices are shown in for comparison.
func ExampleFingerprint() {
	fmt.Println(access.Fingerprint(make([]byte, ed25519.PublicKeySize)))
	// Output: MZUH-VLPY-MK6X-O3EP
}
