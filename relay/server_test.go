package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"

	"github.com/quire-dev/quire/p2p"
)

// start runs fn's Run in the background until the test ends, failing the
// test if Run fails, and waits until ready is closed.
func start(t *testing.T, run func(context.Context) error, ready <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	}
}

// waitIdentified waits until h has finished identify with p.
func waitIdentified(t *testing.T, sub event.Subscription, p peer.ID) {
	t.Helper()
	for e := range sub.Out() {
		if ev := e.(event.EvtPeerIdentificationCompleted); ev.Peer == p {
			return
		}
	}
	t.Fatalf("event bus closed before %s was identified", p)
}

func subscribeIdentify(t *testing.T, h host.Host) event.Subscription {
	t.Helper()
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

// TestServerAcceptsPeer starts a relay on loopback and connects a second
// libp2p host to it over TCP and over QUIC; each side must identify the
// other, and the relay must offer the circuit relay v2 hop protocol.
func TestServerAcceptsPeer(t *testing.T) {
	for _, transport := range []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"} {
		t.Run(transport, func(t *testing.T) {
			_, key, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(Config{ListenAddrs: []string{transport}, PrivateKey: key})
			if err != nil {
				t.Fatal(err)
			}
			start(t, srv.Run, srv.Ready())
			if len(srv.Addrs()) != 1 {
				t.Fatalf("relay addresses = %v, want one", srv.Addrs())
			}

			client, err := p2p.New(p2p.Config{ListenAddrs: []string{transport}})
			if err != nil {
				t.Fatal(err)
			}
			start(t, client.Run, client.Ready())

			srvSeen := subscribeIdentify(t, srv.node.Host())
			clientSeen := subscribeIdentify(t, client.Host())
			info, err := peer.AddrInfoFromP2pAddr(srv.Addrs()[0])
			if err != nil {
				t.Fatal(err)
			}
			if info.ID != srv.ID() {
				t.Fatalf("address names peer %s, want %s", info.ID, srv.ID())
			}
			if err := client.Host().Connect(t.Context(), *info); err != nil {
				t.Fatalf("connect to relay: %v", err)
			}
			waitIdentified(t, srvSeen, client.ID())
			waitIdentified(t, clientSeen, srv.ID())

			protos, err := client.Host().Peerstore().GetProtocols(srv.ID())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(protos, proto.ProtoIDv2Hop) {
				t.Errorf("relay protocols %v lack %s", protos, proto.ProtoIDv2Hop)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no addrs":  {PrivateKey: key},
		"no key":    {ListenAddrs: DefaultListenAddrs},
		"bad addr":  {ListenAddrs: []string{"127.0.0.1:4001"}, PrivateKey: key},
		"short key": {ListenAddrs: DefaultListenAddrs, PrivateKey: key[:10]},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}

// TestRunFailsOnBusyAddress: a relay with a mailbox whose listen address
// is taken returns the error from Run instead of hanging.
func TestRunFailsOnBusyAddress(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A plain listener (without SO_REUSEPORT, which libp2p sets) holds
	// the port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port)
	srv, err := New(Config{ListenAddrs: []string{taken}, PrivateKey: key, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run on a taken address returned nil")
		}
	case <-time.After(30 * time.Second): // a bound on a hang, not a wait for an event
		t.Fatal("Run on a taken address has not returned after 30 s")
	}
}
