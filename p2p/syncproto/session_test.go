package syncproto_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p/p2ptest"
	. "github.com/quire-dev/quire/p2p/syncproto"
)

var docID = crdt.DocID{7, 7, 7}

// party is one side: a replica and its key.
type party struct {
	name string
	key  access.Key
	r    *p2ptest.Replica
}

func newParty(t *testing.T, name string, rights access.Rights) *party {
	t.Helper()
	root := p2ptest.Key("root")
	k := p2ptest.Key(name)
	var tok *access.Token
	if rights != access.None {
		tok = p2ptest.Grant(docID, root, k, rights)
	}
	return &party{name: name, key: access.PublicKeyOf(k),
		r: p2ptest.NewReplica(docID, access.PublicKeyOf(root), k, tok, p2ptest.Clock())}
}

func (p *party) type_(t *testing.T, text string) {
	t.Helper()
	if _, err := p.r.Edit(func(d *crdt.Doc) error { return d.Insert(d.Len(), text) }); err != nil {
		t.Fatal(err)
	}
}

func (p *party) lookup(doc crdt.DocID) (Replica, bool) {
	if doc != docID {
		return nil, false
	}
	return p.r, true
}

// wire carries messages both ways through encode and decode, recording
// every message sent, and stops when both sessions are over.
type wire struct {
	t          *testing.T
	log        []Message // everything sent, in order
	logI, logR []Message // what the initiator, the responder sent
	toI, toR   []Message
}

func (w *wire) send(to *[]Message, ms []Message) {
	for _, m := range ms {
		got, err := Decode(m.Encode())
		if err != nil {
			w.t.Fatalf("message %s does not round-trip: %v", m.Type, err)
		}
		w.log = append(w.log, got)
		if to == &w.toR {
			w.logI = append(w.logI, got)
		} else {
			w.logR = append(w.logR, got)
		}
		*to = append(*to, got)
	}
}

// run drives an initiator and a responder to the end and returns their
// errors. maxSteps guards against a session that never ends.
func run(t *testing.T, ini, res *Session) (w *wire, errI, errR error) {
	t.Helper()
	w = &wire{t: t}
	w.send(&w.toR, ini.Start())
	doneI, doneR := false, false
	for steps := 0; (len(w.toI) > 0 || len(w.toR) > 0) && steps < 100000; steps++ {
		if len(w.toR) > 0 && !doneR {
			m := w.toR[0]
			w.toR = w.toR[1:]
			out, err := res.Step(m)
			w.send(&w.toI, out)
			if err != nil {
				errR, doneR = err, true
			}
		} else if len(w.toR) > 0 {
			w.toR = w.toR[1:]
		}
		if len(w.toI) > 0 && !doneI {
			m := w.toI[0]
			w.toI = w.toI[1:]
			out, err := ini.Step(m)
			w.send(&w.toR, out)
			if err != nil {
				errI, doneI = err, true
			}
		} else if len(w.toI) > 0 {
			w.toI = w.toI[1:]
		}
	}
	return w, errI, errR
}

func TestSessionSyncsBothWays(t *testing.T) {
	a, b := newParty(t, "a", access.Write), newParty(t, "b", access.Write)
	a.type_(t, "hello from a. ")
	b.type_(t, "hello from b. ")
	ini := NewInitiator(a.r, docID, b.key, Config{})
	res := NewResponder(b.lookup, a.key, Config{})
	_, errI, errR := run(t, ini, res)
	if errI != nil || errR != nil {
		t.Fatalf("errors: initiator %v, responder %v", errI, errR)
	}
	if !ini.Finished() || !res.Finished() {
		t.Fatalf("finished: initiator %v, responder %v", ini.Finished(), res.Finished())
	}
	if a.r.Text() != b.r.Text() || len(a.r.Text()) != 28 {
		t.Errorf("texts differ: %q, %q", a.r.Text(), b.r.Text())
	}
	if res.Doc() != docID || !res.Authorized() || !ini.Authorized() {
		t.Errorf("responder doc %v authorized %v/%v", res.Doc(), res.Authorized(), ini.Authorized())
	}
}

func TestSessionUpToDateSendsNoBatch(t *testing.T) {
	a, b := newParty(t, "a", access.Read), newParty(t, "b", access.Read)
	ini := NewInitiator(a.r, docID, b.key, Config{})
	res := NewResponder(b.lookup, a.key, Config{})
	w, errI, errR := run(t, ini, res)
	if errI != nil || errR != nil {
		t.Fatalf("errors: %v, %v", errI, errR)
	}
	var types []Type
	for _, m := range w.log {
		types = append(types, m.Type)
	}
	want := []Type{TypeHello, TypeHello, TypeHave, TypeHave, TypeDone, TypeDone}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("messages = %v, want %v", types, want)
	}
}

// leaks reports whether any message carries document state.
func leaks(log []Message) bool {
	for _, m := range log {
		if m.Type == TypeHave || m.Type == TypeAck || m.Type == TypeBatch {
			return true
		}
	}
	return false
}

func TestSessionRefusals(t *testing.T) {
	a := newParty(t, "a", access.Write)
	a.type_(t, "secret")
	outsider := newParty(t, "outsider", access.None)
	other := crdt.DocID{9}
	tests := []struct {
		name    string
		ini     func() *Session
		res     func() *Session
		errIni  error
		errResp error
		guarded bool // true: the initiator holds the document a refused peer must not learn
	}{
		{"no proof", func() *Session { return NewInitiator(outsider.r, docID, a.key, Config{}) },
			func() *Session { return NewResponder(a.lookup, outsider.key, Config{}) }, ErrRefused, ErrRefused, false},
		{"stolen proof", func() *Session { return NewInitiator(a.r, docID, a.key, Config{}) }, // a's token, presented by outsider
			func() *Session { return NewResponder(a.lookup, outsider.key, Config{}) }, ErrRefused, ErrRefused, false},
		{"unknown doc", func() *Session { return NewInitiator(a.r, other, a.key, Config{}) },
			func() *Session { return NewResponder(a.lookup, a.key, Config{}) }, ErrRefused, ErrRefused, false},
		{"responder without proof", func() *Session { return NewInitiator(a.r, docID, outsider.key, Config{}) },
			func() *Session { return NewResponder(outsider.lookup, a.key, Config{}) }, ErrRefused, ErrRefused, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, errI, errR := run(t, tt.ini(), tt.res())
			if !errors.Is(errI, tt.errIni) || !errors.Is(errR, tt.errResp) {
				t.Errorf("errors = %v, %v; want %v, %v", errI, errR, tt.errIni, tt.errResp)
			}
			if sent := w.logR; tt.guarded && leaks(w.logI) || !tt.guarded && leaks(sent) {
				t.Errorf("document state sent to a refused peer: %v", w.log)
			}
		})
	}
}

// TestRefusalsLookAlike: an outsider cannot tell an unknown document from a
// document it may not read.
func TestRefusalsLookAlike(t *testing.T) {
	a := newParty(t, "a", access.Write)
	outsider := newParty(t, "outsider", access.None)
	var replies [][]byte
	for _, doc := range []crdt.DocID{docID, {9}} {
		res := NewResponder(a.lookup, outsider.key, Config{})
		out, err := res.Step(Message{Type: TypeHello, Version: Version, Doc: doc, Proof: []byte("junk")})
		if !errors.Is(err, ErrRefused) || len(out) != 1 {
			t.Fatalf("doc %v: out %v, err %v", doc, out, err)
		}
		replies = append(replies, out[0].Encode())
	}
	if !bytes.Equal(replies[0], replies[1]) {
		t.Errorf("refusals differ: %x vs %x", replies[0], replies[1])
	}
}

func TestSessionHostileMessages(t *testing.T) {
	a, b := newParty(t, "a", access.Write), newParty(t, "b", access.Write)
	a.type_(t, "abc")
	hello := Message{Type: TypeHello, Version: Version, Doc: docID, Proof: b.r.Proof()}
	tests := []struct {
		name string
		msgs []Message // sent to a fresh responder for a, from b
		want error
	}{
		{"wrong version", []Message{{Type: TypeHello, Version: 2, Doc: docID, Proof: b.r.Proof()}}, ErrVersion},
		{"batch first", []Message{{Type: TypeBatch, Data: []byte{1}}}, ErrProtocol},
		{"have first", []Message{{Type: TypeHave, Vector: crdt.Vector{}}}, ErrProtocol},
		{"two hellos", []Message{hello, hello}, ErrProtocol},
		{"batch before have", []Message{hello, {Type: TypeBatch, Data: []byte{1}}}, ErrProtocol},
		{"ack without batch", []Message{hello, {Type: TypeHave, Vector: a.r.Vector()}, {Type: TypeAck, Vector: a.r.Vector()}}, ErrProtocol},
		{"garbage batch", []Message{hello, {Type: TypeHave, Vector: a.r.Vector()}, {Type: TypeBatch, Data: []byte("garbage")}}, ErrRejected},
		{"done twice", []Message{hello, {Type: TypeHave, Vector: crdt.Vector{}}, {Type: TypeDone}, {Type: TypeDone}}, ErrProtocol},
		{"batch after done", []Message{hello, {Type: TypeHave, Vector: crdt.Vector{}}, {Type: TypeDone}, {Type: TypeBatch, Data: []byte{1}}}, ErrProtocol},
		{"ack backwards", []Message{hello, {Type: TypeHave, Vector: crdt.Vector{{9}: 5}}, {Type: TypeAck, Vector: crdt.Vector{}}}, ErrProtocol},
		{"ack no progress", []Message{hello, {Type: TypeHave, Vector: crdt.Vector{}}, {Type: TypeAck, Vector: crdt.Vector{}}}, ErrNoProgress},
		{"remote error", []Message{{Type: TypeError, Code: CodeRejected}}, ErrRejected},
		{"remote unknown error", []Message{{Type: TypeError, Code: 200}}, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := NewResponder(a.lookup, b.key, Config{})
			var err error
			for i, m := range tt.msgs {
				if _, err = res.Step(m); err != nil {
					if i != len(tt.msgs)-1 {
						t.Fatalf("message %d (%s) failed early: %v", i, m.Type, err)
					}
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if _, again := res.Step(Message{Type: TypeDone}); !errors.Is(again, ErrClosed) {
				t.Errorf("step after failure: %v, want ErrClosed", again)
			}
		})
	}
}

func TestInitiatorRejectsHelloForOtherDoc(t *testing.T) {
	a, b := newParty(t, "a", access.Write), newParty(t, "b", access.Write)
	ini := NewInitiator(a.r, docID, b.key, Config{})
	ini.Start()
	out, err := ini.Step(Message{Type: TypeHello, Version: Version, Doc: crdt.DocID{1}, Proof: b.r.Proof()})
	if !errors.Is(err, ErrProtocol) || leaks(out) {
		t.Errorf("out %v, err %v", out, err)
	}
}

// TestSessionResumes breaks a session after the first batch and checks a
// new session sends only what the receiver still lacks.
func TestSessionResumes(t *testing.T) {
	a, b := newParty(t, "a", access.Write), newParty(t, "b", access.Write)
	a.type_(t, "first part, ")
	// Session 1: deliver everything up to a's first batch, then cut.
	ini := NewInitiator(a.r, docID, b.key, Config{})
	res := NewResponder(b.lookup, a.key, Config{})
	toR := ini.Start()
	var toI []Message
	for len(toR) > 0 || len(toI) > 0 {
		if len(toR) > 0 {
			m := toR[0]
			toR = toR[1:]
			out, err := res.Step(m)
			if err != nil {
				t.Fatal(err)
			}
			toI = append(toI, out...)
			if m.Type == TypeBatch {
				break // the stream breaks before the ack reaches a
			}
		}
		if len(toI) > 0 {
			m := toI[0]
			toI = toI[1:]
			out, err := ini.Step(m)
			if err != nil {
				t.Fatal(err)
			}
			toR = append(toR, out...)
		}
	}
	if b.r.Text() != "first part, " {
		t.Fatalf("after the cut b has %q", b.r.Text())
	}
	a.type_(t, "second part")
	// Session 2 resumes from b's vector: the batch holds only the new change.
	w, errI, errR := run(t, NewInitiator(a.r, docID, b.key, Config{}), NewResponder(b.lookup, a.key, Config{}))
	if errI != nil || errR != nil {
		t.Fatal(errI, errR)
	}
	if b.r.Text() != "first part, second part" {
		t.Errorf("b has %q", b.r.Text())
	}
	for _, m := range w.log {
		if m.Type == TypeBatch && bytes.Contains(m.Data, []byte("first")) {
			t.Errorf("resumed session resent the first part")
		}
	}
}

// TestSessionConvergesRandom syncs random concurrent edits between two
// replicas and checks they converge. Seeded; the seed is printed.
func TestSessionConvergesRandom(t *testing.T) {
	seed := uint64(20261124)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	a, b := newParty(t, "a", access.Write), newParty(t, "b", access.Write)
	for round := range 30 {
		for _, p := range []*party{a, b} {
			for range rng.IntN(4) {
				p.type_(t, fmt.Sprintf("%s%d ", p.name, rng.IntN(100)))
			}
		}
		ini, res := NewInitiator(a.r, docID, b.key, Config{BatchBytes: 64}), NewResponder(b.lookup, a.key, Config{BatchBytes: 64})
		if rng.IntN(2) == 0 {
			ini, res = NewInitiator(b.r, docID, a.key, Config{BatchBytes: 64}), NewResponder(a.lookup, b.key, Config{BatchBytes: 64})
		}
		if _, errI, errR := run(t, ini, res); errI != nil || errR != nil {
			t.Fatalf("round %d: %v, %v", round, errI, errR)
		}
		if a.r.Text() != b.r.Text() {
			t.Fatalf("round %d: %q vs %q", round, a.r.Text(), b.r.Text())
		}
	}
}

// TestSessionManyBatches: a history larger than a batch goes in several
// batches, each acknowledged before the next (crdt.Doc.EncodeBatch cuts at
// retained signatures, every crdt.SigSpacing ops per author).
func TestSessionManyBatches(t *testing.T) {
	a, b := newParty(t, "a", access.Write), newParty(t, "b", access.Write)
	rng := rand.New(rand.NewPCG(1, 2)) // random letters: repeated text would compress into one small batch
	for range 3 * crdt.SigSpacing / 1000 {
		var chunk strings.Builder
		for range 1000 {
			chunk.WriteByte(byte('a' + rng.IntN(26)))
		}
		a.type_(t, chunk.String())
	}
	b.type_(t, "b's own")
	cfg := Config{BatchBytes: 1 << 10}
	ini := NewInitiator(a.r, docID, b.key, cfg)
	res := NewResponder(b.lookup, a.key, cfg)
	w, errI, errR := run(t, ini, res)
	if errI != nil || errR != nil {
		t.Fatal(errI, errR)
	}
	if a.r.Text() != b.r.Text() {
		t.Fatal("texts differ")
	}
	batches := 0
	for _, m := range w.logI {
		if m.Type == TypeBatch {
			batches++
		}
	}
	if batches < 2 {
		t.Errorf("initiator sent %d batches, want several", batches)
	}
	t.Logf("initiator sent %d batches", batches)
}
