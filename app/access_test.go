package app

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// sealedChanges returns every change of d, sealing first.
func sealedChanges(t *testing.T, d *Doc) (cs []*crdt.Change) {
	t.Helper()
	if err := d.a.do(func() { d.a.seal(); cs = d.a.doc.ChangesSince(nil) }); err != nil {
		t.Fatal(err)
	}
	return cs
}

// applyTo applies cs to d's document.
func applyTo(t *testing.T, d *Doc, cs ...*crdt.Change) {
	t.Helper()
	var err error
	if e := d.a.do(func() { _, err = d.a.doc.Apply(cs...) }); e != nil || err != nil {
		t.Fatal(e, err)
	}
}

// TestRevokeInviteCutsOffJoiners checks that revoking an invite link
// revokes what came from it, on the replica of the owner who revokes: every
// device that joined through the link is refused reads at once and its
// changes made after the revocation are rejected, while its concurrent
// change is kept and a device that joined through another link is
// untouched.
func TestRevokeInviteCutsOffJoiners(t *testing.T) {
	owner := openPeer(t, t.TempDir())
	id, _ := owner.Create("")
	od, _ := owner.Open(id)
	if err := od.Edit(0, 0, "base "); err != nil {
		t.Fatal(err)
	}
	link, err := od.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := od.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m := od.a.access
	join := func(link string) (*Peer, *Doc) {
		t.Helper()
		p := openPeer(t, t.TempDir())
		if _, err := p.Join(link); err != nil {
			t.Fatal(err)
		}
		d, err := p.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := p.proof(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.checkPeer(p.Key(), proof.Encode()); err != nil { // as a sync session would
			t.Fatalf("joiner refused before the revocation: %v", err)
		}
		return p, d
	}
	writer, wd := join(link)
	second, _ := join(link)
	control, cd := join(other)

	// The writer's first edit is made without the owner's text, so it is
	// concurrent with the revocation; its second, made once it has the
	// text the owner revoked at, comes after it.
	if err := wd.Edit(0, 0, "concurrent "); err != nil {
		t.Fatal(err)
	}
	concurrent := sealedChanges(t, wd)
	if err := od.RevokeInvite(link); err != nil {
		t.Fatal(err)
	}
	oproof, _ := owner.proof(id)
	wd.a.access.learn(oproof)
	applyTo(t, wd, sealedChanges(t, od)...)
	if err := wd.Edit(0, 0, "late "); err != nil {
		t.Fatal(err)
	}
	all := sealedChanges(t, wd)
	late := all[len(all)-1]
	kept := 0
	for _, c := range concurrent {
		if c.Author != crdt.Author(writer.Key()) {
			continue
		}
		kept++
		if err := m.admit(c, od.a.doc); err != nil {
			t.Errorf("joiner's change concurrent with the revocation: %v, want it kept", err)
		}
		applyTo(t, od, c)
	}
	if kept == 0 {
		t.Fatal("the writer made no concurrent change")
	}
	if late.Author != crdt.Author(writer.Key()) {
		t.Fatal("the last change is not the writer's")
	}
	if err := m.admit(late, od.a.doc); !errors.Is(err, access.ErrRevoked) || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("joiner's change after the revocation: %v, want ErrUnauthorized and ErrRevoked", err)
	}
	for _, p := range []*Peer{writer, second} {
		proof, _ := p.proof(id)
		if _, err := m.checkPeer(p.Key(), proof.Encode()); !errors.Is(err, access.ErrRevoked) {
			t.Errorf("joiner's session after the revocation: %v, want ErrRevoked", err)
		}
		if !m.revoked(p.Key()) {
			t.Errorf("joiner %s not listed as revoked", access.Fingerprint(p.self[:]))
		}
	}
	cproof, _ := control.proof(id)
	if _, err := m.checkPeer(control.Key(), cproof.Encode()); err != nil {
		t.Errorf("device from another invite refused: %v", err)
	}
	if err := cd.Edit(0, 0, "ok "); err != nil {
		t.Errorf("device from another invite cannot edit: %v", err)
	}
	for _, mem := range od.Members() {
		want := mem.Key == writer.Key() || mem.Key == second.Key()
		if mem.Revoked != want {
			t.Errorf("member %s: Revoked %v, want %v", mem.Fingerprint, mem.Revoked, want)
		}
	}
}

// TestInviteAccessExpires checks that access taken from an invite expires
// with the invite: the joined device may no longer edit or read by its
// clock, and the owner refuses its sessions by the owner's.
func TestInviteAccessExpires(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	open := func() *Peer {
		p, err := Open(Config{Dir: t.TempDir(), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	owner := open()
	id, _ := owner.Create("")
	od, _ := owner.Open(id)
	expiry := clock().Add(time.Hour)
	link, err := od.Invite(access.Write, expiry)
	if err != nil {
		t.Fatal(err)
	}
	writer := open()
	if _, err := writer.Join(link); err != nil {
		t.Fatal(err)
	}
	wd, _ := writer.Open(id)
	proof, _ := writer.proof(id)
	if r := wd.Rights(); r != access.Write {
		t.Fatalf("rights before expiry: %v, want %v", r, access.Write)
	}
	if _, err := od.a.access.checkPeer(writer.Key(), proof.Encode()); err != nil {
		t.Fatalf("session before expiry: %v", err)
	}
	if err := wd.Edit(0, 0, "x"); err != nil {
		t.Fatalf("edit before expiry: %v", err)
	}
	// Within the skew the token still holds; past it, it does not.
	now.Store(expiry.Add(access.Skew * time.Second).UnixNano())
	if r := wd.Rights(); r != access.Write {
		t.Errorf("rights within the skew: %v, want %v", r, access.Write)
	}
	now.Store(expiry.Add((access.Skew + 1) * time.Second).UnixNano())
	if r := wd.Rights(); r != access.None {
		t.Errorf("rights after the invite expired: %v, want none", r)
	}
	if err := wd.Edit(0, 0, "y"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("edit after the invite expired: %v, want ErrReadOnly", err)
	}
	if _, err := od.a.access.checkPeer(writer.Key(), proof.Encode()); !errors.Is(err, access.ErrExpired) {
		t.Errorf("session after the invite expired: %v, want ErrExpired", err)
	}
}
