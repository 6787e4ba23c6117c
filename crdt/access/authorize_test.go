package access

import (
	"errors"
	"strings"
	"testing"
)

func TestAuthorizeKinds(t *testing.T) {
	rights := []Rights{Read, Comment, Write, Admin, Relay, Admin | Relay}
	kinds := []Kind{KindText, KindComment, KindAccess, KindRelay}
	// want[i][j]: may a holder of rights[i] make a change of kinds[j]?
	want := [][]bool{
		{false, false, false, false},
		{false, true, false, false},
		{true, true, false, false},
		{true, true, true, false}, // admin does not imply relay
		{false, false, false, true},
		{true, true, true, true},
	}
	for i, r := range rights {
		tok := chain(t, r, "root", "alice")
		for j, k := range kinds {
			_, err := Authorize(ChangeInfo{Ref: ChangeRef{1}, Author: testPub("alice"), Kind: k, Time: testEpoch}, tok,
				Policy{Doc: testDoc, Root: testPub("root")})
			if got := err == nil; got != want[i][j] {
				t.Errorf("%v making kind %d: got allowed=%v (%v), want %v", r, k, got, err, want[i][j])
			}
			if err != nil && !errors.Is(err, ErrInsufficientRights) {
				t.Errorf("%v making kind %d: got %v, want %v", r, k, err, ErrInsufficientRights)
			}
		}
	}
}

func TestAuthorizeRejects(t *testing.T) {
	tok := chain(t, Write, "root", "alice", "bob")
	tests := []struct {
		name  string
		c     ChangeInfo
		proof *Token
		want  error
	}{
		{"other author", ChangeInfo{Author: testPub("carol"), Kind: KindText, Time: testEpoch}, tok, ErrWrongAudience},
		{"after expiry", ChangeInfo{Author: testPub("bob"), Kind: KindText, Time: hours(25)}, tok, ErrExpired},
		{"unknown kind", ChangeInfo{Author: testPub("bob"), Kind: 9, Time: testEpoch}, tok, ErrMalformed},
		{"no proof", ChangeInfo{Author: testPub("bob"), Kind: KindText, Time: testEpoch}, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Authorize(tt.c, tt.proof, Policy{Doc: testDoc, Root: testPub("root")})
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyNamesFailingLink(t *testing.T) {
	tok := chain(t, Write, "root", "a", "b", "c", "d")
	tok.Parent.Parent.Sig[3] ^= 1 // link 2 of 4
	_, err := Verify(tok, VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("d"), Now: testEpoch})
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "link 2 of 4") {
		t.Errorf("got %v, want %v naming link 2 of 4", err, ErrBadSignature)
	}
}
