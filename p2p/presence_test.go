package p2p_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
	"github.com/quire-dev/quire/p2p/p2ptest"
)

// TestPresenceEnvelope: a presence envelope names its origin and opens
// only unaltered, on the topic it was sealed for.
func TestPresenceEnvelope(t *testing.T) {
	n, err := p2p.New(p2p.Config{PrivateKey: p2ptest.Key("a"), Clock: frozenClock{p2ptest.Epoch}})
	if err != nil {
		t.Fatal(err)
	}
	topic := p2p.TopicName(testDoc, p2p.KindPresence)
	env, err := p2p.SealPresenceForTest(n, topic, []byte("cursor 7"))
	if err != nil {
		t.Fatal(err)
	}
	origin, seq1, payload, err := p2p.OpenPresenceForTest(topic, env)
	if err != nil || origin != n.ID() || !bytes.Equal(payload, []byte("cursor 7")) {
		t.Fatalf("open = %v, %q, %v; want %v, cursor 7", origin, payload, err, n.ID())
	}
	// A frozen clock still gives increasing sequences.
	env2, err := p2p.SealPresenceForTest(n, topic, []byte("cursor 8"))
	if err != nil {
		t.Fatal(err)
	}
	if _, seq2, _, err := p2p.OpenPresenceForTest(topic, env2); err != nil || seq2 <= seq1 {
		t.Errorf("second sequence %d after %d (%v)", seq2, seq1, err)
	}

	other := p2p.TopicName(crdt.DocID{1}, p2p.KindPresence)
	for name, b := range map[string][]byte{
		"other document": nil, // env, opened on another topic
		"payload":        flip(env, len(env)-1),
		"sequence":       flip(env, 1+32),
		"signature":      flip(env, 1+32+8),
		"origin":         flip(env, 1),
		"version":        flip(env, 0),
		"truncated":      env[:1+32+8+64],
		"empty":          nil,
	} {
		tp := topic
		if name == "other document" {
			tp, b = other, env
		}
		if _, _, _, err := p2p.OpenPresenceForTest(tp, b); err == nil {
			t.Errorf("%s: envelope opened", name)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}

// TestPresenceFreshness: an origin's presence is accepted only with a
// sequence above the last accepted, so a replayed or overtaken cursor
// never replaces a newer one.
func TestPresenceFreshness(t *testing.T) {
	n, err := p2p.New(p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		origin string
		seq    uint64
		want   bool
	}{{"a", 5, true}, {"a", 5, false}, {"a", 4, false}, {"a", 6, true}, {"b", 1, true}, {"a", 6, false}}
	for i, s := range steps {
		if got := p2p.FreshPresenceForTest(n, peer.ID(s.origin), s.seq); got != s.want {
			t.Errorf("step %d (%s seq %d): fresh = %v, want %v", i, s.origin, s.seq, got, s.want)
		}
	}
}

// TestForgedPresenceRejected: an admitted peer that sends presence
// without a valid envelope, or an envelope sealed for another document,
// gets none of it delivered; honest presence arrives with its origin.
func TestForgedPresenceRejected(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", access.Write, p2p.Config{}, nil)
	deliveries := make(chan p2ptest.Delivery, 64)
	a.Replica.Notify(deliveries)
	bad := newHostile(t, "bad", p2p.KindPresence)
	p2p.AuthorizeForTest(a.Node, testDoc, bad.h.ID())
	bad.connect(t, a)
	bad.waitJoined(t, a)

	// bad's own key, but sealed for another document's topic.
	badNode, err := p2p.New(p2p.Config{PrivateKey: p2ptest.Key("bad")})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := p2p.SealPresenceForTest(badNode, p2p.TopicName(crdt.DocID{1}, p2p.KindPresence), []byte("elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{[]byte("no envelope at all, just a cursor"), moved} {
		if err := bad.top.Publish(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	// Then honest presence from bad's own key: delivered, with bad as its
	// origin. Deliveries are in order per topic, so anything forged that
	// got through would come first. The first messages may leave before
	// bad's stream to a is up, so bad sends a new cursor (new bytes: a
	// resend of the same bytes is the same message) until one arrives.
	resend := time.NewTicker(100 * time.Millisecond)
	defer resend.Stop()
	timeout := time.After(deadline)
	for {
		honest, err := p2p.SealPresenceForTest(badNode, p2p.TopicName(testDoc, p2p.KindPresence), []byte("here"))
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.top.Publish(t.Context(), honest); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-deliveries:
			if d.Kind != p2p.KindPresence {
				continue
			}
			if string(d.Payload) != "here" || d.From != bad.h.ID() {
				t.Fatalf("delivered %q from %v, want honest presence from %v", d.Payload, d.From, bad.h.ID())
			}
			return
		case <-resend.C:
		case <-timeout:
			t.Fatal("honest presence never delivered")
		}
	}
}
