package app

import (
	"errors"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// TestCutDecidesAlikeInAnyOrder: a writer's change made after the version
// at which the owner revoked it is rejected by a replica that learns the
// revocation first, and removed by one that applied the change before it
// learned the revocation; both end with the same text, and the second
// keeps the removed change in quarantine.
func TestCutDecidesAlikeInAnyOrder(t *testing.T) {
	owner := openPeer(t, t.TempDir())
	id, _ := owner.Create("")
	od, _ := owner.Open(id)
	od.Edit(0, 0, "base")
	join := func() (*Peer, *Doc) {
		p := openPeer(t, t.TempDir())
		link, _ := od.Invite(access.Write, time.Now().Add(time.Hour))
		if _, err := p.Join(link); err != nil {
			t.Fatal(err)
		}
		d, _ := p.Open(id)
		return p, d
	}
	writer, wd := join()
	by, bd := join()
	changes := func(d *Doc) (cs []*crdt.Change) {
		d.a.do(func() { d.a.seal(); cs = d.a.doc.ChangesSince(nil) })
		return cs
	}
	proof := func(p *Peer) *access.Token { tok, _ := p.proof(id); return tok }
	for _, d := range []*Doc{od, wd, bd} {
		for _, p := range []*Peer{owner, writer, by} {
			d.a.access.learn(proof(p))
		}
	}
	apply := func(d *Doc, cs ...*crdt.Change) error {
		var err error
		if e := d.a.do(func() { err = d.a.applyRemote(cs) }); e != nil {
			t.Fatal(e)
		}
		return err
	}
	base := changes(od)
	if err := apply(wd, base...); err != nil {
		t.Fatal(err)
	}
	if err := apply(bd, base...); err != nil {
		t.Fatal(err)
	}
	wd.Edit(4, 0, " vandalised")
	w1 := changes(wd)[len(base):]

	// The bystander applies the writer's change first.
	if err := apply(bd, w1...); err != nil {
		t.Fatal(err)
	}
	if got := text(t, bd); got != "base vandalised" {
		t.Fatalf("bystander before the revocation: %q", got)
	}
	// The owner revokes the writer (at "base"), then receives its change.
	if err := od.RevokeKey(writer.Key()); err != nil {
		t.Fatal(err)
	}
	if err := apply(od, w1...); !errors.Is(err, access.ErrRevoked) {
		t.Errorf("owner applying the change after revoking: %v, want ErrRevoked", err)
	}
	// The bystander learns the revocation afterwards.
	_, revs := od.a.access.records()
	events, cancel := bd.Subscribe()
	defer cancel()
	bd.a.acceptRecords(nil, revs)
	deadline := time.After(10 * time.Second)
	for text(t, bd) != "base" {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("bystander still holds %q", text(t, bd))
		}
	}
	if got, want := text(t, bd), text(t, od); got != want {
		t.Errorf("bystander %q, owner %q", got, want)
	}
	q, _ := by.Quarantined(id)
	if len(q) != 1 || q[0].Change != w1[0].Hash {
		t.Errorf("bystander's quarantine: %+v", q)
	}
	// And after a restart the store's copy of the change stays out.
	bd.Close()
	bd2, err := by.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, bd2); got != "base" {
		t.Errorf("after reopening, bystander holds %q", got)
	}
}

func TestCutEncoding(t *testing.T) {
	owner := openPeer(t, t.TempDir())
	id, _ := owner.Create("")
	od, _ := owner.Open(id)
	od.Edit(0, 0, "x")
	if err := od.RevokeKey(access.Key{1}); err != nil {
		t.Fatal(err)
	}
	_, revs := od.a.access.records()
	enc := revs[0].encode()
	c, err := decodeCut(enc)
	if err != nil {
		t.Fatal(err)
	}
	m := od.a.access
	if err := c.check(m.doc, m.root); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if string(c.encode()) != string(enc) {
		t.Error("re-encoding differs")
	}
	// Moving the cut to other heads breaks its signature.
	c.heads = append(c.heads, crdt.Hash{1})
	if err := c.check(m.doc, m.root); !errors.Is(err, access.ErrBadSignature) {
		t.Errorf("moved cut: %v, want ErrBadSignature", err)
	}
	for i := range enc {
		if _, err := decodeCut(enc[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	if _, err := decodeCut(append(enc, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}
