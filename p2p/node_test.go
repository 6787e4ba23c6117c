package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"
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
