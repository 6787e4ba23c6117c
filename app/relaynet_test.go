package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/mailproto"
	"github.com/quire-dev/quire/relay"
)

// startRelay runs a quire relay with a mailbox on loopback until the test
// ends and returns it with its data directory.
func startRelay(t *testing.T) (*relay.Server, string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, _ := runRelay(t, key, dir)
	return srv, dir
}

// runRelay runs a relay with key and a mailbox in dir until stop is
// called or the test ends.
func runRelay(t *testing.T, key ed25519.PrivateKey, dir string) (srv *relay.Server, stop func()) {
	t.Helper()
	return runRelayAt(t, key, dir, nil)
}

// runRelayAt is runRelay with the relay's clock.
func runRelayAt(t *testing.T, key ed25519.PrivateKey, dir string, now func() time.Time) (srv *relay.Server, stop func()) {
	t.Helper()
	srv, err := relay.New(relay.Config{ListenAddrs: loopback, PrivateKey: key, DataDir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("relay Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return srv, stop
}

// relayPeer is a peer that knows only the relay: no LAN discovery, no
// peer to dial, and no sync of its own (ManualSync), so everything it
// learns comes through the relay's mailbox, in rounds the test runs.
func relayPeer(t *testing.T, relayAddr string) (*Peer, *P2P) {
	t.Helper()
	cfg := NetConfig{Listen: loopback, Node: p2p.Config{ManualSync: true}}
	if relayAddr != "" {
		cfg.Relays = []string{relayAddr}
	}
	return runNetPeer(t, cfg)
}

func syncRelays(t *testing.T, nw *P2P) {
	t.Helper()
	if err := nw.SyncRelays(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// dirContains reports whether any file under dir holds b.
func dirContains(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || found {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = bytes.Contains(data, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestRelayMailbox: two members who never meet edit one document through a
// relay's mailbox. The owner's device gives the relay its mandate, the
// invitee gets the document key from the link, the relay's disk holds the
// boxes but none of the text, and a revocation the owner makes cuts the
// revoked member off at the relay.
func TestRelayMailbox(t *testing.T) {
	srv, relayDir := startRelay(t)
	relayAddr := srv.Addrs()[0].String()
	a, na := relayPeer(t, relayAddr)
	b, nb := relayPeer(t, relayAddr)

	id, err := a.Create("Plan")
	if err != nil {
		t.Fatal(err)
	}
	da, err := a.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "the launch moves to the ninth of March, tell no one\n"
	if err := da.Edit(0, 0, secret); err != nil {
		t.Fatal(err)
	}
	link, err := da.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link, "#") {
		t.Fatalf("invite link %q carries no document key", link)
	}
	if _, err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	db, err := b.Open(id)
	if err != nil {
		t.Fatal(err)
	}

	syncRelays(t, na) // puts the text, with the relay's mandate
	syncRelays(t, nb) // gets it
	if got := text(t, db); got != secret {
		t.Fatalf("b after the relay round: %q, want %q", got, secret)
	}
	if err := db.Edit(len([]rune(secret)), 0, "ack from b\n"); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, nb)
	syncRelays(t, na)
	if got, want := text(t, da), secret+"ack from b\n"; got != want {
		t.Fatalf("a after b's round: %q, want %q", got, want)
	}
	if err := da.a.do(func() {}); err != nil { // the round's status update is queued before this
		t.Fatal(err)
	}
	if st := da.Status(); st.Relays != 1 {
		t.Errorf("a's status after a round: %+v, want one relay", st)
	}
	// Nothing more to fetch or put: a further round changes nothing.
	syncRelays(t, na)
	syncRelays(t, nb)
	if text(t, da) != text(t, db) {
		t.Fatalf("texts differ: %q and %q", text(t, da), text(t, db))
	}

	// The two never connected to each other.
	if c := na.Node().Host().Network().Connectedness(peerIDOf(t, b)); c == network.Connected {
		t.Fatal("a and b connected directly; the test must go through the relay")
	}
	// The relay stored ciphertext only: a box it hands out is on its disk,
	// the text is not.
	resp, err := na.Node().Mailbox(t.Context(), srv.ID(), mailproto.Request{Type: mailproto.TypeGet, Doc: id, Proof: mustProof(t, a, id)})
	if err != nil || len(resp.Boxes) == 0 {
		t.Fatalf("get: %v, %d boxes", err, len(resp.Boxes))
	}
	if !dirContains(t, relayDir, resp.Boxes[0].Data[:64]) {
		t.Fatal("the relay's files do not hold a box it serves; the plaintext check below would prove nothing")
	}
	for _, s := range []string{"launch moves", "ack from b"} {
		if dirContains(t, relayDir, []byte(s)) {
			t.Errorf("the relay's files hold the plaintext %q", s)
		}
	}

	// The owner revokes b; its next round tells the relay, which refuses b.
	if err := da.RevokeKey(b.Key()); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, na)
	err = nb.SyncRelays(t.Context())
	var refused *mailproto.RefusedError
	if !errors.As(err, &refused) || refused.Code != mailproto.CodeUnauthorized || !strings.Contains(refused.Msg, "revoked") {
		t.Fatalf("b's round after the revocation: %v, want refused as revoked", err)
	}
	if st := nb.RelayStatus(); len(st) != 1 || !strings.Contains(st[0].Err, "revoked") {
		t.Errorf("b's relay status: %+v", st)
	}
	if st := na.RelayStatus(); len(st) != 1 || st[0].Err != "" || st[0].Last.IsZero() {
		t.Errorf("a's relay status: %+v", st)
	}
}

func mustProof(t *testing.T, p *Peer, id DocID) []byte {
	t.Helper()
	tok, err := p.proof(id)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

// TestRelayLargeBatch: a document larger than one box goes through the
// mailbox in parts and arrives whole.
func TestRelayLargeBatch(t *testing.T) {
	srv, _ := startRelay(t)
	relayAddr := srv.Addrs()[0].String()
	a, na := relayPeer(t, relayAddr)
	b, nb := relayPeer(t, relayAddr)
	id, err := a.Create("")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Open(id)
	// 2.5 MiB of text that does not compress: three boxes at least.
	var sb strings.Builder
	x := uint32(1)
	for sb.Len() < 5<<19 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		sb.WriteByte(byte('a' + x%26))
		if x%61 == 0 {
			sb.WriteByte('\n')
		}
	}
	big := sb.String()
	for i := 0; i < len(big); i += 64 << 10 { // pasted in pieces, as several changes
		if err := da.Edit(i, 0, big[i:min(len(big), i+64<<10)]); err != nil {
			t.Fatal(err)
		}
	}
	link, err := da.Invite(access.Read, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	db, _ := b.Open(id)
	syncRelays(t, na)
	syncRelays(t, nb)
	if got := text(t, db); got != big {
		t.Fatalf("b holds %d characters, want %d", len(got), len(big))
	}
}

// TestRelayNeedsDocKey: a member whose link lost its key fragment cannot
// use the mailbox, and says why.
func TestRelayNeedsDocKey(t *testing.T) {
	srv, _ := startRelay(t)
	relayAddr := srv.Addrs()[0].String()
	a, _ := relayPeer(t, relayAddr)
	b, nb := relayPeer(t, relayAddr)
	id, _ := a.Create("")
	da, _ := a.Open(id)
	link, err := da.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := strings.Cut(link, "#")
	if _, err := b.Join(base); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(id); err != nil {
		t.Fatal(err)
	}
	if err := nb.SyncRelays(t.Context()); !errors.Is(err, ErrNoDocKey) {
		t.Errorf("round without the key: %v, want %v", err, ErrNoDocKey)
	}
	if _, err := b.Join(base + "#not-a-key"); !errors.Is(err, access.ErrBadLink) {
		t.Errorf("join with a bad fragment: %v, want %v", err, access.ErrBadLink)
	}
}

// TestRelayStartsOver: a relay that lost its disk comes back with the same
// identity and an empty mailbox. The owner's next round sees the new epoch
// and puts the whole document again, so a member who joins afterwards gets
// all of it, not only the changes made since.
func TestRelayStartsOver(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, stop := runRelay(t, key, t.TempDir())
	a, na := relayPeer(t, "")
	if err := a.SetRelays([]string{srv.Addrs()[0].String()}); err != nil {
		t.Fatal(err)
	}
	id, _ := a.Create("")
	da, _ := a.Open(id)
	if err := da.Edit(0, 0, "first\n"); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, na)
	stop()

	srv2, _ := runRelay(t, key, t.TempDir()) // same key, empty disk
	if srv2.ID() != srv.ID() {
		t.Fatal("the relay's identity changed")
	}
	if err := a.SetRelays([]string{srv2.Addrs()[0].String()}); err != nil {
		t.Fatal(err)
	}
	if err := da.Edit(6, 0, "second\n"); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, na)

	b, nb := relayPeer(t, srv2.Addrs()[0].String())
	link, err := da.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	db, _ := b.Open(id)
	syncRelays(t, nb)
	if got := text(t, db); got != "first\nsecond\n" {
		t.Errorf("the new member holds %q, want the whole document", got)
	}
}

// FuzzParseBox checks that an opened box (anything a member sealed)
// parses without panicking, within its bounds, and back to its bytes.
func FuzzParseBox(f *testing.F) {
	f.Add(appendBox(nil, boxPlain{batch: [16]byte{1}, part: 0, parts: 1, payload: []byte("batch")}))
	f.Add(appendBox(nil, boxPlain{part: 3, parts: maxParts}))
	f.Add([]byte{boxVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseBox(b)
		if err != nil {
			return
		}
		if h.parts == 0 || h.parts > maxParts || h.part >= h.parts {
			t.Fatalf("accepted part %d of %d", h.part, h.parts)
		}
		if again := appendBox(nil, h); len(again) > len(b) {
			t.Fatalf("re-encoding grew: %x -> %x", b, again)
		}
	})
}

// TestRevocationWindow: with more revocation records than a request
// carries, successive rounds carry every one of them.
func TestRevocationWindow(t *testing.T) {
	for _, n := range []int{0, 1, mailproto.MaxRevocations, mailproto.MaxRevocations + 1, 3*mailproto.MaxRevocations - 5} {
		seen := map[int]bool{}
		from := 0
		rounds := (n + mailproto.MaxRevocations - 1) / mailproto.MaxRevocations
		for range max(rounds, 1) {
			w, next := revocationWindow(n, from)
			if len(w) > mailproto.MaxRevocations {
				t.Fatalf("%d records: a window of %d", n, len(w))
			}
			for _, i := range w {
				seen[i] = true
			}
			from = next
		}
		if len(seen) != n {
			t.Errorf("%d records: %d rounds carried %d of them", n, rounds, len(seen))
		}
	}
}

// TestRelayAbandonedBatch: a member that put the first part of a batch and
// stopped holds nobody back for long. Readers keep fetching and applying
// the boxes after it; their cursor waits behind it only until the relay's
// clock is an hour past it, or until that member puts its next batch.
func TestRelayAbandonedBatch(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := runRelayAt(t, key, t.TempDir(), func() time.Time { return time.Unix(clock.Load(), 0) })
	addr := srv.Addrs()[0].String()
	target := relayTarget{id: srv.ID()}
	a, na := relayPeer(t, addr)
	b, nb := relayPeer(t, addr)
	c, nc := relayPeer(t, addr)
	id, _ := a.Create("")
	da, _ := a.Open(id)
	if err := da.Edit(0, 0, "one\n"); err != nil {
		t.Fatal(err)
	}
	link, err := da.Invite(access.Write, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Peer{b, c} {
		if _, err := p.Join(link); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Open(id); err != nil {
			t.Fatal(err)
		}
	}
	syncRelays(t, na)
	syncRelays(t, nb)

	// b puts the first of three parts, sealed with the document key.
	halfBatch := func(batch byte) uint64 {
		k, err := b.docKey(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newSealer(id, k)
		if err != nil {
			t.Fatal(err)
		}
		box := s.seal(appendBox(nil, boxPlain{batch: [16]byte{batch}, part: 0, parts: 3, payload: []byte("never finished")}))
		resp, err := nb.Node().Mailbox(t.Context(), srv.ID(), mailproto.Request{Type: mailproto.TypePut, Doc: id, Proof: mustProof(t, b, id), Box: box})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Seq
	}
	cursor := func() uint64 {
		st, err := nc.loadRelayDoc(relayName("state", target, id))
		if err != nil {
			t.Fatal(err)
		}
		return st.cursor
	}
	half := halfBatch(1)
	if err := da.Edit(4, 0, "two\n"); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, na)
	dc, _ := c.Open(id)
	syncRelays(t, nc)
	if got := text(t, dc); got != "one\ntwo\n" {
		t.Fatalf("c holds %q; the boxes after the half batch must apply", got)
	}
	if got := cursor(); got != half-1 {
		t.Fatalf("c's cursor %d, want it behind the half batch at %d", got, half)
	}

	// An hour later at the relay, c gives it up and its cursor passes it.
	clock.Add(int64(time.Hour/time.Second) + 1)
	if err := da.Edit(8, 0, "three\n"); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, na)
	syncRelays(t, nc)
	if got := text(t, dc); got != "one\ntwo\nthree\n" {
		t.Fatalf("c holds %q", got)
	}
	last := cursor()
	if last <= half {
		t.Fatalf("c's cursor %d has not passed the abandoned batch at %d", last, half)
	}

	// b's next batch ends its half batch at once, whatever the clock.
	half = halfBatch(2)
	db, err := b.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Edit(0, 0, "b: "); err != nil {
		t.Fatal(err)
	}
	syncRelays(t, nb) // b puts its edit, a new batch
	syncRelays(t, nc)
	if got := text(t, dc); got != "b: one\ntwo\nthree\n" {
		t.Errorf("c holds %q", got)
	}
	if got := cursor(); got <= half {
		t.Errorf("c's cursor %d is still held by b's half batch at %d after b's next batch", got, half)
	}
}
