package app

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/p2ptest"
	"github.com/quire-dev/quire/p2p/syncproto"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// netPeer opens and runs a networked peer on loopback.
func netPeer(t *testing.T, connect ...string) (*Peer, *P2P) {
	t.Helper()
	return runNetPeer(t, NetConfig{Listen: loopback, Connect: connect, Node: p2p.Config{SyncInterval: time.Second}})
}

// runNetPeer opens a peer on a network configured by cfg and runs it
// until the test ends.
func runNetPeer(t *testing.T, cfg NetConfig) (*Peer, *P2P) {
	t.Helper()
	nw := NewNetwork(cfg)
	p, err := Open(Config{Dir: t.TempDir(), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		p.Close()
	})
	select {
	case <-nw.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return p, nw
}

// waitText waits until d's text satisfies ok, reading d's events, or fails
// after timeout.
func waitText(t *testing.T, d *Doc, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	events, cancel := d.Subscribe()
	defer cancel()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s := text(t, d)
		if ok(s) {
			return s
		}
		select {
		case <-events:
		case <-deadline.C:
			t.Fatalf("text %q never satisfied the condition", s)
		}
	}
}

// pair is an owner and a writer sharing one document over loopback.
type pair struct {
	a, b   *Peer
	na     *P2P
	id     DocID
	da, db *Doc
}

// sharePair starts an owner a with a document holding text, invites a
// second peer b to write, and waits until b has caught up.
func sharePair(t *testing.T, text string) pair {
	t.Helper()
	a, na := netPeer(t)
	id, err := a.Create("")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Open(id)
	if err := da.Edit(0, 0, text); err != nil {
		t.Fatal(err)
	}
	link, err := da.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := netPeer(t, na.Addrs()...)
	if _, err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	db, err := b.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, db, 10*time.Second, func(s string) bool { return s == text })
	return pair{a: a, b: b, na: na, id: id, da: da, db: db}
}

func TestTwoPeersEditLive(t *testing.T) {
	p := sharePair(t, "# Plan\n") // catch-up brings the existing text
	da, db := p.da, p.db
	// Live edits both ways, concurrently.
	if err := db.Edit(7, 0, "from b\n"); err != nil {
		t.Fatal(err)
	}
	if err := da.Edit(7, 0, "from a\n"); err != nil {
		t.Fatal(err)
	}
	want := waitText(t, da, 10*time.Second, func(s string) bool { return strings.Count(s, "from") == 2 })
	waitText(t, db, 10*time.Second, func(s string) bool { return s == want })
	if !strings.HasPrefix(want, "# Plan\n") {
		t.Errorf("converged text %q lost the heading", want)
	}
}

// TestRevokedPeerIsCutOff checks that after the owner revokes a writer,
// the writer's new edits never reach the owner, and that an outsider
// without a capability gets nothing.
func TestRevokedPeerIsCutOff(t *testing.T) {
	p := sharePair(t, "secret plan\n")
	b, na, id, da, db := p.b, p.na, p.id, p.da, p.db

	start := time.Now()
	if err := da.RevokeKey(b.Key()); err != nil {
		t.Fatal(err)
	}
	if err := db.Edit(0, 0, "vandal "); err != nil && !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	// a refuses to sync with b from now on, and so never gets b's edit.
	bid := peerIDOf(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res := na.Node().SyncWith(ctx, id, bid); res.Err == nil {
		t.Fatal("owner synced with a revoked peer")
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("cut-off took %v", elapsed)
	}
	if s := text(t, da); strings.Contains(s, "vandal") {
		t.Errorf("revoked writer's edit applied: %q", s)
	}
	if len(da.Status().Peers) > 0 {
		for _, ps := range da.Status().Peers {
			if ps.Peer == bid.String() {
				t.Errorf("revoked peer still listed as syncing: %+v", ps)
			}
		}
	}
}

// TestOutsiderLearnsNothing: an outsider that forged a document with the
// same id (it is that copy's root) and connects to a member gets nothing:
// the member never opens a session with it (which would name the document
// and show its proof), the outsider's own app refuses to open one, and a
// hostile outsider's session is refused before anything is sent.
func TestOutsiderLearnsNothing(t *testing.T) {
	a, na := netPeer(t)
	id, _ := a.Create("")
	da, _ := a.Open(id)
	if err := da.Edit(0, 0, "secret plan\n"); err != nil {
		t.Fatal(err)
	}
	nw := NewNetwork(NetConfig{Listen: loopback})
	c, err := Open(Config{Dir: t.TempDir(), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	forgeDoc(t, c, id)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	<-nw.Ready()
	dc, err := c.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if err := nw.Connect(sctx, na.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	// Neither side opens a session with a device it does not know.
	if res := na.Node().SyncWith(sctx, id, nw.Node().ID()); !errors.Is(res.Err, p2p.ErrUnknownPeer) {
		t.Errorf("member's session with the outsider: %v, want ErrUnknownPeer", res.Err)
	}
	if res := nw.Node().SyncWith(sctx, id, na.Node().ID()); !errors.Is(res.Err, p2p.ErrUnknownPeer) {
		t.Errorf("outsider's app opened a session with a stranger: %v, want ErrUnknownPeer", res.Err)
	}
	// A hostile outsider opens one anyway, with its forged proof: refused.
	key := p2ptest.Key("outsider")
	forged := p2ptest.NewReplica(id, access.PublicKeyOf(key), key, p2ptest.Grant(id, key, key, access.Write), time.Now)
	h, err := p2ptest.StartPeer(p2p.Config{PrivateKey: key}, id, forged, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Node.Host().Connect(sctx, peer.AddrInfo{ID: na.Node().ID(), Addrs: na.Node().Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	if res := h.Node.SyncWith(sctx, id, na.Node().ID()); !errors.Is(res.Err, syncproto.ErrRefused) {
		t.Errorf("hostile outsider's sync: %v, want ErrRefused", res.Err)
	}
	if s := text(t, dc); s != "" {
		t.Errorf("outsider holds %q", s)
	}
	if s := forged.Text(); s != "" {
		t.Errorf("hostile outsider holds %q", s)
	}
}

// TestJoinerFindsAnyMember: a device that has just joined knows only its
// proof's chain, so it may sync with any member it meets (the inviter may
// be away); once it knows a member, it syncs only with those it knows.
func TestJoinerFindsAnyMember(t *testing.T) {
	owner, _ := netPeer(t)
	id, _ := owner.Create("")
	do, _ := owner.Open(id)
	if err := do.Edit(0, 0, "plan\n"); err != nil {
		t.Fatal(err)
	}
	link, err := do.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stranger := p2ptest.Key("stranger")
	ownerKey := owner.Key()
	joiner, _ := netPeer(t)
	if _, err := joiner.Join(link); err != nil {
		t.Fatal(err)
	}
	dj, err := joiner.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer dj.Close()
	m := dj.a.access
	if !m.maySync(ownerKey) || !m.maySync(access.PublicKeyOf(stranger)) {
		t.Errorf("a fresh joiner may sync with the root %v, with an unknown device %v; want both", m.maySync(ownerKey), m.maySync(access.PublicKeyOf(stranger)))
	}
	if do.a.access.maySync(access.PublicKeyOf(stranger)) {
		t.Error("the root may sync with an unknown device")
	}
	// The joiner meets a member outside its chain: from then on it keeps
	// to the devices it knows.
	other := p2ptest.Key("other member")
	m.learn(p2ptest.Grant(id, owner.PrivateKey(), other, access.Read))
	if m.maySync(access.PublicKeyOf(stranger)) {
		t.Error("a joiner that knows a member may still sync with an unknown device")
	}
	if !m.maySync(access.PublicKeyOf(other)) || !m.maySync(ownerKey) {
		t.Error("a joiner may not sync with members it knows")
	}
}

func peerIDOf(t *testing.T, p *Peer) peer.ID {
	t.Helper()
	pid, err := peer.IDFromPrivateKey(mustLibp2pKey(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func mustLibp2pKey(t *testing.T, p *Peer) crypto.PrivKey {
	t.Helper()
	k, err := crypto.UnmarshalEd25519PrivateKey(p.PrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCatchUpAfterRestart checks that what a peer stored (signatures
// included) is what it serves after a restart: a fresh peer verifies and
// takes the whole history from it.
func TestCatchUpAfterRestart(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := a.Create("")
	da, _ := a.Open(id)
	for i := range 50 {
		if err := da.Edit(i, 0, "x"); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			da.Flush()
		}
	}
	link, _ := da.Invite(access.Read, time.Now().Add(time.Hour))
	want := text(t, da)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	nw := NewNetwork(NetConfig{Listen: loopback})
	a2, err := Open(Config{Dir: dir, Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a2.Run(ctx) }()
	defer func() { cancel(); <-done; a2.Close() }()
	<-nw.Ready()
	da2, _ := a2.Open(id)
	defer da2.Close()

	b, _ := netPeer(t, nw.Addrs()...)
	if _, err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	db, _ := b.Open(id)
	waitText(t, db, 10*time.Second, func(s string) bool { return s == want })
}

// TestPresenceAcrossPeers: a cursor set on one peer shows on the other
// with the sender's name and colour, at the same character.
func TestPresenceAcrossPeers(t *testing.T) {
	p := sharePair(t, "hello world")
	if err := p.a.SetIdentity("Ada", "#112233"); err != nil {
		t.Fatal(err)
	}
	da, db := p.da, p.db

	events, cancel := db.Subscribe()
	defer cancel()
	deadline := time.After(10 * time.Second)
	for {
		da.SetCursor(6, 11) // "world" selected
		ps := db.Presence()
		if len(ps) == 1 && ps[0].Name == "Ada" && ps[0].Colour == "#112233" && ps[0].Anchor == 6 && ps[0].Head == 11 {
			break
		}
		select {
		case <-events:
		case <-time.After(200 * time.Millisecond): // presence is ephemeral: resend, as a moving cursor would
		case <-deadline:
			t.Fatalf("presence on b: %+v", ps)
		}
	}
	// b types before the selection: a's selection moves with the text.
	if err := db.Edit(0, 0, ">> "); err != nil {
		t.Fatal(err)
	}
	if ps := db.Presence(); ps[0].Anchor != 9 || ps[0].Head != 14 {
		t.Errorf("after typing before it, selection is %d..%d, want 9..14", ps[0].Anchor, ps[0].Head)
	}
}

// TestUnauthorizedChangeQuarantined: a live change by an author without a
// capability is rejected before it is applied or forwarded, and kept with
// the reason.
func TestUnauthorizedChangeQuarantined(t *testing.T) {
	a := openPeer(t, t.TempDir())
	id, _ := a.Create("")
	da, _ := a.Open(id)
	da.Edit(0, 0, "mine")
	da.Flush()

	// A stranger roots its own capability for the same id and edits.
	s, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forgeDoc(t, s, id)
	ds, _ := s.Open(id)
	ds.Edit(0, 0, "forged")
	var msg []byte
	ds.a.do(func() {
		ds.a.seal()
		cs := ds.a.doc.ChangesSince(nil)
		msg = ds.a.encodeLive(cs[0])
	})
	if _, v, err := da.a.validateLive(msg); v != Reject || !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("stranger's change: verdict %v, err %v; want Reject, ErrUnauthorized", v, err)
	}
	q, err := a.Quarantined(id)
	if err != nil || len(q) != 1 || q[0].Author != ds.a.doc.Author() || !strings.Contains(q[0].Reason, "unauthorized") {
		t.Fatalf("quarantine = %+v, %v", q, err)
	}
	if s := text(t, da); s != "mine" {
		t.Errorf("text = %q", s)
	}
	// Garbage is rejected with a precise error and nothing is kept.
	for _, bad := range [][]byte{nil, {9}, {msgChange, 200}, append([]byte{msgChange, 0}, msg[5:]...)} {
		if _, v, err := da.a.validateLive(bad); v != Reject || err == nil {
			t.Errorf("validateLive(%x) = %v, %v", bad, v, err)
		}
	}
}

// TestLiveRightAfterJoin: the first edits after a peer joins travel both
// ways at once, not at the next periodic sync (30 s): gossipsub grafts a
// newly admitted peer only at its next heartbeat, and the first message
// published before that would otherwise reach no one.
func TestLiveRightAfterJoin(t *testing.T) {
	mk := func(connect ...string) (*Peer, *P2P) {
		nw := NewNetwork(NetConfig{Listen: loopback, Connect: connect}) // default sync interval
		p, err := Open(Config{Dir: t.TempDir(), Network: nw})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; p.Close() })
		<-nw.Ready()
		return p, nw
	}
	a, na := mk()
	id, _ := a.Create("")
	da, _ := a.Open(id)
	da.Edit(0, 0, "x")
	link, _ := da.Invite(access.Write, time.Now().Add(time.Hour))
	b, _ := mk(na.Addrs()...)
	if _, err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	db, _ := b.Open(id)
	waitText(t, db, 10*time.Second, func(s string) bool { return s == "x" })
	if err := db.Edit(1, 0, "y"); err != nil {
		t.Fatal(err)
	}
	waitText(t, da, 10*time.Second, func(s string) bool { return s == "xy" })
	if err := da.Edit(2, 0, "z"); err != nil {
		t.Fatal(err)
	}
	waitText(t, db, 10*time.Second, func(s string) bool { return s == "xyz" })
}

// forgeDoc makes p the root of its own document with another document's
// id, as an outsider's modified client could: app.Create binds new ids to
// their creator's key, so a forger skips it and issues the root token
// itself.
func forgeDoc(t *testing.T, p *Peer, id DocID) {
	t.Helper()
	now := time.Now()
	root, err := access.Issue(nil, p.key, access.Grant{Audience: p.self, Doc: access.DocID(id), Rights: access.Admin,
		NotBefore: now.Add(-time.Minute), Expiry: now.Add(time.Hour)}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.db.Create(id, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.putProof(id, root); err != nil {
		t.Fatal(err)
	}
}
