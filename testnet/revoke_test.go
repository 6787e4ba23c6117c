package testnet

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/syncproto"
)

// livePeer is an app.Peer on real libp2p over loopback TCP.
type livePeer struct {
	name string
	dir  string
	p    *app.Peer
	nw   *app.P2P
	stop func()
}

func startLive(t *testing.T, name, dir string, connect ...string) *livePeer {
	t.Helper()
	nw := app.NewNetwork(app.NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Connect: connect,
		Node: p2p.Config{SyncInterval: time.Second}})
	p, err := app.Open(app.Config{Dir: dir, Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	lp := &livePeer{name: name, dir: dir, p: p, nw: nw}
	var once bool
	lp.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
	t.Cleanup(lp.stop)
	select {
	case <-nw.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return lp
}

func (lp *livePeer) id() peer.ID { return lp.nw.Node().ID() }

// waitFor polls cond (state that raises no event, such as membership)
// until it holds or the deadline passes.
func waitFor(t *testing.T, deadline time.Time, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within the deadline", what)
		}
		<-tick.C
	}
}

// waitText waits, on d's events, until its text satisfies ok.
func waitText(t *testing.T, d *app.Doc, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	events, cancel := d.Subscribe()
	defer cancel()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s, _, err := d.Text()
		if err != nil {
			t.Fatal(err)
		}
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

func revokedIn(d *app.Doc, k access.Key) bool {
	for _, m := range d.Members() {
		if m.Key == k {
			return m.Revoked
		}
	}
	return false
}

func listed(d *app.Doc, id peer.ID) bool {
	for _, ps := range d.Status().Peers {
		if ps.Peer == id.String() {
			return true
		}
	}
	return false
}

// sharedPlan starts the owner of a new document holding "plan\n" under
// base and returns it, the document's id, the document open, and a write
// invite to it.
func sharedPlan(t *testing.T, base string) (*livePeer, app.DocID, *app.Doc, string) {
	t.Helper()
	owner := startLive(t, "owner", filepath.Join(base, "owner"))
	id, err := owner.p.Create("")
	if err != nil {
		t.Fatal(err)
	}
	da, err := owner.p.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := da.Edit(0, 0, "plan\n"); err != nil {
		t.Fatal(err)
	}
	link, err := da.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return owner, id, da, link
}

// TestRevokeCutsOffEveryPeer: owner, revoked writer and bystander on
// loopback libp2p, all connected. Once the owner revokes the writer, the
// owner (within 1 s) and the bystander hold the revocation and refuse the
// writer's sync sessions; the writer gets no later edit; and a change the
// writer made offline, brought back after the revocation, is taken by
// neither.
func TestRevokeCutsOffEveryPeer(t *testing.T) {
	base := t.TempDir()
	owner, id, da, link := sharedPlan(t, base)
	defer da.Close()

	writer := startLive(t, "writer", filepath.Join(base, "writer"), owner.nw.Addrs()...)
	bystander := startLive(t, "bystander", filepath.Join(base, "bystander"), append(owner.nw.Addrs(), writer.nw.Addrs()...)...)
	var docs []*app.Doc
	for _, lp := range []*livePeer{writer, bystander} {
		if _, err := lp.p.Join(link); err != nil {
			t.Fatal(err)
		}
		d, err := lp.p.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	dw, dc := docs[0], docs[1]
	// The writer's edit reaches everyone: it was a full member.
	waitText(t, dw, 10*time.Second, func(s string) bool { return s == "plan\n" })
	if err := dw.Edit(5, 0, "by writer\n"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*app.Doc{da, dc} {
		waitText(t, d, 10*time.Second, func(s string) bool { return s == "plan\nby writer\n" })
	}

	start := time.Now()
	if err := da.RevokeKey(writer.p.Key()); err != nil {
		t.Fatal(err)
	}
	// The owner cuts the writer off at once; the bystander must too within
	// 1 s (issue 6).
	bound := time.Second
	for _, c := range []struct {
		name  string
		lp    *livePeer
		d     *app.Doc
		bound time.Duration
	}{{"owner", owner, da, time.Second}, {"bystander", bystander, dc, bound}} {
		deadline := start.Add(c.bound)
		waitFor(t, deadline, c.name+" holds the revocation", func() bool { return revokedIn(c.d, writer.p.Key()) })
		held := time.Since(start)
		ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
		res := writer.nw.Node().SyncWith(ctx, id, c.lp.id())
		cancel()
		if res.Err == nil {
			t.Errorf("the %s synced with the revoked writer", c.name)
		}
		t.Logf("%s: holds the revocation after %v; writer's session: %v; still lists the writer as a peer: %v",
			c.name, held.Round(time.Millisecond), res.Err, listed(c.d, writer.id()))
	}

	// Later edits do not reach the writer.
	if err := da.Edit(0, 0, "after\n"); err != nil {
		t.Fatal(err)
	}
	waitText(t, dc, 10*time.Second, func(s string) bool { return strings.HasPrefix(s, "after\n") })
	if s, _, _ := dw.Text(); strings.Contains(s, "after") {
		t.Errorf("revoked writer received a later edit: %q", s)
	}

	// The writer edits offline (as if it never heard of the revocation:
	// its own clock and token say it may), then comes back.
	dw.Close()
	writer.stop()
	off, err := app.Open(app.Config{Dir: writer.dir})
	if err != nil {
		t.Fatal(err)
	}
	dOff, err := off.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	editErr := dOff.Edit(0, 0, "vandal\n")
	dOff.Close()
	if err := off.Close(); err != nil {
		t.Fatal(err)
	}
	if editErr != nil && !errors.Is(editErr, app.ErrReadOnly) {
		t.Fatal(editErr)
	}
	t.Logf("offline edit by the revoked writer: %v", editErr)
	back := startLive(t, "writer", writer.dir, append(owner.nw.Addrs(), bystander.nw.Addrs()...)...)
	db, _ := back.p.Open(id)
	defer db.Close()
	for _, c := range []struct {
		name string
		lp   *livePeer
	}{{"owner", owner}, {"bystander", bystander}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res := back.nw.Node().SyncWith(ctx, id, c.lp.id())
		cancel()
		if !errors.Is(res.Err, syncproto.ErrRefused) {
			t.Errorf("returning writer's sync session with the %s: %v, want ErrRefused", c.name, res.Err)
		}
	}
	// A last owner edit reaches the bystander; by then anything the writer
	// could have slipped in would have too.
	if err := da.Edit(0, 0, "last\n"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*app.Doc{da, dc} {
		s := waitText(t, d, 10*time.Second, func(s string) bool { return strings.HasPrefix(s, "last\n") })
		if strings.Contains(s, "vandal") {
			t.Errorf("the revoked writer's offline change was taken: %q", s)
		}
	}
}

// TestRevocationReachesPeerThatHasEveryChange: a peer offline while a
// writer is revoked, that already holds every change, learns the
// revocation by catch-up when it comes back, with no new change to carry
// it (sync vectors count revocations).
func TestRevocationReachesPeerThatHasEveryChange(t *testing.T) {
	base := t.TempDir()
	owner, id, da, link := sharedPlan(t, base)
	writer := startLive(t, "writer", filepath.Join(base, "writer"), owner.nw.Addrs()...)
	bystander := startLive(t, "bystander", filepath.Join(base, "bystander"), owner.nw.Addrs()...)
	for _, lp := range []*livePeer{writer, bystander} {
		if _, err := lp.p.Join(link); err != nil {
			t.Fatal(err)
		}
		d, err := lp.p.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		waitText(t, d, 10*time.Second, func(s string) bool { return s == "plan\n" })
		d.Close()
	}
	bystander.stop()

	if err := da.RevokeKey(writer.p.Key()); err != nil {
		t.Fatal(err)
	}
	// The owner restarts too, so the revocation's gossip resends are gone
	// and only a sync session can carry it.
	da.Close()
	owner.stop()
	owner = startLive(t, "owner", owner.dir)
	if _, err := owner.p.Open(id); err != nil {
		t.Fatal(err)
	}
	back := startLive(t, "bystander", bystander.dir, owner.nw.Addrs()...)
	dc, err := back.p.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if revokedIn(dc, writer.p.Key()) {
		t.Fatal("the bystander held the revocation before it came back")
	}
	waitFor(t, time.Now().Add(10*time.Second), "bystander holds the revocation", func() bool { return revokedIn(dc, writer.p.Key()) })
	if s, _, _ := dc.Text(); s != "plan\n" {
		t.Errorf("bystander text %q", s)
	}
}
