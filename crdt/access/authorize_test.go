package access

import (
	"errors"
	"strings"
	"testing"
	"time"
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

// TestAuthorizeRead checks actions (KindRead): they need Read, are checked
// at the given time, and every effective revocation applying to the proof
// refuses them, whatever its place in the history.
func TestAuthorizeRead(t *testing.T) {
	reader := chain(t, Read, "root", "alice", "rita")
	commenter := chain(t, Comment, "root", "carl")
	relay := chain(t, Relay, "root", "relay")
	root := chain(t, Admin, "root", "root")
	rec, err := Revoke(root, testKey("root"), TargetKey, testPub("alice"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	// The revocation is in change 0xee, which precedes nothing.
	ruling := Decide(dag{}, []RevocationEvent{{Change: ChangeRef{0xee}, Author: testPub("root"), Record: rec}}, testDoc, testPub("root"))
	p := Policy{Doc: testDoc, Root: testPub("root")}
	read := func(who string, at time.Time) ChangeInfo {
		return ChangeInfo{Author: testPub(who), Kind: KindRead, Time: at}
	}
	tests := []struct {
		name  string
		c     ChangeInfo
		proof *Token
		p     Policy
		want  error
	}{
		{"reader", read("rita", testEpoch), reader, p, nil},
		{"commenter reads", read("carl", testEpoch), commenter, p, nil},
		{"relay cannot read", read("relay", testEpoch), relay, p, ErrInsufficientRights},
		{"expired", read("rita", hours(25)), reader, p, ErrExpired},
		{"not yet valid", read("rita", hours(-25)), reader, p, ErrNotYetValid},
		{"below a revoked key", read("rita", testEpoch), reader, Policy{Doc: testDoc, Root: testPub("root"), Ruling: ruling}, ErrRevoked},
		{"untouched by the revocation", read("carl", testEpoch), commenter, Policy{Doc: testDoc, Root: testPub("root"), Ruling: ruling}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Authorize(tt.c, tt.proof, tt.p)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A change by rita concurrent with the revocation is kept; reading is not.
	if _, err := Authorize(ChangeInfo{Ref: ChangeRef{0x01}, Author: testPub("rita"), Kind: KindComment, Time: testEpoch},
		chain(t, Comment, "root", "alice", "rita"), Policy{Doc: testDoc, Root: testPub("root"), Ruling: ruling}); err != nil {
		t.Errorf("concurrent change: got %v, want it kept", err)
	}
}

// TestAuthorizePolicyHistory checks that Policy.History, not the history
// Decide saw, places the change: a replica decides on a change before it
// adds it to its history.
func TestAuthorizePolicyHistory(t *testing.T) {
	root := chain(t, Admin, "root", "root")
	bob := chain(t, Write, "root", "bob")
	rec, err := Revoke(root, testKey("root"), TargetKey, testPub("bob"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	ruling := Decide(dag{}, []RevocationEvent{{Change: ChangeRef{0xee}, Author: testPub("root"), Record: rec}}, testDoc, testPub("root"))
	c := ChangeInfo{Ref: ChangeRef{0xb9}, Author: testPub("bob"), Kind: KindText, Time: testEpoch}
	for _, tt := range []struct {
		name string
		h    History
		want error
	}{
		{"Decide's history: unplaced, concurrent", nil, nil},
		{"placed after the revocation", dag{{0xb9}: {{0xee}}}, ErrRevoked},
		{"placed concurrently", dag{{0xb9}: {{0x01}}}, nil},
	} {
		_, err := Authorize(c, bob, Policy{Doc: testDoc, Root: testPub("root"), Ruling: ruling, History: tt.h})
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
