package app

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// openPeer opens an offline peer in dir, closed at the end of the test.
func openPeer(t *testing.T, dir string) *Peer {
	t.Helper()
	p, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func text(t *testing.T, d *Doc) string {
	t.Helper()
	s, _, err := d.Text()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEditsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	p := openPeer(t, dir)
	id, err := p.Create("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range []struct {
		pos, del int
		ins      string
	}{{0, 0, "# Shopping\n"}, {11, 0, "milx"}, {14, 1, "k"}, {15, 0, "\nbröd ✓"}} {
		if err := d.Edit(e.pos, e.del, e.ins); err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
	}
	want := "# Shopping\nmilk\nbröd ✓"
	if got := text(t, d); got != want {
		t.Fatalf("text = %q, want %q", got, want)
	}
	if err := p.Close(); err != nil { // seals and stores what was typed
		t.Fatal(err)
	}
	if err := d.Edit(0, 0, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("edit after close: %v, want ErrClosed", err)
	}

	p2 := openPeer(t, dir)
	if last, ok := p2.LastOpened(); !ok || last != id {
		t.Errorf("LastOpened = %v %v, want %v", last, ok, id)
	}
	d2, err := p2.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, d2); got != want {
		t.Errorf("after restart text = %q, want %q", got, want)
	}
	list, err := p2.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Title != "Shopping" || list[0].Rights != access.Admin {
		t.Errorf("list = %+v, want one admin document titled Shopping", list)
	}
}

func TestEditErrorsKeepText(t *testing.T) {
	p := openPeer(t, t.TempDir())
	id, _ := p.Create("notes")
	d, err := p.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Edit(0, 0, "abc"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pos, del int
		ins      string
		want     error
	}{
		{4, 0, "x", crdt.ErrPosition},
		{1, 5, "", crdt.ErrPosition},
		{-1, 0, "x", crdt.ErrPosition},
		{0, 0, "\xff", crdt.ErrInvalid},
		{0, 0, string(make([]rune, MaxEditLen+1)), ErrTooLarge},
	} {
		if err := d.Edit(c.pos, c.del, c.ins); !errors.Is(err, c.want) {
			t.Errorf("Edit(%d, %d, %.10q) = %v, want %v", c.pos, c.del, c.ins, err, c.want)
		}
	}
	if got := text(t, d); got != "abc" {
		t.Errorf("text after bad edits = %q, want abc", got)
	}
}

// TestSubscribersSeeEveryEdit checks that two handles of one document see
// each other's edits as events, and that a reader that never reads gets a
// resync instead of blocking the writer.
func TestSubscribersSeeEveryEdit(t *testing.T) {
	p := openPeer(t, t.TempDir())
	id, _ := p.Create("")
	a, _ := p.Open(id)
	b, _ := p.Open(id)
	events, cancel := b.Subscribe()
	defer cancel()
	stalled, _ := b.Subscribe() // never read
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mirror := []rune{}
	n := 2 * subscriberQueue
	for range n {
		pos := rng.IntN(len(mirror) + 1)
		del := 0
		if pos < len(mirror) && rng.IntN(3) == 0 {
			del = 1 + rng.IntN(len(mirror)-pos)
		}
		if err := a.Edit(pos, del, "xy"[:1+rng.IntN(2)]); err != nil {
			t.Fatal(err)
		}
		e := <-events
		for e.Kind == EventStatus {
			e = <-events
		}
		if e.Kind != EventEdits || !e.Local {
			t.Fatalf("event %+v, want local edits", e)
		}
		for _, ed := range e.Edits {
			mirror = append(mirror[:ed.Pos], append([]rune(ed.Text), mirror[ed.Pos+ed.Del:]...)...)
		}
	}
	if got := text(t, b); got != string(mirror) {
		t.Errorf("mirror built from events = %q, text = %q", string(mirror), got)
	}
	resync := false
	for len(stalled) > 0 {
		if e := <-stalled; e.Kind == EventResync {
			resync = true
		}
	}
	if err := a.Edit(0, 0, "z"); err != nil {
		t.Fatal(err)
	}
	if e := <-stalled; e.Kind == EventResync {
		resync = true
	}
	if !resync {
		t.Error("a subscriber that fell behind got no EventResync")
	}
}

func TestInviteJoinAndRights(t *testing.T) {
	owner := openPeer(t, t.TempDir())
	id, _ := owner.Create("plan")
	d, _ := owner.Open(id)
	readLink, err := d.Invite(access.Read, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reader := openPeer(t, t.TempDir())
	if got, err := reader.Join(readLink); err != nil || got != id {
		t.Fatalf("Join = %v, %v", got, err)
	}
	rd, err := reader.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if r := rd.Rights(); r != access.Read {
		t.Errorf("reader rights = %v", r)
	}
	if err := rd.Edit(0, 0, "x"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("reader edit: %v, want ErrReadOnly", err)
	}
	writeLink, _ := d.Invite(access.Write, time.Now().Add(time.Hour))
	if _, err := reader.Join(writeLink); err != nil {
		t.Fatal(err)
	}
	if r := rd.Rights(); r != access.Write {
		t.Errorf("after joining with a write invite, rights = %v", r)
	}
	if err := rd.Edit(0, 0, "x"); err != nil {
		t.Errorf("writer edit: %v", err)
	}
	if _, err := reader.Join("quire://join/garbage"); !errors.Is(err, access.ErrMalformed) {
		t.Errorf("Join(garbage) = %v, want ErrMalformed", err)
	}
}

// TestAdmission checks the capability rule for changes: an author with a
// write proof is admitted, one without any proof or with only read is
// rejected, and a revoked one is rejected after the revocation.
func TestAdmission(t *testing.T) {
	owner := openPeer(t, t.TempDir())
	id, _ := owner.Create("")
	od, _ := owner.Open(id)
	if err := od.Edit(0, 0, "base "); err != nil {
		t.Fatal(err)
	}
	writer := openPeer(t, t.TempDir())
	link, _ := od.Invite(access.Write, time.Now().Add(time.Hour))
	if _, err := writer.Join(link); err != nil {
		t.Fatal(err)
	}
	wd, _ := writer.Open(id)
	changes := func(d *Doc) (cs []*crdt.Change) {
		if err := d.a.do(func() { d.a.seal(); cs = d.a.doc.ChangesSince(nil) }); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	// w0: written before the writer saw anything of the owner's.
	if err := wd.Edit(0, 0, "early "); err != nil {
		t.Fatal(err)
	}
	w0 := changes(wd)[0]
	m := od.a.access
	if err := m.admit(w0, od.a.doc); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("change by an unknown author admitted: %v", err)
	}
	wproof, _ := writer.proof(id)
	if _, err := m.checkPeer(writer.Key(), wproof.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := m.admit(w0, od.a.doc); err != nil {
		t.Fatalf("change by a writer rejected: %v", err)
	}
	apply := func(d *Doc, cs ...*crdt.Change) {
		t.Helper()
		var err error
		if e := d.a.do(func() { _, err = d.a.doc.Apply(cs...) }); e != nil || err != nil {
			t.Fatal(e, err)
		}
	}
	apply(od, w0) // the owner receives w0 before it revokes
	// w2: the writer's next change, still without the owner's text.
	if err := wd.Edit(0, 0, "more "); err != nil {
		t.Fatal(err)
	}
	w2 := changes(wd)[1]
	// w1: written after the writer received the owner's text.
	oproof, _ := owner.proof(id)
	wd.a.access.learn(oproof)
	apply(wd, changes(od)...)
	if err := wd.Edit(0, 0, "late "); err != nil {
		t.Fatal(err)
	}
	all := changes(wd)
	w1 := all[len(all)-1]

	// The owner revokes the writer at its version ("base " and w0).
	if err := od.RevokeKey(writer.Key()); err != nil {
		t.Fatal(err)
	}
	if err := m.admit(w0, od.a.doc); err != nil {
		t.Errorf("change in the revocation's past: %v, want it kept", err)
	}
	if err := m.admit(w2, od.a.doc); err != nil {
		t.Errorf("change concurrent with the revocation: %v, want it kept", err)
	}
	if err := m.admit(w1, od.a.doc); !errors.Is(err, errUndecidable) {
		t.Errorf("change whose parent w2 is missing: %v, want errUndecidable", err)
	}
	apply(od, w2)
	if err := m.admit(w1, od.a.doc); !errors.Is(err, access.ErrRevoked) {
		t.Errorf("change made after the revocation point: %v, want ErrRevoked", err)
	}
	if err := m.admit(w1, nil); !errors.Is(err, errUndecidable) {
		t.Errorf("validator without the document: %v, want errUndecidable", err)
	}
	if _, err := m.checkPeer(writer.Key(), wproof.Encode()); !errors.Is(err, access.ErrRevoked) {
		t.Fatalf("revoked peer's proof: %v, want ErrRevoked", err)
	}
	// The revocation survives a restart.
	od.Close()
	m2, err := owner.loadMembership(id)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.revoked(writer.Key()) {
		t.Error("revocation lost on reload")
	}
}
