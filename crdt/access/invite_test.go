package access

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func newTestInviteFor(t *testing.T) (*Token, *Invite) { return newTestInvite(t, Write) }

func newTestInvite(t *testing.T, rights Rights) (*Token, *Invite) {
	t.Helper()
	admin := chain(t, Admin, "root", "alice")
	inv, err := NewInvite(admin, testKey("alice"), Grant{Rights: rights, NotBefore: hours(-1), Expiry: hours(2)}, newDetReader("invite"))
	if err != nil {
		t.Fatalf("NewInvite: %v", err)
	}
	return admin, inv
}

func TestInviteAccept(t *testing.T) {
	_, inv := newTestInvite(t, Write)
	link := inv.String()
	if !strings.HasPrefix(link, InvitePrefix) {
		t.Fatalf("link %q lacks prefix", link)
	}
	parsed, err := ParseInvite(link)
	if err != nil {
		t.Fatalf("ParseInvite: %v", err)
	}
	if got, want := parsed.String(), link; got != want {
		t.Errorf("re-encoded link: got %q, want %q", got, want)
	}
	tok, err := Accept(link, testPub("bob").PublicKey(), testEpoch, newDetReader("accept"))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if got, want := tok.Issuer, PublicKeyOf(inv.Key); got != want {
		t.Errorf("issuer: got %v, want the invite key %v", got, want)
	}
	got, err := Verify(tok, VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("bob"), Now: testEpoch})
	if err != nil || got != Write {
		t.Fatalf("Verify accepted token: got %v, %v, want %v", got, err, Write)
	}
	// Revoking the invite token cuts everything delegated from it.
	_, err = Verify(tok, VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("bob"), Now: testEpoch,
		Revoked: RevocationSet{Tokens: map[TokenID]bool{inv.Token.ID(): true}}})
	if !errors.Is(err, ErrRevoked) {
		t.Errorf("Verify after revoking the invite: got %v, want %v", err, ErrRevoked)
	}
	// The invite cannot be accepted after it expired.
	if _, err := Accept(link, testPub("carol").PublicKey(), hours(3), newDetReader("late")); !errors.Is(err, ErrExpired) {
		t.Errorf("late Accept: got %v, want %v", err, ErrExpired)
	}
}

func TestParseInviteRejects(t *testing.T) {
	_, inv := newTestInvite(t, Comment)
	link := inv.String()
	payload := strings.TrimPrefix(link, InvitePrefix)
	raw, _ := linkEnc.DecodeString(payload)
	enc := func(b []byte) string { return InvitePrefix + linkEnc.EncodeToString(b) }
	mut := func(f func([]byte)) string { b := append([]byte(nil), raw...); f(b); return enc(b) }
	tests := []struct {
		name string
		link string
		want error
	}{
		{"empty", "", ErrBadLink},
		{"https", "https://join/" + payload, ErrBadLink},
		{"no payload", InvitePrefix, ErrMalformed},
		{"padding", link + "=", ErrMalformed},
		{"bad char", link[:len(link)-1] + "*", ErrMalformed},
		{"std base64", InvitePrefix + strings.NewReplacer("-", "+", "_", "/").Replace(payload) + "+", ErrMalformed},
		{"truncated", link[:len(link)-4], ErrMalformed},
		{"version", mut(func(b []byte) { b[0] = 2 }), ErrMalformed},
		{"other doc", mut(func(b []byte) { b[1] ^= 1 }), ErrWrongDocument},
		{"other key", mut(func(b []byte) { b[20] ^= 1 }), ErrWrongAudience},
		{"too large", InvitePrefix + strings.Repeat("A", MaxLinkSize), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInvite(tt.link)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseInvite: got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestInviteRevocationAndExpiry checks, through Authorize, that what came
// from an invite goes with it: revoking the invite token (a revocation
// record, decided by Decide) refuses the device that accepted it and
// whatever that device delegated further, for reads at once and for
// changes made after the revocation; and that access accepted from an
// invite expires with the invite.
func TestInviteRevocationAndExpiry(t *testing.T) {
	admin, inv := newTestInvite(t, Write) // the invite is valid hours(-1)..hours(2)
	bob, err := inv.Accept(testPub("bob").PublicKey(), testEpoch, newDetReader("accept"))
	if err != nil {
		t.Fatal(err)
	}
	if bob.Expiry > inv.Token.Expiry {
		t.Errorf("accepted token expires at %d, after the invite (%d)", bob.Expiry, inv.Token.Expiry)
	}
	// bob shares read access with another of his devices.
	bob2 := mustIssue(t, bob, "bob", Grant{Audience: testPub("bob2"), Rights: Read, NotBefore: hours(-1), Expiry: hours(2)})
	p := Policy{Doc: testDoc, Root: testPub("root")}
	read := func(who string, at time.Time) ChangeInfo {
		return ChangeInfo{Author: testPub(who), Kind: KindRead, Time: at}
	}
	for _, c := range []struct {
		who   string
		proof *Token
	}{{"bob", bob}, {"bob2", bob2}} {
		if _, err := Authorize(read(c.who, testEpoch), c.proof, p); err != nil {
			t.Fatalf("%s before expiry and revocation: %v", c.who, err)
		}
		// Expiry: the invite's, plus the skew.
		late := time.Unix(inv.Token.Expiry+Skew+1, 0)
		if _, err := Authorize(read(c.who, late), c.proof, p); !errors.Is(err, ErrExpired) {
			t.Errorf("%s after the invite expired: got %v, want %v", c.who, err, ErrExpired)
		}
	}
	if _, err := Authorize(ChangeInfo{Ref: ChangeRef{0x01}, Author: testPub("bob"), Kind: KindText, Time: hours(3)}, bob, p); !errors.Is(err, ErrExpired) {
		t.Errorf("bob's change dated after the invite expired: got %v, want %v", err, ErrExpired)
	}

	// alice, who made the invite, revokes it in change 0xee.
	rec, err := Revoke(admin, testKey("alice"), TargetToken, inv.Token.ID(), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	h := dag{{0xee}: {{0x01}}, {0x02}: {{0xee}}, {0x03}: {{0x01}}}
	ruling := Decide(h, []RevocationEvent{{Change: ChangeRef{0xee}, Author: testPub("alice"), Record: rec}}, testDoc, testPub("root"))
	if n := len(ruling.Effective()); n != 1 {
		t.Fatalf("revocation of the invite: %d effective, void %v", n, ruling.Void())
	}
	p.Ruling = ruling
	for _, c := range []struct {
		who   string
		proof *Token
	}{{"bob", bob}, {"bob2", bob2}} {
		if _, err := Authorize(read(c.who, testEpoch), c.proof, p); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s reading after the invite was revoked: got %v, want %v", c.who, err, ErrRevoked)
		}
	}
	change := func(ref byte) error {
		_, err := Authorize(ChangeInfo{Ref: ChangeRef{ref}, Author: testPub("bob"), Kind: KindText, Time: testEpoch}, bob, p)
		return err
	}
	if err := change(0x01); err != nil {
		t.Errorf("bob's change before the revocation: got %v, want it kept", err)
	}
	if err := change(0x02); !errors.Is(err, ErrRevoked) {
		t.Errorf("bob's change after the revocation: got %v, want %v", err, ErrRevoked)
	}
	if err := change(0x03); err != nil {
		t.Errorf("bob's change concurrent with the revocation: got %v, want it kept", err)
	}
	// Another invite from the same admin is untouched.
	other, err := NewInvite(admin, testKey("alice"), Grant{Rights: Write, NotBefore: hours(-1), Expiry: hours(2)}, newDetReader("other"))
	if err != nil {
		t.Fatal(err)
	}
	carol, err := other.Accept(testPub("carol").PublicKey(), testEpoch, newDetReader("carol"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Authorize(read("carol", testEpoch), carol, p); err != nil {
		t.Errorf("carol, from another invite: %v", err)
	}
}
