package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/mailproto"
)

// zeroRand is a deterministic nonce source for test tokens.
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("relay test " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(name string) access.Key { return access.PublicKeyOf(key(name)) }

var (
	epoch = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	// testDoc is owner's document, its id bound to owner's key and the
	// zero nonce (the fixture's root token has it: zeroRand).
	testDoc = crdt.DocID(access.DocIDFor(pub("owner"), [16]byte{}))
	// otherDoc is another owner's document.
	otherDoc = crdt.DocID(access.DocIDFor(pub("owner2"), [16]byte{}))
)

// fixture is a document owned by "owner", with a relay key "relay" and a
// mailbox opened on a fake clock.
type fixture struct {
	t    *testing.T
	now  time.Time
	dir  string
	cfg  MailboxConfig
	mb   *mailbox
	root *access.Token
}

func newFixture(t *testing.T, cfg MailboxConfig) *fixture {
	f := &fixture{t: t, now: epoch, dir: t.TempDir(), cfg: cfg}
	f.root = f.issue(nil, "owner", "owner", testDoc, access.Admin|access.Relay, 24*time.Hour)
	f.open()
	t.Cleanup(func() {
		if err := f.mb.close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

func (f *fixture) open() {
	mb, err := openMailbox(f.dir, pub("relay"), f.cfg, func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	f.mb = mb
}

// reopen closes and opens the mailbox again, as a relay restart does.
func (f *fixture) reopen() {
	if err := f.mb.close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) issue(parent *access.Token, issuer, audience string, doc crdt.DocID, r access.Rights, life time.Duration) *access.Token {
	f.t.Helper()
	tok, err := access.Issue(parent, key(issuer), access.Grant{Audience: pub(audience), Doc: access.DocID(doc), Rights: r,
		NotBefore: epoch.Add(-time.Minute), Expiry: epoch.Add(life)}, zeroRand{})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// member issues name a token from the owner.
func (f *fixture) member(name string, r access.Rights) *access.Token {
	return f.issue(f.root, "owner", name, testDoc, r, 12*time.Hour)
}

func (f *fixture) put(from string, proof, relayProof *access.Token, box string, revs ...[]byte) mailproto.Response {
	req := mailproto.Request{Type: mailproto.TypePut, Doc: testDoc, Box: []byte(box), Revocations: revs}
	if proof != nil {
		req.Proof = proof.Encode()
	}
	if relayProof != nil {
		req.RelayProof = relayProof.Encode()
	}
	return f.mb.Serve(pub(from), req)
}

func (f *fixture) get(from string, proof *access.Token, after, max uint64) mailproto.Response {
	return f.mb.Serve(pub(from), mailproto.Request{Type: mailproto.TypeGet, Doc: testDoc, Proof: proof.Encode(), After: after, MaxBytes: max})
}

func wantCode(t *testing.T, what string, r mailproto.Response, code mailproto.Code, msg string) {
	t.Helper()
	if r.Type != mailproto.TypeError || r.Code != code || !strings.Contains(r.Msg, msg) {
		t.Errorf("%s: got %+v, want %v containing %q", what, r, code, msg)
	}
}

func wantStored(t *testing.T, what string, r mailproto.Response, seq uint64) {
	t.Helper()
	if r.Type != mailproto.TypeStored || r.Seq != seq {
		t.Errorf("%s: got %+v, want stored as %d", what, r, seq)
	}
}

func boxesOf(r mailproto.Response) string {
	var b []string
	for _, x := range r.Boxes {
		b = append(b, fmt.Sprintf("%d:%s", x.Seq, x.Data))
	}
	return fmt.Sprintf("%s next=%d more=%v", strings.Join(b, ","), r.Next, r.More)
}

// TestMailboxMandate checks the relay's own capability: it serves a
// document only once a member shows it a token granting the relay right
// to its key, anchored at the document's root, and pins that root.
func TestMailboxMandate(t *testing.T) {
	f := newFixture(t, MailboxConfig{})
	writer := f.member("writer", access.Write)
	wantCode(t, "no relay proof", f.put("writer", writer, nil, "x"), mailproto.CodeNoMandate, "send one")
	wantCode(t, "admin without relay bit", f.put("writer", writer, f.member("relay", access.Admin), "x"),
		mailproto.CodeNoMandate, "insufficient rights")
	wantCode(t, "another relay's token", f.put("writer", writer, f.member("other-relay", access.Relay), "x"),
		mailproto.CodeNoMandate, "audience")
	wantCode(t, "another document", f.put("writer", writer, f.issue(f.issue(nil, "owner2", "owner2", otherDoc, access.Admin|access.Relay, time.Hour),
		"owner2", "relay", otherDoc, access.Relay, time.Hour), "x"), mailproto.CodeNoMandate, "document")
	// A document whose id is not bound to its root: the relay cannot tell
	// its owner, so it will not pin one.
	loose := crdt.DocID{9}
	looseRoot := f.issue(nil, "owner", "owner", loose, access.Admin|access.Relay, time.Hour)
	got := f.mb.Serve(pub("owner"), mailproto.Request{Type: mailproto.TypePut, Doc: loose, Proof: looseRoot.Encode(),
		RelayProof: f.issue(looseRoot, "owner", "relay", loose, access.Relay, time.Hour).Encode(), Box: []byte("x")})
	wantCode(t, "unbound id", got, mailproto.CodeNoMandate, "not bound to its owner")
	relayTok := f.member("relay", access.Relay)
	first := f.put("writer", writer, relayTok, "one")
	wantStored(t, "first put", first, 1)
	if first.Epoch == 0 || first.Retention != uint64(DefaultRetention/time.Second) {
		t.Errorf("first put: epoch %d, retention %d", first.Epoch, first.Retention)
	}
	// Held now: later requests need not carry it, across a restart too,
	// and the mailbox keeps its epoch.
	f.reopen()
	second := f.put("writer", writer, nil, "two")
	wantStored(t, "second put", second, 2)
	if second.Epoch != first.Epoch {
		t.Errorf("epoch changed across a restart: %d then %d", first.Epoch, second.Epoch)
	}

	// The root is pinned: a stranger's self-made chain for the same
	// document id, relay token included, is refused and replaces nothing.
	f2 := f.issue(nil, "mallory", "mallory", testDoc, access.Admin|access.Relay, time.Hour)
	evilRelay := f.issue(f2, "mallory", "relay", testDoc, access.Relay, time.Hour)
	wantCode(t, "squatter", f.put("mallory", f2, evilRelay, "evil"), mailproto.CodeUnauthorized, "")
	got = f.get("writer", writer, 0, 0)
	if s := boxesOf(got); s != "1:one,2:two next=2 more=false" {
		t.Errorf("get after squatter: %s", s)
	}

	// The held token expires with the relay's clock; a fresh one revives it.
	f.now = epoch.Add(13 * time.Hour)
	writer = f.issue(f.root, "owner", "writer", testDoc, access.Write, 20*time.Hour)
	wantCode(t, "expired mandate", f.put("writer", writer, nil, "late"), mailproto.CodeNoMandate, "expired")
	wantStored(t, "renewed mandate", f.put("writer", writer, f.issue(f.root, "owner", "relay", testDoc, access.Relay, 20*time.Hour), "late"), 3)
}

// TestMailboxMembers checks what each member may do: comment and above put,
// read gets, outsiders and malformed proofs are refused precisely.
func TestMailboxMembers(t *testing.T) {
	f := newFixture(t, MailboxConfig{})
	relayTok := f.member("relay", access.Relay)
	writer, commenter, reader := f.member("writer", access.Write), f.member("commenter", access.Comment), f.member("reader", access.Read)
	wantStored(t, "writer", f.put("writer", writer, relayTok, "w"), 1)
	wantStored(t, "commenter", f.put("commenter", commenter, nil, "c"), 2)
	wantCode(t, "reader puts", f.put("reader", reader, nil, "r"), mailproto.CodeUnauthorized, "holds read")
	wantCode(t, "stolen proof", f.put("mallory", writer, nil, "m"), mailproto.CodeUnauthorized, "audience")
	wantCode(t, "no proof", f.put("writer", nil, nil, "w"), mailproto.CodeUnauthorized, "no proof")
	wantCode(t, "empty box", f.put("writer", writer, nil, ""), mailproto.CodeMalformed, "empty box")
	bad := f.mb.Serve(pub("writer"), mailproto.Request{Type: mailproto.TypePut, Doc: testDoc, Proof: []byte{1, 2, 3}, Box: []byte("x")})
	wantCode(t, "garbled proof", bad, mailproto.CodeMalformed, "proof")
	// A revocation whose signature does not verify is refused whole.
	rec, err := access.Revoke(f.root, key("owner"), access.TargetKey, pub("reader"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	forged := rec.Encode()
	forged[len(forged)-1] ^= 1
	wantCode(t, "forged revocation", f.put("writer", writer, nil, "w", forged), mailproto.CodeMalformed, "revocation 0")

	if s := boxesOf(f.get("reader", reader, 0, 0)); s != "1:w,2:c next=2 more=false" {
		t.Errorf("reader gets %s", s)
	}
	if r := f.get("reader", reader, 0, 0); r.Boxes[0].From != pub("writer") || r.Boxes[1].From != pub("commenter") || r.Boxes[0].Time != epoch.Unix() {
		t.Errorf("box metadata: %+v", r.Boxes)
	}
	wantCode(t, "outsider gets", f.get("mallory", f.issue(nil, "mallory", "mallory", testDoc, access.Admin, time.Hour), 0, 0),
		mailproto.CodeUnauthorized, "")
}

// TestMailboxPaging checks Get's cursor and byte bound: every box comes
// exactly once, in order, whole, however small the bound.
func TestMailboxPaging(t *testing.T) {
	f := newFixture(t, MailboxConfig{})
	relayTok, w := f.member("relay", access.Relay), f.member("writer", access.Write)
	var want []string
	for i := range 7 {
		box := strings.Repeat(string(rune('a'+i)), i+1)
		wantStored(t, "put", f.put("writer", w, relayTok, box), uint64(i+1))
		want = append(want, box)
	}
	for _, max := range []uint64{1, 5, 9, 100} {
		var got []string
		after, rounds := uint64(0), 0
		for {
			r := f.get("writer", w, after, max)
			if r.Type != mailproto.TypeBoxes {
				t.Fatalf("max %d: %+v", max, r)
			}
			for _, b := range r.Boxes {
				got = append(got, string(b.Data))
			}
			after, rounds = r.Next, rounds+1
			if !r.More {
				break
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") || after != 7 {
			t.Errorf("max %d: got %v ending at %d, want %v ending at 7", max, got, after, want)
		}
		if max == 1 && rounds != 7 {
			t.Errorf("max 1: %d rounds, want one box each", rounds)
		}
	}
	if r := f.get("writer", w, 7, 0); len(r.Boxes) != 0 || r.Next != 7 || r.More {
		t.Errorf("get after the last: %s", boxesOf(r))
	}
}

// TestMailboxRevocation checks that a revocation a member shows the relay
// cuts the revoked device off for every later request, and survives a
// restart; revoking the relay's own key ends its mandate.
func TestMailboxRevocation(t *testing.T) {
	f := newFixture(t, MailboxConfig{})
	relayTok, w, r := f.member("relay", access.Relay), f.member("writer", access.Write), f.member("reader", access.Read)
	wantStored(t, "put", f.put("writer", w, relayTok, "before"), 1)
	rec, err := access.Revoke(f.root, key("owner"), access.TargetKey, pub("writer"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	// The owner shows it while getting; from then on the writer is refused.
	if got := f.mb.Serve(pub("owner"), mailproto.Request{Type: mailproto.TypeGet, Doc: testDoc, Proof: f.root.Encode(),
		Revocations: [][]byte{rec.Encode()}}); got.Type != mailproto.TypeBoxes {
		t.Fatalf("owner's get with the revocation: %+v", got)
	}
	f.reopen()
	wantCode(t, "revoked writer puts", f.put("writer", w, nil, "after"), mailproto.CodeUnauthorized, "revoked")
	wantCode(t, "revoked writer gets", f.get("writer", w, 0, 0), mailproto.CodeUnauthorized, "revoked")
	if got := f.get("reader", r, 0, 0); boxesOf(got) != "1:before next=1 more=false" {
		t.Errorf("reader: %s", boxesOf(got))
	}
	// Showing the same record again changes nothing.
	wantStored(t, "owner puts with the same record", f.put("owner", f.root, nil, "x", rec.Encode()), 2)

	relayRec, err := access.Revoke(f.root, key("owner"), access.TargetKey, pub("relay"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "relay revoked", f.put("owner", f.root, nil, "y", relayRec.Encode()), mailproto.CodeNoMandate, "revoked")
	// The refused request still taught the relay the record: a new relay
	// token for the same key does not help.
	wantCode(t, "relay revoked, new token", f.put("owner", f.root, f.member("relay", access.Relay), "y"), mailproto.CodeNoMandate, "revoked")
}

// TestMailboxBounds checks the document quota, one device's half of it,
// the relay's total, the retention and the document limit, each refusing
// with CodeFull and storing nothing. Every box costs its data plus
// BoxOverhead.
func TestMailboxBounds(t *testing.T) {
	const quota = 4*BoxOverhead + 20 // one device may hold 138
	f := newFixture(t, MailboxConfig{DocQuota: quota, Retention: time.Hour, MaxDocs: 1})
	relayTok, w, c, d := f.member("relay", access.Relay), f.member("writer", access.Write), f.member("commenter", access.Comment), f.member("third", access.Write)
	wantStored(t, "w puts 6", f.put("writer", w, relayTok, strings.Repeat("a", 6)), 1) // w 70, doc 70
	wantCode(t, "w over its half", f.put("writer", w, nil, strings.Repeat("b", 5)), mailproto.CodeFull, "one device may hold half")
	wantStored(t, "c puts 60", f.put("commenter", c, nil, strings.Repeat("c", 60)), 2) // c 124, doc 194
	wantCode(t, "over the document's quota", f.put("third", d, nil, strings.Repeat("d", 20)), mailproto.CodeFull, "quota of 276")
	f.now = epoch.Add(30 * time.Minute)
	wantStored(t, "w puts 1 later", f.put("writer", w, nil, "e"), 3) // w 135, doc 259
	// An hour after the first two they expire: Get skips them, and the
	// next Put drops them, which gives the writer its share back.
	f.now = epoch.Add(time.Hour + time.Second)
	if got := boxesOf(f.get("writer", w, 0, 0)); got != "3:e next=3 more=false" {
		t.Errorf("get after expiry: %s", got)
	}
	wantStored(t, "after expiry", f.put("writer", w, nil, strings.Repeat("f", 9)), 4) // w 65+73 = 138
	if got := boxesOf(f.get("writer", w, 0, 0)); got != "3:e,4:fffffffff next=4 more=false" {
		t.Errorf("get after the put: %s", got)
	}

	root2 := f.issue(nil, "owner2", "owner2", otherDoc, access.Admin|access.Relay, time.Hour)
	got := f.mb.Serve(pub("owner2"), mailproto.Request{Type: mailproto.TypePut, Doc: otherDoc, Proof: root2.Encode(),
		RelayProof: f.issue(root2, "owner2", "relay", otherDoc, access.Relay, time.Hour).Encode(), Box: []byte("x")})
	wantCode(t, "second document", got, mailproto.CodeFull, "1 documents")

	// The relay's total, counted across a restart.
	g := newFixture(t, MailboxConfig{MaxBytes: 3 * BoxOverhead})
	relayTok, w = g.member("relay", access.Relay), g.member("writer", access.Write)
	wantStored(t, "first of the total", g.put("writer", w, relayTok, "x"), 1)
	wantStored(t, "second of the total", g.put("writer", w, nil, "y"), 2)
	g.reopen()
	wantCode(t, "past the relay's total", g.put("writer", w, nil, "z"), mailproto.CodeFull, "its limit is 192")
}

// TestMailboxOperatorRoots checks that an operator who pins roots serves
// only their documents.
func TestMailboxOperatorRoots(t *testing.T) {
	f := newFixture(t, MailboxConfig{Roots: []access.Key{pub("someone else")}})
	wantCode(t, "unpinned root", f.put("owner", f.root, f.member("relay", access.Relay), "x"), mailproto.CodeNoMandate, "operator")
	f.cfg.Roots = append(f.cfg.Roots, pub("owner"))
	f.reopen()
	wantStored(t, "pinned root", f.put("owner", f.root, f.member("relay", access.Relay), "x"), 1)
}

// TestMailboxOverNetwork runs a relay with a mailbox on loopback and two
// members' libp2p nodes: one puts a box, the other gets it, and a refusal
// reaches the client as a RefusedError.
func TestMailboxOverNetwork(t *testing.T) {
	f := newFixture(t, MailboxConfig{}) // for tokens only
	srv, err := New(Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, PrivateKey: key("relay"), DataDir: t.TempDir(),
		Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	start(t, srv.Run, srv.Ready())
	node := func(name string) *p2p.Node {
		n, err := p2p.New(p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, PrivateKey: key(name)})
		if err != nil {
			t.Fatal(err)
		}
		start(t, n.Run, n.Ready())
		if err := n.Connect(t.Context(), srv.Addrs()[0].String()); err != nil {
			t.Fatal(err)
		}
		return n
	}
	writer, reader := node("writer"), node("reader")
	box := bytes.Repeat([]byte{0xc1}, mailproto.MaxBoxSize)
	resp, err := writer.Mailbox(t.Context(), srv.ID(), mailproto.Request{Type: mailproto.TypePut, Doc: testDoc,
		RelayProof: f.member("relay", access.Relay).Encode(), Proof: f.member("writer", access.Write).Encode(), Box: box})
	if err != nil || resp.Seq != 1 {
		t.Fatalf("put: %+v, %v", resp, err)
	}
	resp, err = reader.Mailbox(t.Context(), srv.ID(), mailproto.Request{Type: mailproto.TypeGet, Doc: testDoc,
		Proof: f.member("reader", access.Read).Encode()})
	if err != nil || len(resp.Boxes) != 1 || !bytes.Equal(resp.Boxes[0].Data, box) || resp.Boxes[0].From != pub("writer") {
		t.Fatalf("get: %d boxes, %v", len(resp.Boxes), err)
	}
	_, err = reader.Mailbox(t.Context(), srv.ID(), mailproto.Request{Type: mailproto.TypePut, Doc: testDoc,
		Proof: f.member("reader", access.Read).Encode(), Box: []byte("x")})
	var refused *mailproto.RefusedError
	if !errors.As(err, &refused) || refused.Code != mailproto.CodeUnauthorized {
		t.Errorf("reader's put: %v, want a RefusedError with %v", err, mailproto.CodeUnauthorized)
	}
	// A relay without a data directory does not speak the protocol.
	plain, err := New(Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, PrivateKey: key("plain")})
	if err != nil {
		t.Fatal(err)
	}
	start(t, plain.Run, plain.Ready())
	if err := reader.Connect(context.Background(), plain.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Mailbox(t.Context(), plain.ID(), mailproto.Request{Type: mailproto.TypeGet, Doc: testDoc}); err == nil {
		t.Error("a relay without a mailbox answered")
	}
}

// BenchmarkMailbox measures one request as the relay decides and carries
// it out (without the network): both capability checks through
// access.Authorize with the signature cache warm, and Badger (a Put
// syncs to disk).
func BenchmarkMailbox(b *testing.B) {
	for _, kind := range []string{"put", "get"} {
		b.Run(kind, func(b *testing.B) {
			mb, err := openMailbox(b.TempDir(), pub("relay"), MailboxConfig{}, func() time.Time { return epoch }, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer mb.close()
			issue := func(parent *access.Token, issuer, audience string, r access.Rights) *access.Token {
				tok, err := access.Issue(parent, key(issuer), access.Grant{Audience: pub(audience), Doc: access.DocID(testDoc), Rights: r,
					NotBefore: epoch.Add(-time.Minute), Expiry: epoch.Add(time.Hour)}, zeroRand{})
				if err != nil {
					b.Fatal(err)
				}
				return tok
			}
			root := issue(nil, "owner", "owner", access.Admin|access.Relay)
			writer := issue(root, "owner", "writer", access.Write).Encode()
			put := mailproto.Request{Type: mailproto.TypePut, Doc: testDoc, Proof: writer,
				RelayProof: issue(root, "owner", "relay", access.Relay).Encode(), Box: bytes.Repeat([]byte{1}, 1024)}
			if r := mb.Serve(pub("writer"), put); r.Type != mailproto.TypeStored {
				b.Fatal(r)
			}
			req := put
			req.RelayProof = nil
			if kind == "get" {
				req = mailproto.Request{Type: mailproto.TypeGet, Doc: testDoc, Proof: writer}
			}
			b.ResetTimer()
			for b.Loop() {
				if r := mb.Serve(pub("writer"), req); r.Type == mailproto.TypeError {
					b.Fatal(r)
				}
			}
		})
	}
}

// FuzzMailboxServe feeds the relay arbitrary request bodies from an
// arbitrary device, after a valid document was set up: it must never
// panic, must answer every request, and must store a box only for a
// member with comment rights or more.
func FuzzMailboxServe(f *testing.F) {
	setup := &fixture{now: epoch}
	root := setup.issueFuzz(nil, "owner", "owner", access.Admin|access.Relay)
	writer := setup.issueFuzz(root, "owner", "writer", access.Write)
	reader := setup.issueFuzz(root, "owner", "reader", access.Read)
	relayTok := setup.issueFuzz(root, "owner", "relay", access.Relay)
	for _, q := range []mailproto.Request{
		{Type: mailproto.TypePut, Doc: testDoc, Proof: writer.Encode(), Box: []byte("x")},
		{Type: mailproto.TypePut, Doc: testDoc, Proof: reader.Encode(), Box: []byte("x")},
		{Type: mailproto.TypeGet, Doc: testDoc, Proof: reader.Encode(), After: 1, MaxBytes: 1},
		{Type: mailproto.TypeGet, Doc: testDoc, Proof: writer.Encode(), RelayProof: relayTok.Encode(), Revocations: [][]byte{{1, 2}}},
	} {
		for _, who := range []byte{0, 1, 2} {
			f.Add(who, q.Encode())
		}
	}
	// One mailbox for the whole run (opening Badger per input would
	// leave the fuzzer a few inputs a minute); what inputs add to it
	// does not change who may store.
	mb, err := openMailbox(f.TempDir(), pub("relay"), MailboxConfig{}, func() time.Time { return epoch }, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { mb.close() })
	seed := mailproto.Request{Type: mailproto.TypePut, Doc: testDoc, Proof: root.Encode(), RelayProof: relayTok.Encode(), Box: []byte("seed")}
	if r := mb.Serve(pub("owner"), seed); r.Type != mailproto.TypeStored {
		f.Fatalf("seed put: %+v", r)
	}
	names := []string{"writer", "reader", "mallory"}
	f.Fuzz(func(t *testing.T, who byte, body []byte) {
		req, err := mailproto.DecodeRequest(body)
		if err != nil {
			return
		}
		from := names[int(who)%len(names)]
		resp := mb.Serve(pub(from), req)
		switch resp.Type {
		case mailproto.TypeStored:
			if req.Type != mailproto.TypePut || from != "writer" || req.Doc != testDoc {
				t.Fatalf("%s's %v on %v stored a box", from, req.Type, req.Doc)
			}
		case mailproto.TypeBoxes:
			if req.Type != mailproto.TypeGet || from == "mallory" || req.Doc != testDoc {
				t.Fatalf("%s's %v on %v got boxes", from, req.Type, req.Doc)
			}
		case mailproto.TypeError:
			if resp.Msg == "" {
				t.Fatal("refusal without a reason")
			}
		default:
			t.Fatalf("answer %+v", resp)
		}
		if _, err := mailproto.DecodeResponse(resp.Encode()); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
	})
}

// issueFuzz issues a test token for the fuzz target (no testing.T there).
func (f *fixture) issueFuzz(parent *access.Token, issuer, audience string, r access.Rights) *access.Token {
	tok, err := access.Issue(parent, key(issuer), access.Grant{Audience: pub(audience), Doc: access.DocID(testDoc), Rights: r,
		NotBefore: epoch.Add(-time.Minute), Expiry: epoch.Add(time.Hour)}, zeroRand{})
	if err != nil {
		panic(err)
	}
	return tok
}

// TestMailboxSweep checks that the periodic sweep drops expired boxes and
// forgets a mailbox nobody put to for the retention, freeing its document
// slot, and that the next member to come makes it again with a new epoch.
func TestMailboxSweep(t *testing.T) {
	f := newFixture(t, MailboxConfig{Retention: time.Hour, MaxDocs: 1})
	relayTok, w := f.member("relay", access.Relay), f.member("writer", access.Write)
	first := f.put("writer", w, relayTok, "old")
	wantStored(t, "put", first, 1)
	f.now = epoch.Add(50 * time.Minute)
	wantStored(t, "later put", f.put("writer", w, nil, "newer"), 2)

	f.now = epoch.Add(time.Hour + time.Second)
	if n, err := f.mb.sweep(); err != nil || n != 0 {
		t.Fatalf("sweep after the first box expired: forgot %d, %v", n, err)
	}
	if got := boxesOf(f.get("writer", w, 0, 0)); got != "2:newer next=2 more=false" {
		t.Errorf("after the first sweep: %s", got)
	}
	f.now = epoch.Add(2 * time.Hour)
	if n, err := f.mb.sweep(); err != nil || n != 1 {
		t.Fatalf("sweep after everything expired: forgot %d, %v", n, err)
	}
	wantCode(t, "get from a forgotten mailbox", f.get("writer", w, 0, 0), mailproto.CodeNoMandate, "send one")
	// The slot is free again (MaxDocs is 1) and the mailbox comes back new.
	f.reopen()
	again := f.put("writer", w, relayTok, "fresh")
	wantStored(t, "put after forgetting", again, 1)
	if again.Epoch == first.Epoch {
		t.Error("a remade mailbox kept its old epoch; members would not put their documents again")
	}
}

// TestMailboxPruneChunks: more expired boxes than one transaction may drop
// (pruneChunk) are dropped over several, by Puts and by the sweep, and
// the document keeps working.
func TestMailboxPruneChunks(t *testing.T) {
	f := newFixture(t, MailboxConfig{Retention: time.Hour})
	relayTok, w := f.member("relay", access.Relay), f.member("writer", access.Write)
	const n = 2*pruneChunk + 100
	for i := range n {
		var tok *access.Token
		if i == 0 {
			tok = relayTok
		}
		if r := f.put("writer", w, tok, "x"); r.Type != mailproto.TypeStored {
			t.Fatalf("put %d: %+v", i, r)
		}
	}
	f.now = epoch.Add(2 * time.Hour)
	wantStored(t, "put after expiry", f.put("writer", w, nil, "y"), n+1) // drops the first chunk
	if _, err := f.mb.sweep(); err != nil {
		t.Fatal(err)
	}
	if got := boxesOf(f.get("writer", w, 0, 0)); got != fmt.Sprintf("%d:y next=%d more=false", n+1, n+1) {
		t.Errorf("after the sweep: %s", got)
	}
	meta, err := f.mb.meta(testDoc)
	if err != nil {
		t.Fatal(err)
	}
	if meta.bytes != boxCost(1) || meta.first != n+1 || f.mb.total != boxCost(1) {
		t.Errorf("after the sweep: document holds %d bytes from seq %d, relay %d; want %d from %d", meta.bytes, meta.first, f.mb.total, boxCost(1), n+1)
	}
}
