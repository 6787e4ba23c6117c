package p2p_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/p2ptest"
	"github.com/quire-dev/quire/p2p/syncproto"
)

var testDoc = crdt.DocID{0x51, 0x0a}

// deadline bounds every wait in these tests; the events come in
// milliseconds, the margin is for a loaded CI machine under -race.
const deadline = 20 * time.Second

// cluster is a set of peers on one document sharing one wake channel.
type cluster struct {
	t     *testing.T
	wake  chan struct{}
	peers []*p2ptest.Peer
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, wake: make(chan struct{}, 1)}
}

// add starts a peer named name with rights on testDoc (None: no token).
func (c *cluster) add(name string, rights access.Rights, cfg p2p.Config, setup func(*p2p.Node)) *p2ptest.Peer {
	c.t.Helper()
	root := p2ptest.Key("root")
	key := p2ptest.Key(name)
	var tok *access.Token
	if rights != access.None {
		tok = p2ptest.Grant(testDoc, root, key, rights)
	}
	r := p2ptest.NewReplica(testDoc, access.PublicKeyOf(root), key, tok, p2ptest.Clock())
	r.Wake(c.wake)
	cfg.PrivateKey = key
	p, err := p2ptest.StartPeer(cfg, testDoc, r, setup)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if err := p.Close(); err != nil {
			c.t.Errorf("close %s: %v", name, err)
		}
	})
	c.peers = append(c.peers, p)
	return p
}

// waitFor waits until cond holds, re-checking whenever a replica changes.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	timeout := time.After(deadline)
	for !cond() {
		select {
		case <-c.wake:
		case <-timeout:
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func connect(t *testing.T, a, b *p2ptest.Peer) {
	t.Helper()
	if err := p2ptest.Connect(t.Context(), a, b); err != nil {
		t.Fatal(err)
	}
}

func typeAt(p *p2ptest.Peer, text string) func(d *crdt.Doc) error {
	return func(d *crdt.Doc) error { return d.Insert(d.Len(), text) }
}

func waitMesh(t *testing.T, min int, ps ...*p2ptest.Peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	for _, p := range ps {
		if err := p.Doc.WaitMesh(ctx, min); err != nil {
			t.Fatalf("%s: %v", p.ID(), err)
		}
	}
}

// TestCatchUpThenGossip: A edits alone, then meets B (catch-up on
// connection), then B meets C; live edits from each reach all by gossip.
func TestCatchUpThenGossip(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	b := c.add("b", access.Write, p2p.Config{}, nil)
	cc := c.add("c", access.Write, p2p.Config{}, nil)
	if err := a.Publish(t.Context(), typeAt(a, "offline work. ")); err != nil {
		t.Fatal(err)
	}
	connect(t, a, b)
	c.waitFor("b to catch up with a", func() bool { return b.Replica.Text() == "offline work. " })
	connect(t, b, cc)
	c.waitFor("c to catch up through b", func() bool { return cc.Replica.Text() == "offline work. " })
	waitMesh(t, 1, a, cc)
	waitMesh(t, 2, b) // b relays between a and c

	deliveries := make(chan p2ptest.Delivery, 64)
	cc.Replica.Notify(deliveries)
	for _, p := range []*p2ptest.Peer{a, b, cc} {
		if err := p.Publish(t.Context(), typeAt(p, "x")); err != nil {
			t.Fatal(err)
		}
		c.waitFor("every replica to hold every edit", func() bool {
			ok := a.Replica.Text() == b.Replica.Text() && b.Replica.Text() == cc.Replica.Text()
			if !ok {
				t.Logf("waiting: a %q b %q c %q", a.Replica.Text(), b.Replica.Text(), cc.Replica.Text())
			}
			return ok
		})
	}
	if got := a.Replica.Text(); got != "offline work. xxx" {
		t.Errorf("text = %q", got)
	}
	if len(deliveries) == 0 {
		t.Errorf("c received no change by gossip")
	}
	for _, p := range []*p2ptest.Peer{a, b, cc} {
		if k := p.Node.ConnKind(a.ID()); p != a && k != p2p.LAN && p == b {
			t.Errorf("b reaches a via %v, want lan (loopback)", k)
		}
	}
}

// hostile is a bare libp2p host with gossipsub speaking Quire's message
// format (no pubsub author or signature, content ids) but no peer filter,
// flood publishing, every protocol. It stands for a peer that knows the
// document id and tries to listen in or disrupt.
type hostile struct {
	h   host.Host
	ps  *pubsub.PubSub
	sub *pubsub.Subscription
	top *pubsub.Topic
}

func newHostile(t *testing.T, name string, kind p2p.Kind) *hostile {
	t.Helper()
	k, err := crypto.UnmarshalEd25519PrivateKey(p2ptest.Key(name))
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(k), libp2p.ListenAddrs(), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = h.Close() })
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(p2p.MessageIDForTest))
	if err != nil {
		t.Fatal(err)
	}
	top, err := ps.Join(p2p.TopicName(testDoc, kind))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := top.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	return &hostile{h: h, ps: ps, sub: sub, top: top}
}

func (x *hostile) connect(t *testing.T, p *p2ptest.Peer) {
	t.Helper()
	if err := x.h.Connect(t.Context(), peer.AddrInfo{ID: p.ID(), Addrs: p.Node.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// received returns how many messages from others x's subscription got,
// waiting at most wait for each further message.
func (x *hostile) received(wait time.Duration) int {
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		m, err := x.sub.Next(ctx)
		cancel()
		if err != nil {
			return n
		}
		if m.ReceivedFrom != x.h.ID() {
			n++
		}
	}
}

// waitJoined waits until p's subscription to x's topic has reached x.
func (x *hostile) waitJoined(t *testing.T, p *p2ptest.Peer) {
	t.Helper()
	evts, err := x.top.EventHandler()
	if err != nil {
		t.Fatal(err)
	}
	defer evts.Cancel()
	if slices.Contains(x.top.ListPeers(), p.ID()) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	for {
		ev, err := evts.NextPeerEvent(ctx)
		if err != nil {
			t.Fatalf("%s never joined the topic: %v", p.ID(), err)
		}
		if ev.Type == pubsub.PeerJoin && ev.Peer == p.ID() || slices.Contains(x.top.ListPeers(), p.ID()) {
			return
		}
	}
}

// TestUnauthorizedGetsNothing: an outsider that knows the document id,
// subscribes to its topic with stock gossipsub and connects to both peers
// receives none of their messages, is refused by the sync protocol, and
// its own messages are not applied.
func TestUnauthorizedGetsNothing(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	b := c.add("b", access.Write, p2p.Config{}, nil)
	spy := newHostile(t, "spy", p2p.KindChange)
	spy.connect(t, a)
	spy.connect(t, b)
	connect(t, a, b)
	waitMesh(t, 1, a, b)
	// The spy also asks for a sync session, with a token of its own for
	// another document and with a's token.
	for name, proof := range map[string][]byte{
		"junk":    []byte("let me in"),
		"stolen":  a.Replica.Proof(),
		"foreign": p2ptest.Grant(crdt.DocID{1}, p2ptest.Key("root"), p2ptest.Key("spy"), access.Read).Encode(),
	} {
		t.Run("sync "+name, func(t *testing.T) {
			st, err := spy.h.NewStream(t.Context(), a.ID(), syncproto.ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := syncproto.WriteMessage(st, syncproto.Message{Type: syncproto.TypeHello, Version: syncproto.Version, Doc: testDoc, Proof: proof}); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(st)
			m, err := syncproto.ReadMessage(r, syncproto.MaxFrameSize)
			if err != nil || m.Type != syncproto.TypeError || m.Code != syncproto.CodeRefused {
				t.Fatalf("reply = %+v, %v; want refused", m, err)
			}
			if m, err := syncproto.ReadMessage(r, syncproto.MaxFrameSize); err == nil {
				t.Errorf("after refusal got %+v", m)
			}
		})
	}
	for i := range 20 {
		if err := a.Publish(t.Context(), typeAt(a, fmt.Sprint(i%10))); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor("b to receive a's edits", func() bool { return b.Replica.Text() == a.Replica.Text() })
	// A spy change: a valid change by the spy's key.
	spyDoc := crdt.New(testDoc, crdt.Author(access.PublicKeyOf(p2ptest.Key("spy"))))
	_ = spyDoc.Insert(0, "SPY")
	for _, ch := range spyDoc.Seal() {
		if err := spy.top.Publish(t.Context(), ch.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	// One more edit from b, gossiped to a: once a has it, anything the
	// spy sent before has been handled too.
	if err := b.Publish(t.Context(), typeAt(b, "!")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("a to receive b's edit", func() bool { return strings.HasSuffix(a.Replica.Text(), "!") })
	if got := spy.received(300 * time.Millisecond); got != 0 {
		t.Errorf("spy received %d messages", got)
	}
	if strings.Contains(a.Replica.Text(), "SPY") || strings.Contains(b.Replica.Text(), "SPY") {
		t.Errorf("spy's change applied: %q / %q", a.Replica.Text(), b.Replica.Text())
	}
	if slices.Contains(a.Doc.Peers(), spy.h.ID()) || slices.Contains(a.Doc.MeshPeers(), spy.h.ID()) {
		t.Errorf("spy authorized or in a's mesh")
	}
}

// TestMalformedRejectedAndPenalised: an authorized peer that sends
// garbage and oversized messages gets none applied and a negative score.
func TestMalformedRejectedAndPenalised(t *testing.T) {
	c := newCluster(t)
	scores := make(chan map[peer.ID]float64, 1)
	a := c.add("a", access.Write, p2p.Config{Gossip: p2p.GossipConfig{MaxPayload: 4 << 10}}, func(n *p2p.Node) {
		p2p.InspectScoresForTest(n, func(m map[peer.ID]float64) {
			select {
			case scores <- m:
			default:
			}
		})
	})
	bad := newHostile(t, "bad", p2p.KindChange)
	p2p.AuthorizeForTest(a.Node, testDoc, bad.h.ID())
	bad.connect(t, a)
	bad.waitJoined(t, a)
	before := a.Replica.Text()
	// Send garbage and oversized messages, a few at a time, until a's
	// scores show the penalty (the first ones may leave before the
	// stream to a is up).
	sent := 0
	timeout := time.After(deadline)
	for {
		for range 2 {
			payload := []byte(fmt.Sprintf("garbage %d", sent))
			if sent%2 == 1 {
				payload = make([]byte, 8<<10)                     // over a's 4 KiB limit
				binary.BigEndian.PutUint64(payload, uint64(sent)) // new bytes: content ids
			}
			if err := bad.top.Publish(t.Context(), payload); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		select {
		case m := <-scores:
			if m[bad.h.ID()] < -80 {
				if a.Replica.Text() != before {
					t.Errorf("garbage applied: %q", a.Replica.Text())
				}
				t.Logf("bad peer's score %.0f after %d bad messages (graylisted below -80)", m[bad.h.ID()], sent)
				return
			}
		case <-timeout:
			t.Fatalf("bad peer never penalised (%d messages sent)", sent)
		}
	}
}

// TestDeauthorizeCutsOff: after Deauthorize on every honest peer, the
// revoked peer gets nothing more, its edits are rejected, and it cannot
// sync back in.
func TestDeauthorizeCutsOff(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	b := c.add("b", access.Write, p2p.Config{}, nil)
	x := c.add("x", access.Write, p2p.Config{}, nil)
	connect(t, a, b)
	connect(t, a, x)
	connect(t, b, x)
	waitMesh(t, 2, a, b, x)
	if err := a.Publish(t.Context(), typeAt(a, "before ")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("x to receive a's edit", func() bool { return x.Replica.Text() == "before " })

	start := time.Now()
	xKey := access.PublicKeyOf(p2ptest.Key("x"))
	for _, p := range []*p2ptest.Peer{a, b} {
		p.Replica.Revoke(xKey)
		p.Node.Deauthorize(testDoc, x.ID())
	}
	took := time.Since(start)
	for _, p := range []*p2ptest.Peer{a, b} {
		if slices.Contains(p.Doc.Peers(), x.ID()) {
			t.Fatalf("x still authorized by %s", p.ID())
		}
		if p.Node.Host().Network().Connectedness(x.ID()) == network.Connected {
			t.Errorf("x (in the mesh) still connected to %s", p.ID())
		}
	}
	t.Logf("Deauthorize on two peers took %v", took)
	if err := x.Publish(t.Context(), typeAt(x, "REVOKED")); err != nil && !errors.Is(err, pubsub.ErrTopicClosed) {
		t.Logf("x publish: %v", err)
	}
	if err := a.Publish(t.Context(), typeAt(a, "after")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("b to receive a's edit", func() bool { return strings.HasSuffix(b.Replica.Text(), "after") })
	// x may reconnect and ask for sync: it is refused. (Wait until x has
	// seen its old connections close, so the session runs on a new one
	// rather than racing the reset of the old.)
	for _, p := range []*p2ptest.Peer{a, b} {
		c.waitFor("x to see its connection to "+p.ID().String()+" closed", func() bool {
			return x.Node.Host().Network().Connectedness(p.ID()) != network.Connected
		})
		res := x.Node.SyncWith(t.Context(), testDoc, p.ID())
		if !errors.Is(res.Err, syncproto.ErrRefused) {
			t.Errorf("x syncs with %s: %v, want refused", p.ID(), res.Err)
		}
	}
	if strings.Contains(x.Replica.Text(), "after") {
		t.Errorf("x received an edit after deauthorization: %q", x.Replica.Text())
	}
	if strings.Contains(a.Replica.Text(), "REVOKED") || strings.Contains(b.Replica.Text(), "REVOKED") {
		t.Errorf("x's edit applied after deauthorization")
	}
}

// rawFlood opens a gossipsub stream from h (a host without pubsub) to p by hand and writes
// signed junk messages on the topic at perSecond, 100 to an RPC, until
// ctx ends; it returns how many it wrote. Hand-written RPCs are how a real
// attacker would flood: far cheaper than publishing through pubsub.
func rawFlood(ctx context.Context, h host.Host, p peer.ID, topic string, perSecond int, started chan<- struct{}) (int, error) {
	st, err := h.NewStream(ctx, p, pubsub.GossipSubID_v11)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	key := h.Peerstore().PrivKey(h.ID())
	from := []byte(h.ID())
	write := func(rpc *pb.RPC) error {
		b, err := proto.Marshal(rpc)
		if err != nil {
			return err
		}
		_, err = st.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
		return err
	}
	sub := true
	if err := write(&pb.RPC{Subscriptions: []*pb.RPC_SubOpts{{Subscribe: &sub, Topicid: &topic}}}); err != nil {
		return 0, err
	}
	// Sign a pool of messages up front; sending is then only writing.
	pool := make([]*pb.Message, 2000)
	for i := range pool {
		m := &pb.Message{From: from, Data: fmt.Appendf(nil, "flood %d", i), Seqno: binary.BigEndian.AppendUint64(nil, uint64(i+1)), Topic: &topic}
		b, err := proto.Marshal(m)
		if err != nil {
			return 0, err
		}
		if m.Signature, err = key.Sign(append([]byte(pubsub.SignPrefix), b...)); err != nil {
			return 0, err
		}
		pool[i] = m
	}
	close(started)
	const perRPC = 100
	tick := time.NewTicker(time.Second * perRPC / time.Duration(perSecond))
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			return sent, nil
		case <-tick.C:
		}
		// Catch up with the schedule if the ticker fell behind.
		due := int(time.Since(start).Seconds() * float64(perSecond))
		rpc := &pb.RPC{}
		for range max(perRPC, due-sent) {
			rpc.Publish = append(rpc.Publish, pool[sent%len(pool)])
			sent++
		}
		if err := write(rpc); err != nil {
			return sent, nil // a cut us off: the flood is over
		}
	}
}

// TestFloodDoesNotStall: a peer flooding 10,000 messages per second at A
// does not stop B's edits from reaching A. Latencies are logged, not
// asserted (benchmarks measure).
func TestFloodDoesNotStall(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	b := c.add("b", access.Write, p2p.Config{}, nil)
	k, err := crypto.UnmarshalEd25519PrivateKey(p2ptest.Key("flooder"))
	if err != nil {
		t.Fatal(err)
	}
	flooder, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	p2p.AuthorizeForTest(a.Node, testDoc, flooder.ID())
	if err := flooder.Connect(t.Context(), peer.AddrInfo{ID: a.ID(), Addrs: a.Node.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	connect(t, a, b)
	waitMesh(t, 1, a, b)

	ctx, stop := context.WithCancel(t.Context())
	type floodResult struct {
		n    int
		took time.Duration
		err  error
	}
	flooded := make(chan floodResult, 1)
	started := make(chan struct{})
	go func() {
		n, err := rawFlood(ctx, flooder, a.ID(), p2p.TopicName(testDoc, p2p.KindChange), 10000, started)
		flooded <- floodResult{n: n, err: err}
	}()
	select {
	case <-started:
	case f := <-flooded:
		t.Fatalf("flood did not start: %v", f.err)
	}
	start := time.Now()
	deliveries := make(chan p2ptest.Delivery, 256)
	a.Replica.Notify(deliveries)
	var lat []time.Duration
	pace := time.NewTicker(10 * time.Millisecond) // b types 100 characters a second
	defer pace.Stop()
	for i := range 100 {
		<-pace.C
		sent := time.Now()
		if err := b.Publish(t.Context(), typeAt(b, fmt.Sprint(i%10))); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-deliveries:
			lat = append(lat, d.At.Sub(sent))
		case <-time.After(deadline):
			t.Fatalf("edit %d from b not delivered to a under flood", i)
		}
	}
	stop()
	f := <-flooded
	f.took = time.Since(start)
	if f.err != nil {
		t.Fatal(f.err)
	}
	slices.Sort(lat)
	t.Logf("flood: %d messages in %v (%.0f/s), %d RPCs dropped by the rate limit; honest latency p50 %v p99 %v max %v",
		f.n, f.took, float64(f.n)/f.took.Seconds(), a.Node.DroppedRPCs(), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	if a.Replica.Text() != b.Replica.Text() {
		t.Errorf("a %q, b %q", a.Replica.Text(), b.Replica.Text())
	}
}

func TestPresenceRateLimited(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	// b's clock stands still, so its buckets never refill: exactly the
	// burst (5) of a's presence is accepted.
	b := c.add("b", access.Write, p2p.Config{Clock: frozenClock{p2ptest.Epoch}, Gossip: p2p.GossipConfig{PresenceRate: 5}}, nil)
	connect(t, a, b)
	waitMesh(t, 1, a, b)
	deliveries := make(chan p2ptest.Delivery, 256)
	b.Replica.Notify(deliveries)
	if err := a.Doc.PublishPresence(t.Context(), make([]byte, 2<<10)); !errors.Is(err, p2p.ErrTooLarge) {
		t.Errorf("oversized presence: %v", err)
	}
	const sent = 10 // 5 accepted, 5 ignored (an honest burst: no penalty)
	for i := range sent {
		if err := a.Doc.PublishPresence(t.Context(), []byte(fmt.Sprintf("cursor %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(deadline)
	for got := 0; got < 5; {
		select {
		case d := <-deliveries:
			if d.Kind == p2p.KindPresence {
				got++
			}
		case <-timeout:
			t.Fatalf("b delivered %d presence messages, want 5", got)
		}
	}
	// A change: once b has it, the presence sent before has been handled,
	// and a was not penalised (b still takes its messages).
	if err := a.Publish(t.Context(), typeAt(a, "z")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("b to get the change", func() bool { return b.Replica.Text() == "z" })
	for len(deliveries) > 0 {
		if d := <-deliveries; d.Kind == p2p.KindPresence {
			t.Errorf("presence beyond the rate delivered: %q", d.Payload)
		}
	}
}

// frozenClock is a Clock that never moves; its timers never fire.
type frozenClock struct{ t time.Time }

func (c frozenClock) Now() time.Time                     { return c.t }
func (frozenClock) After(time.Duration) <-chan time.Time { return nil }

func TestPresenceVerdicts(t *testing.T) {
	n, err := p2p.New(p2p.Config{Clock: frozenClock{p2ptest.Epoch}, Gossip: p2p.GossipConfig{PresenceRate: 3}})
	if err != nil {
		t.Fatal(err)
	}
	var got []p2p.Verdict
	for range 10 {
		got = append(got, p2p.AllowPresenceForTest(n, "origin"))
	}
	a, i, r := p2p.Accept, p2p.Ignore, p2p.Reject
	want := []p2p.Verdict{a, a, a, i, i, r, r, r, r, r}
	if !slices.Equal(got, want) {
		t.Errorf("verdicts = %v, want %v", got, want)
	}
}

// TestSlowReaderAborted: a peer that opens a sync session and then stops
// reading and acknowledging is cut off after SyncIdleTimeout, holding at
// most one batch; an honest session afterwards completes.
func TestSlowReaderAborted(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{SyncIdleTimeout: 300 * time.Millisecond}, nil)
	if err := a.Publish(t.Context(), typeAt(a, strings.Repeat("history ", 1000))); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.UnmarshalEd25519PrivateKey(p2ptest.Key("slow"))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.Connect(t.Context(), peer.AddrInfo{ID: a.ID(), Addrs: a.Node.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	st, err := slow.NewStream(t.Context(), a.ID(), syncproto.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	proof := p2ptest.Grant(testDoc, p2ptest.Key("root"), p2ptest.Key("slow"), access.Read).Encode()
	for _, m := range []syncproto.Message{
		{Type: syncproto.TypeHello, Version: syncproto.Version, Doc: testDoc, Proof: proof},
		{Type: syncproto.TypeHave, Vector: crdt.Vector{}},
	} {
		if err := syncproto.WriteMessage(st, m); err != nil {
			t.Fatal(err)
		}
	}
	// Read a's Hello, Have and first batch, then go quiet: no ack.
	r := bufio.NewReader(st)
	var types []syncproto.Type
	for len(types) < 3 {
		m, err := syncproto.ReadMessage(r, syncproto.MaxFrameSize)
		if err != nil {
			t.Fatalf("after %v: %v", types, err)
		}
		types = append(types, m.Type)
	}
	if types[2] != syncproto.TypeBatch {
		t.Fatalf("got %v, want hello, have, batch", types)
	}
	// a gives up on us after its idle timeout: the stream ends (the
	// deadline only bounds a broken test).
	if err := st.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		t.Fatal(err)
	}
	if m, err := syncproto.ReadMessage(r, syncproto.MaxFrameSize); err == nil {
		t.Fatalf("a sent %s to a peer that never acknowledged", m.Type)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a never aborted the idle session")
	}
	// An honest peer then syncs normally.
	b := c.add("b", access.Write, p2p.Config{ManualSync: true}, nil)
	connect(t, b, a)
	if res := b.Node.SyncWith(t.Context(), testDoc, a.ID()); res.Err != nil {
		t.Fatal(res.Err)
	}
	if b.Replica.Text() != a.Replica.Text() {
		t.Error("b did not catch up")
	}
}

// TestPeriodicSyncDelivers: an edit never gossiped (lost, or too large)
// reaches the other peer by the periodic sync.
func TestPeriodicSyncDelivers(t *testing.T) {
	c := newCluster(t)
	cfg := p2p.Config{SyncInterval: 100 * time.Millisecond}
	a := c.add("a", access.Write, cfg, nil)
	b := c.add("b", access.Write, cfg, nil)
	connect(t, a, b)
	waitMesh(t, 1, a, b) // the first sync is over: they admitted each other
	for _, p := range []*p2ptest.Peer{a, b} {
		if _, err := p.Replica.Edit(typeAt(p, "unpublished "+p.ID().String()[:4]+" ")); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor("periodic sync", func() bool {
		return a.Replica.Text() == b.Replica.Text() && strings.Count(a.Replica.Text(), "unpublished") == 2
	})
}

// TestOfflinePeerCatchesUp: a peer goes offline, both sides keep editing,
// it comes back (same key, same replica) and both converge.
func TestOfflinePeerCatchesUp(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	b := c.add("b", access.Write, p2p.Config{}, nil)
	connect(t, a, b)
	// Publish once both are in each other's mesh: a message published
	// before gossipsub grafts them reaches no one until the periodic sync
	// (30 s), longer than waitFor allows.
	waitMesh(t, 1, a, b)
	if err := a.Publish(t.Context(), typeAt(a, "shared. ")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("b to get a's edit", func() bool { return b.Replica.Text() == "shared. " })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(t.Context(), typeAt(a, "a while b is away. ")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Replica.Edit(typeAt(b, "b offline. ")); err != nil {
		t.Fatal(err)
	}
	b2, err := p2ptest.StartPeer(p2p.Config{PrivateKey: p2ptest.Key("b")}, testDoc, b.Replica, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b2.Close() })
	connect(t, b2, a)
	c.waitFor("a and b to converge", func() bool {
		return a.Replica.Text() == b.Replica.Text() && strings.Contains(a.Replica.Text(), "b offline") && strings.Contains(a.Replica.Text(), "a while")
	})
}
