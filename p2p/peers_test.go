package p2p_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
)

func TestBackoffDelay(t *testing.T) {
	b := p2p.Backoff{Min: time.Second, Max: time.Minute}
	tests := []struct {
		attempts int
		r        float64
		want     time.Duration
	}{
		{0, 0, 500 * time.Millisecond},
		{0, 0.999999, time.Second - time.Microsecond},
		{1, 0.5, 1500 * time.Millisecond},
		{3, 0, 4 * time.Second},
		{5, 1, 32 * time.Second},
		{6, 0, 30 * time.Second}, // 64 s capped at 1 min, then halved by r = 0
		{100, 0, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.attempts, tt.r); got < tt.want-time.Millisecond || got > tt.want+time.Millisecond {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.attempts, tt.r, got, tt.want)
		}
	}
}

// book is an in-memory PeerBook.
type book struct {
	mu         sync.Mutex
	known      []peer.AddrInfo
	remembered chan peer.AddrInfo
}

func (b *book) Known() []peer.AddrInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]peer.AddrInfo(nil), b.known...)
}

func (b *book) Remember(info peer.AddrInfo) {
	select {
	case b.remembered <- info:
	default:
	}
}

// TestPeerBookReconnects: a node redials the peers its book knows, and
// remembers a peer once it proved a capability.
func TestPeerBookReconnects(t *testing.T) {
	c := newCluster(t)
	b := c.add("b", access.Write, p2p.Config{}, nil)
	bk := &book{known: []peer.AddrInfo{{ID: b.ID(), Addrs: b.Node.Host().Addrs()}}, remembered: make(chan peer.AddrInfo, 4)}
	a := c.add("a", access.Write, p2p.Config{PeerBook: bk}, nil)
	timeout := time.After(deadline)
	for connected := false; !connected; {
		select {
		case ev := <-a.Node.Events():
			connected = ev.Peer == b.ID() && ev.Connected
			if connected && ev.Via != p2p.LAN {
				t.Errorf("loopback connection reported as %v", ev.Via)
			}
		case <-timeout:
			t.Fatal("a never connected to the peer its book knows")
		}
	}
	select {
	case info := <-bk.remembered:
		if info.ID != b.ID() || len(info.Addrs) == 0 {
			t.Errorf("remembered %v", info)
		}
	case <-timeout:
		t.Fatal("a never remembered b")
	}
	if infos := a.Node.Peers(); len(infos) != 1 || infos[0].ID != b.ID() || infos[0].Via != p2p.LAN {
		t.Errorf("Peers() = %v", infos)
	}
}

// privateMulticast reports whether the only interface up is a loopback
// with multicast, as in ./test.sh's network namespace: then mDNS works and
// cannot reach any real network.
func privateMulticast() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	ok := false
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 {
			continue
		}
		if i.Flags&net.FlagLoopback == 0 {
			return false // a real network: mDNS would leave the machine
		}
		ok = ok || i.Flags&net.FlagMulticast != 0
	}
	return ok
}

// TestMDNSDiscovery: two nodes on one LAN find and connect to each other.
// It needs a multicast interface: ./test.sh runs the tests in a network
// namespace whose loopback has one.
func TestMDNSDiscovery(t *testing.T) {
	if !privateMulticast() {
		t.Skip("needs a network namespace whose only interface is a multicast loopback, so mDNS stays on this machine; run ./test.sh (unshare -n, multicast on lo)")
	}
	c := newCluster(t)
	cfg := p2p.Config{MDNS: true, MDNSService: "quire-test"}
	a := c.add("a", access.Write, cfg, nil)
	b := c.add("b", access.Write, cfg, nil)
	timeout := time.After(deadline)
	for {
		select {
		case ev := <-a.Node.Events():
			if ev.Peer == b.ID() && ev.Connected {
				if k := a.Node.ConnKind(b.ID()); k != p2p.LAN {
					t.Errorf("mDNS peer connected via %v, want lan", k)
				}
				return
			}
		case <-timeout:
			t.Fatal("mDNS peers never connected")
		}
	}
}

// TestLANPeerRedialled: a peer mDNS found while it could not be reached
// (still starting, say) is redialled with backoff, not left until mDNS
// reports it again minutes later.
func TestLANPeerRedialled(t *testing.T) {
	c := newCluster(t)
	tcp := p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}}
	b := c.add("b", access.Write, tcp, nil)
	found := peer.AddrInfo{ID: b.ID(), Addrs: b.Node.Host().Addrs()}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	dialed := make(chan error, 16)
	a := c.add("a", access.Write, p2p.Config{Backoff: p2p.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}},
		func(n *p2p.Node) {
			p2p.OnDialForTest(n, func(p peer.ID, err error) {
				if p == found.ID {
					select {
					case dialed <- err:
					default:
					}
				}
			})
		})
	p2p.FoundOnLANForTest(a.Node, found)
	select {
	case err := <-dialed:
		if err == nil {
			t.Fatal("dialled a closed peer successfully")
		}
	case <-time.After(deadline):
		t.Fatal("a never dialled the peer mDNS found")
	}

	// b comes back on the same address; a finds it without mDNS repeating.
	tcp.ListenAddrs = []string{found.Addrs[0].String()}
	b = c.add("b", access.Write, tcp, nil)
	timeout := time.After(deadline)
	for {
		select {
		case ev := <-a.Node.Events():
			if ev.Peer == b.ID() && ev.Connected {
				if ev.Via != p2p.LAN {
					t.Errorf("LAN peer connected via %v", ev.Via)
				}
				return
			}
		case <-timeout:
			t.Fatal("a never redialled the LAN peer that came back")
		}
	}
}
