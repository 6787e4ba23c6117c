package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

func TestNodeLifecycle(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(Config{PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if n.ID() != again.ID() {
		t.Errorf("same key, different peer ids: %s, %s", n.ID(), again.ID())
	}
	if n.Host() != nil || n.Addrs() != nil {
		t.Error("host or addresses available before Run")
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	addrs := n.Addrs()
	if len(addrs) != 2 {
		t.Errorf("addresses = %v, want one TCP and one QUIC", addrs)
	}
	for _, a := range addrs {
		info, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil || info.ID != n.ID() {
			t.Errorf("address %s does not name the node (%v)", a, err)
			continue
		}
		if !manet.IsIPLoopback(info.Addrs[0]) {
			t.Errorf("default config listens on %s, want loopback only", a)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"bad addr":  {ListenAddrs: []string{"localhost:4001"}},
		"short key": {PrivateKey: make(ed25519.PrivateKey, 31)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}

func TestJoinLeave(t *testing.T) {
	n, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	doc := crdt.DocID{3}
	var h silent
	if _, err := n.JoinDoc(doc, h); !errors.Is(err, ErrNotRunning) {
		t.Errorf("JoinDoc before Run: %v", err)
	}
	if err := n.Connect(t.Context(), "/ip4/127.0.0.1/tcp/1"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Connect before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	<-n.Ready()
	if _, err := n.JoinDoc(doc, nil); err == nil {
		t.Error("JoinDoc accepted a nil handler")
	}
	d, err := n.JoinDoc(doc, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.JoinDoc(doc, h); !errors.Is(err, ErrJoined) {
		t.Errorf("second JoinDoc: %v", err)
	}
	if err := d.Publish(t.Context(), make([]byte, 300<<10)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized publish: %v", err)
	}
	if err := d.Leave(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.JoinDoc(doc, h); err != nil {
		t.Errorf("JoinDoc after Leave: %v", err)
	}
	if err := n.Connect(t.Context(), "not an address"); err == nil {
		t.Error("Connect accepted a bad address")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// silent is a DocHandler for a document no one else shares.
type silent struct{}

func (silent) Vector() crdt.Vector                         { return crdt.Vector{} }
func (silent) EncodeBatch(crdt.Vector, int) ([]byte, bool) { return nil, false }
func (silent) ApplyBatch(access.Key, []byte) error         { return errors.New("silent: no batches") }
func (silent) Proof() []byte                               { return nil }
func (silent) CheckProof(access.Key, []byte) error         { return errors.New("silent: no one") }
func (silent) Validate(peer.ID, Kind, []byte) Verdict      { return Reject }
func (silent) Deliver(peer.ID, Kind, []byte)               {}
func (silent) MaySync(access.Key) bool                     { return false }
