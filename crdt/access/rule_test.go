package access

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// dag is an in-memory History: each change lists its parents.
type dag map[ChangeRef][]ChangeRef

func (d dag) Precedes(a, b ChangeRef) bool {
	seen := map[ChangeRef]bool{}
	stack := slices.Clone(d[b])
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c == a {
			return true
		}
		if !seen[c] {
			seen[c] = true
			stack = append(stack, d[c]...)
		}
	}
	return false
}

// change is one change of a scripted history.
type change struct {
	name    string
	ref     ChangeRef
	parents []string
	author  string
	proof   *Token
	kind    Kind
	rec     *Revocation
}

// script builds the history used by the rule tests. refA and refB are the
// first bytes of the refs of alice's and bob's concurrent revocations of
// each other, which decide who wins.
func script(t *testing.T, refA, refB byte) []change {
	alice := chain(t, Admin, "root", "alice")
	bob := chain(t, Admin, "root", "bob")
	wendy := mustIssue(t, alice, "alice", Grant{Audience: testPub("wendy"), Rights: Write, NotBefore: hours(-1), Expiry: hours(1)})
	revoke := func(proof *Token, by, target string) *Revocation {
		r, err := Revoke(proof, testKey(by), TargetKey, testPub(target), testEpoch)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	return []change{
		{name: "g", ref: ChangeRef{0x01}, author: "root", proof: chain(t, Admin, "root", "root"), kind: KindText},
		{name: "a1", ref: ChangeRef{0x02}, parents: []string{"g"}, author: "alice", proof: alice, kind: KindText},
		{name: "b1", ref: ChangeRef{0x03}, parents: []string{"g"}, author: "bob", proof: bob, kind: KindText},
		{name: "w1", ref: ChangeRef{0x04}, parents: []string{"g"}, author: "wendy", proof: wendy, kind: KindText},
		{name: "rA", ref: ChangeRef{refA}, parents: []string{"a1"}, author: "alice", proof: alice, kind: KindAccess, rec: revoke(alice, "alice", "bob")},
		{name: "rB", ref: ChangeRef{refB}, parents: []string{"b1"}, author: "bob", proof: bob, kind: KindAccess, rec: revoke(bob, "bob", "alice")},
		{name: "w2", ref: ChangeRef{0x05}, parents: []string{"rA", "rB"}, author: "wendy", proof: wendy, kind: KindText},
		{name: "b2", ref: ChangeRef{0x06}, parents: []string{"rA"}, author: "bob", proof: bob, kind: KindComment},
		{name: "a2", ref: ChangeRef{0x07}, parents: []string{"rA", "rB"}, author: "alice", proof: alice, kind: KindText},
	}
}

// replay delivers changes in the given order to a fresh replica (which
// buffers nothing: Decide only needs the final set) and returns, per change
// name, "ok" or the sentinel that rejected it. cache may be nil.
func replay(changes []change, cache *SigCache) map[string]string {
	byName := map[string]change{}
	for _, c := range changes {
		byName[c.name] = c
	}
	h := dag{}
	var events []RevocationEvent
	for _, c := range changes {
		for _, p := range c.parents {
			h[c.ref] = append(h[c.ref], byName[p].ref)
		}
		if c.rec != nil {
			events = append(events, RevocationEvent{Change: c.ref, Author: testPub(c.author), Record: c.rec})
		}
	}
	ruling := Decide(h, events, testDoc, testPub("root"))
	out := map[string]string{}
	for _, c := range changes {
		_, err := Authorize(ChangeInfo{Ref: c.ref, Author: testPub(c.author), Kind: c.kind, Time: testEpoch}, c.proof,
			Policy{Doc: testDoc, Root: testPub("root"), Ruling: ruling, Cache: cache})
		out[c.name] = verdict(err)
	}
	return out
}

func verdict(err error) string {
	for _, s := range []error{ErrRevoked, ErrInsufficientRights, ErrExpired, ErrBadSignature} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func TestMutualRevocation(t *testing.T) {
	rev := ErrRevoked.Error()
	tests := []struct {
		name       string
		refA, refB byte
		want       map[string]string
	}{
		// The loser's changes concurrent with the winner's revocation (its
		// own void revocation's change included) are kept; those made after
		// seeing the winner's revocation are not.
		{"alice first", 0x20, 0x30, map[string]string{
			"g": "ok", "a1": "ok", "b1": "ok", "w1": "ok", "rA": "ok", "rB": "ok", "w2": "ok", "b2": rev, "a2": "ok"}},
		{"bob first", 0x30, 0x20, map[string]string{
			"g": "ok", "a1": "ok", "b1": "ok", "w1": "ok", "rA": "ok", "rB": "ok", "w2": rev, "b2": "ok", "a2": rev}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := script(t, tt.refA, tt.refB)
			cache := NewSigCache(64) // shared by the replays, as by one replica's documents
			got := replay(changes, nil)
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("change %s: got %s, want %s", name, got[name], want)
				}
			}
			// Every delivery order decides the same.
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range 60 {
				perm := slices.Clone(changes)
				rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				if again := replay(perm, cache); fmt.Sprint(again) != fmt.Sprint(got) {
					t.Fatalf("shuffle %d: got %v, want %v", i, again, got)
				}
			}
		})
	}
}

func TestRevocationCausalCut(t *testing.T) {
	// Root revokes bob after seeing b1: b1 stays, and so does b2, concurrent
	// with the revocation; b3, made after bob saw it, goes, and so do tokens
	// bob issued.
	root := chain(t, Admin, "root", "root")
	bob := chain(t, Write, "root", "bob")
	bobsFriend := mustIssue(t, bob, "bob", Grant{Audience: testPub("friend"), Rights: Read, NotBefore: hours(-1), Expiry: hours(1)})
	rec, err := Revoke(root, testKey("root"), TargetToken, bob.ID(), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	h := dag{
		{0xb1}: {{0x01}},
		{0xee}: {{0xb1}},
		{0xb2}: {{0xb1}},
		{0xb3}: {{0xee}},
	}
	ruling := Decide(h, []RevocationEvent{{Change: ChangeRef{0xee}, Author: testPub("root"), Record: rec}}, testDoc, testPub("root"))
	tests := []struct {
		ref    ChangeRef
		author string
		proof  *Token
		kind   Kind
		want   error
	}{
		{ChangeRef{0xb1}, "bob", bob, KindText, nil},
		{ChangeRef{0xb2}, "bob", bob, KindText, nil},
		{ChangeRef{0xb3}, "bob", bob, KindText, ErrRevoked},
		{ChangeRef{0xb3}, "friend", bobsFriend, KindText, ErrInsufficientRights},
		// A relay action is refused by any revocation applying to its
		// proof, wherever the revocation stands (here bob's, above the
		// friend), before its rights are looked at.
		{ChangeRef{0xb1}, "friend", bobsFriend, KindRelay, ErrRevoked},
		{ChangeRef{0xb3}, "root", root, KindAccess, nil},
	}
	for _, tt := range tests {
		_, err := Authorize(ChangeInfo{Ref: tt.ref, Author: testPub(tt.author), Kind: tt.kind, Time: testEpoch}, tt.proof,
			Policy{Doc: testDoc, Root: testPub("root"), Ruling: ruling})
		if !errors.Is(err, tt.want) {
			t.Errorf("%s change %x: got %v, want %v", tt.author, tt.ref[:1], err, tt.want)
		}
	}
	if !ruling.Revoked(Link{ID: bob.ID(), Depth: 1}) || ruling.Revoked(Link{Audience: testPub("bob"), Depth: 1}) {
		t.Errorf("ruling as Revocations: got token %v key %v, want true false",
			ruling.Revoked(Link{ID: bob.ID(), Depth: 1}), ruling.Revoked(Link{Audience: testPub("bob"), Depth: 1}))
	}
	// The friend's read token is revoked with bob's.
	_, err = Verify(bobsFriend, VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("friend"), Now: testEpoch, Revoked: ruling})
	if !errors.Is(err, ErrRevoked) {
		t.Errorf("Verify friend: got %v, want %v", err, ErrRevoked)
	}
}

func TestDecideEventOrderIndependent(t *testing.T) {
	changes := script(t, 0x20, 0x30)
	// Add root revoking alice concurrently with everything, and a
	// duplicate delivery of rA.
	root := chain(t, Admin, "root", "root")
	rec, _ := Revoke(root, testKey("root"), TargetKey, testPub("alice"), testEpoch)
	h := dag{}
	refs := map[string]ChangeRef{}
	for _, c := range changes {
		refs[c.name] = c.ref
	}
	var events []RevocationEvent
	for _, c := range changes {
		for _, p := range c.parents {
			h[c.ref] = append(h[c.ref], refs[p])
		}
		if c.rec != nil {
			events = append(events, RevocationEvent{c.ref, testPub(c.author), c.rec})
		}
	}
	h[ChangeRef{0x25}] = []ChangeRef{refs["g"]}
	events = append(events, RevocationEvent{ChangeRef{0x25}, testPub("root"), rec}, events[0])
	// A writer carrying a copy of root's record in its own change is void.
	h[ChangeRef{0x26}] = []ChangeRef{refs["g"]}
	events = append(events, RevocationEvent{ChangeRef{0x26}, testPub("wendy"), rec})
	want := summary(Decide(h, events, testDoc, testPub("root")))
	for _, perm := range permutations(len(events)) {
		evs := make([]RevocationEvent, len(events))
		for i, j := range perm {
			evs[i] = events[j]
		}
		if got := summary(Decide(h, evs, testDoc, testPub("root"))); got != want {
			t.Fatalf("order %v: got %s, want %s", perm, got, want)
		}
	}
	// rA (0x20) goes first and revokes bob; root's (0x25) revokes alice;
	// wendy's copy (0x26) and bob's rB are void.
	if w := "effective [20 25] void [26 30]"; want != w {
		t.Errorf("got %s, want %s", want, w)
	}
}

func summary(r *Ruling) string {
	var eff, void []string
	for _, e := range r.Effective() {
		eff = append(eff, fmt.Sprintf("%x", e.Change[:1]))
	}
	for _, e := range r.Void() {
		void = append(void, fmt.Sprintf("%x", e.Change[:1]))
	}
	return fmt.Sprintf("effective %v void %v", eff, void)
}

// permutations returns every permutation of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

func TestRulingNilSafe(t *testing.T) {
	var r *Ruling
	if _, cut := r.Cut(ChangeRef{1}, chain(t, Read, "root", "a")); cut || r.Revoked(Link{Depth: 5}) {
		t.Errorf("nil Ruling revoked something")
	}
	got := Decide(dag{}, []RevocationEvent{{Change: ChangeRef{1}}, {Change: ChangeRef{2}, Record: &Revocation{}}}, testDoc, testPub("root"))
	if n := len(got.Void()); n != 2 {
		t.Errorf("Decide on records without proof: got %d void, want 2", n)
	}
}

func TestRevocationRank(t *testing.T) {
	a := chain(t, Admin, "root", "a")      // depth 2
	b := chain(t, Admin, "root", "b")      // depth 2, a's peer
	c := chain(t, Admin, "root", "a", "c") // depth 3, below a
	d := mustIssue(t, c, "c", Grant{Audience: testPub("d"), Rights: Write, NotBefore: hours(-1), Expiry: hours(1)})
	revoke := func(proof *Token, by, target string) *Revocation {
		r, err := Revoke(proof, testKey(by), TargetKey, testPub(target), testEpoch)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name   string
		rec    *Revocation
		author string
		proof  *Token
		want   error
	}{
		{"peer revokes peer", revoke(a, "a", "b"), "b", b, ErrRevoked},
		{"below cannot revoke above", revoke(c, "c", "a"), "a", a, nil},
		{"below cannot cut its own chain above it", revoke(c, "c", "a"), "d", d, nil},
		{"above revokes below", revoke(a, "a", "c"), "d", d, ErrRevoked},
		{"delegator revokes delegate", revoke(c, "c", "d"), "d", d, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One revocation in change 0x10; the tested change 0x20 follows it.
			h := dag{{0x20}: {{0x10}}}
			r := Decide(h, []RevocationEvent{{Change: ChangeRef{0x10}, Author: tt.rec.Revoker(), Record: tt.rec}}, testDoc, testPub("root"))
			_, err := Authorize(ChangeInfo{Ref: ChangeRef{0x20}, Author: testPub(tt.author), Kind: KindText, Time: testEpoch}, tt.proof,
				Policy{Doc: testDoc, Root: testPub("root"), Ruling: r})
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestAuthorizeRelayAction checks that a relay's mandate is an action like
// KindRead: granted by a relay token, refused by a token without the relay
// bit, and refused once the relay's key or token is revoked, with no
// history to place the revocation in.
func TestAuthorizeRelayAction(t *testing.T) {
	relayTok := chain(t, Relay, "root", "relay")
	admin := chain(t, Admin, "root", "root")
	act := ChangeInfo{Author: testPub("relay"), Kind: KindRelay, Time: testEpoch}
	pol := Policy{Doc: testDoc, Root: testPub("root")}
	if _, err := Authorize(act, relayTok, pol); err != nil {
		t.Fatalf("relay token: %v", err)
	}
	if _, err := Authorize(act, chain(t, Admin, "root", "relay"), pol); !errors.Is(err, ErrInsufficientRights) {
		t.Errorf("admin token without the relay bit: got %v, want %v", err, ErrInsufficientRights)
	}
	for _, kind := range []TargetKind{TargetKey, TargetToken} {
		target := [32]byte(testPub("relay"))
		if kind == TargetToken {
			target = relayTok.ID()
		}
		rec, err := Revoke(admin, testKey("root"), kind, target, testEpoch)
		if err != nil {
			t.Fatal(err)
		}
		pol.Ruling = Decide(dag{}, []RevocationEvent{{Change: rec.ID(), Author: testPub("root"), Record: rec}}, testDoc, testPub("root"))
		if len(pol.Ruling.Effective()) != 1 {
			t.Fatalf("revocation of %v not effective: %v", kind, pol.Ruling.Void())
		}
		if _, err := Authorize(act, relayTok, pol); !errors.Is(err, ErrRevoked) {
			t.Errorf("after revoking the relay's %v: got %v, want %v", kind, err, ErrRevoked)
		}
	}
}

// TestDecideUnordered checks the relay's rule: without the causal order,
// every valid record counts, so two admins who revoke each other are both
// cut off whatever the records' ids or times, and an invalid record counts
// for nothing.
func TestDecideUnordered(t *testing.T) {
	alice := chain(t, Admin, "root", "alice")
	bob := chain(t, Admin, "root", "bob")
	aRevB, err := Revoke(alice, testKey("alice"), TargetKey, testPub("bob"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	bRevA, err := Revoke(bob, testKey("bob"), TargetKey, testPub("alice"), hours(-1))
	if err != nil {
		t.Fatal(err)
	}
	forged := *bRevA
	forged.Target = [32]byte(testPub("root2"))
	evs := []RevocationEvent{
		{Change: ChangeRef(aRevB.ID()), Author: testPub("alice"), Record: aRevB},
		{Change: ChangeRef(bRevA.ID()), Author: testPub("bob"), Record: bRevA},
		{Change: ChangeRef{7}, Author: testPub("bob"), Record: &forged},
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}} {
		var in []RevocationEvent
		for _, i := range order {
			in = append(in, evs[i])
		}
		r := DecideUnordered(in, testDoc, testPub("root"))
		if len(r.Effective()) != 2 || len(r.Void()) != 1 || !errors.Is(r.Void()[0].Err, ErrBadSignature) {
			t.Fatalf("order %v: effective %d, void %v", order, len(r.Effective()), r.Void())
		}
		pol := Policy{Doc: testDoc, Root: testPub("root"), Ruling: r}
		for name, tok := range map[string]*Token{"alice": alice, "bob": bob} {
			if _, err := Authorize(ChangeInfo{Author: testPub(name), Kind: KindRead, Time: testEpoch}, tok, pol); !errors.Is(err, ErrRevoked) {
				t.Errorf("order %v: %s reads: %v, want %v", order, name, err, ErrRevoked)
			}
		}
	}
	// Decide, with the order, voids one of them: the relay's rule is
	// stricter on purpose.
	if r := Decide(dag{}, evs[:2], testDoc, testPub("root")); len(r.Effective()) != 1 {
		t.Errorf("Decide kept %d of two mutual revocations, want 1", len(r.Effective()))
	}
}

// TestDocIDBinding checks that a document made with NewRoot names its root
// in its id, for every chain delegated from it, and that no other root's
// chain can claim that id.
func TestDocIDBinding(t *testing.T) {
	root, err := NewRoot(testKey("root"), Admin|Relay, testEpoch, hours(24), newDetReader("binding"))
	if err != nil {
		t.Fatal(err)
	}
	if root.Doc != DocIDFor(testPub("root"), root.Nonce) || !BoundToRoot(root) {
		t.Fatalf("root token for %v is not bound", root.Doc)
	}
	if _, err := Verify(root, VerifyParams{Doc: root.Doc, Root: testPub("root"), Audience: testPub("root"), Now: testEpoch}); err != nil {
		t.Fatal(err)
	}
	member, err := Issue(root, testKey("root"), Grant{Audience: testPub("bob"), Doc: root.Doc, Rights: Write, NotBefore: testEpoch, Expiry: hours(1)}, newDetReader("binding"))
	if err != nil {
		t.Fatal(err)
	}
	if !BoundToRoot(member) {
		t.Error("a member's chain is not bound")
	}
	// Mallory's own root for the same id cannot be bound: its nonce would
	// have to hash, with her key, to the id.
	mallory, err := Issue(nil, testKey("mallory"), Grant{Audience: testPub("mallory"), Doc: root.Doc, Rights: Admin, NotBefore: testEpoch, Expiry: hours(1)}, newDetReader("binding"))
	if err != nil {
		t.Fatal(err)
	}
	if BoundToRoot(mallory) {
		t.Error("another root's chain is bound to the id")
	}
	if BoundToRoot(chain(t, Admin, "root", "bob")) {
		t.Error("a chain for a random id is bound")
	}
}
