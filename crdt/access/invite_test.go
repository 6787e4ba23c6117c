package access

import (
	"errors"
	"strings"
	"testing"
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
