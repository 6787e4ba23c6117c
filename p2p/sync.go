package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p/syncproto"
)

// maxSessions bounds the sync sessions running at once, and
// maxPeerSessions those with one peer; a session beyond either is refused
// (the peer retries at its next periodic sync). Streams whose Hello is not
// yet checked are bounded by the resource manager's streams per peer and
// hold at most syncproto.HelloFrameSize each.
const (
	maxSessions     = 64
	maxPeerSessions = 8
)

type sessionKey struct {
	doc  crdt.DocID
	peer peer.ID
}

// session is one running sync session, registered so that Deauthorize and
// Leave can reset its stream.
type session struct {
	stream network.Stream
}

// SyncResult is what a finished or failed session reports (see
// Node.SyncWith).
type SyncResult struct {
	// Sent and Received are the bytes of frames written and read.
	Sent, Received int64
	// Err is nil when the session finished with both sides up to date.
	Err error
}

// keyOf returns p's Ed25519 public key as an access.Key.
func keyOf(p peer.ID) (access.Key, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return access.Key{}, fmt.Errorf("peer %s: %w", p, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return access.Key{}, fmt.Errorf("peer %s: key type %v, want Ed25519", p, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil {
		return access.Key{}, err
	}
	return access.KeyOf(raw)
}

// register adds s under key, refusing past maxSessions or a second session
// on the same document with the same peer.
func (n *Node) register(k sessionKey, s *session, exclusive bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	total, peer := 0, 0
	for key, m := range n.sessions {
		total += len(m)
		if key.peer == k.peer {
			peer += len(m)
		}
	}
	if exclusive && len(n.sessions[k]) > 0 {
		// The running session may have sent its batches before what
		// prompted this one (a revocation, a change that missed the
		// mesh): run another when it ends.
		n.syncAgain[k] = true
		return false
	}
	if total >= maxSessions || peer >= maxPeerSessions {
		return false
	}
	if n.sessions[k] == nil {
		n.sessions[k] = map[*session]bool{}
	}
	n.sessions[k][s] = true
	return true
}

func (n *Node) unregister(k sessionKey, s *session) {
	n.mu.Lock()
	delete(n.sessions[k], s)
	again := false
	if len(n.sessions[k]) == 0 {
		delete(n.sessions, k)
		again = n.syncAgain[k]
		delete(n.syncAgain, k)
	}
	d := n.docs[k.doc]
	n.mu.Unlock()
	if again && d != nil && d.isJoined() {
		n.startSync(d, k.peer)
	}
}

// endSessions resets the sessions on doc with p, or with everyone if p is "".
func (n *Node) endSessions(doc crdt.DocID, p peer.ID) {
	n.mu.Lock()
	var streams []network.Stream // read under the lock: syncWith sets a session's stream under it
	for k, m := range n.sessions {
		if k.doc == doc && (p == "" || k.peer == p) {
			for s := range m {
				if s.stream != nil {
					streams = append(streams, s.stream)
				}
			}
			delete(n.sessions, k)
			delete(n.syncAgain, k)
		}
	}
	n.mu.Unlock()
	// A session whose stream was not open yet finds itself gone when it
	// opens it, and resets it (syncWith).
	for _, st := range streams {
		_ = st.Reset()
	}
}

// startSync runs a session with p on d in the background, unless one is
// already running.
func (n *Node) startSync(d *DocTopic, p peer.ID) {
	if !n.running() || !n.track() {
		return
	}
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*n.cfg.SyncIdleTimeout)
		defer cancel()
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		res := n.syncWith(ctx, d, p, true)
		if res.Err != nil && !errors.Is(res.Err, errBusy) && !errors.Is(res.Err, ErrUnknownPeer) {
			n.log.Debug("sync session failed", "doc", d.id, "peer", p, "err", res.Err)
		}
	}()
}

var errBusy = errors.New("p2p: a session with this peer on this document is running")

// ErrUnknownPeer reports a sync session the document's handler would not
// open with that peer (DocHandler.MaySync).
var ErrUnknownPeer = errors.New("not a peer this document syncs with")

// SyncWith runs one sync session on document doc with peer p (connecting
// if needed) and returns when it ends. The app rarely needs it (sessions
// start on connection and periodically); tests and benchmarks use it.
func (n *Node) SyncWith(ctx context.Context, doc crdt.DocID, p peer.ID) SyncResult {
	if !n.running() {
		return SyncResult{Err: ErrNotRunning}
	}
	n.mu.RLock()
	d := n.docs[doc]
	n.mu.RUnlock()
	if d == nil {
		return SyncResult{Err: fmt.Errorf("p2p: document %s not joined", doc)}
	}
	return n.syncWith(ctx, d, p, false)
}

// Sync starts a session on doc with every peer subscribed to its topic,
// in the background, e.g. after an edit too large for gossip.
func (n *Node) Sync(doc crdt.DocID) {
	n.mu.RLock()
	d := n.docs[doc]
	n.mu.RUnlock()
	if d == nil || !n.running() || !d.isJoined() {
		return
	}
	for _, p := range d.change.ListPeers() {
		n.startSync(d, p)
	}
}

func (n *Node) syncWith(ctx context.Context, d *DocTopic, p peer.ID, exclusive bool) SyncResult {
	remote, err := keyOf(p)
	if err != nil {
		return SyncResult{Err: err}
	}
	if !d.h.MaySync(remote) {
		return SyncResult{Err: fmt.Errorf("p2p: sync %s with %s: %w", d.id, p, ErrUnknownPeer)}
	}
	k := sessionKey{d.id, p}
	s := &session{}
	if !n.register(k, s, exclusive) {
		return SyncResult{Err: errBusy}
	}
	defer n.unregister(k, s)
	st, err := n.host.NewStream(ctx, p, syncproto.ProtocolID)
	if err != nil {
		return SyncResult{Err: fmt.Errorf("p2p: open sync stream to %s: %w", p, err)}
	}
	n.mu.Lock()
	live := n.sessions[k][s]
	s.stream = st
	n.mu.Unlock()
	if !live { // ended by Deauthorize or Leave meanwhile
		_ = st.Reset()
		return SyncResult{Err: errors.New("p2p: session cancelled")}
	}
	sess := syncproto.NewInitiator(d.h, d.id, remote, syncproto.Config{})
	return n.drive(st, sess, k, s)
}

// handleSyncStream serves a session another peer opened.
func (n *Node) handleSyncStream(st network.Stream) {
	p := st.Conn().RemotePeer()
	remote, err := keyOf(p)
	if err != nil {
		_ = st.Reset()
		return
	}
	lookup := func(doc crdt.DocID) (syncproto.Replica, bool) {
		n.mu.RLock()
		defer n.mu.RUnlock()
		if d := n.docs[doc]; d != nil {
			return d.h, true
		}
		return nil, false
	}
	sess := syncproto.NewResponder(lookup, remote, syncproto.Config{})
	res := n.drive(st, sess, sessionKey{peer: p}, nil)
	if res.Err != nil {
		n.log.Debug("served sync session failed", "peer", p, "err", res.Err)
	}
}

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// countingWriter counts bytes written.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	return k, err
}

// drive runs sess over st until it finishes or fails. For a responder, k
// has no document and s is nil: the session is registered once the
// initiator's Hello names the document and passes the proof check.
func (n *Node) drive(st network.Stream, sess *syncproto.Session, k sessionKey, s *session) (res SyncResult) {
	graceful := true // false after an I/O error: reset rather than close
	defer func() {
		if graceful {
			_ = st.Close() // flushes what we sent, an Error included
		} else {
			_ = st.Reset()
		}
	}()
	// Deadlines are I/O deadlines on the wall clock, not n.clock.
	cr := &countingReader{r: st}
	cw := &countingWriter{w: st}
	br := bufio.NewReaderSize(cr, 16<<10)
	send := func(ms []syncproto.Message) error {
		for _, m := range ms {
			if err := st.SetWriteDeadline(time.Now().Add(n.cfg.SyncIdleTimeout)); err != nil {
				return err
			}
			if err := syncproto.WriteMessage(cw, m); err != nil {
				return err
			}
		}
		return nil
	}
	defer func() { res.Received, res.Sent = cr.n, cw.n }()
	if err := send(sess.Start()); err != nil {
		graceful = false
		res.Err = err
		return res
	}
	authorized := false
	for !sess.Finished() {
		if err := st.SetReadDeadline(time.Now().Add(n.cfg.SyncIdleTimeout)); err != nil {
			return SyncResult{Err: err}
		}
		limit := syncproto.HelloFrameSize
		if authorized {
			limit = syncproto.MaxFrameSize
		}
		m, err := syncproto.ReadMessage(br, limit)
		if err != nil {
			graceful = false
			res.Err = fmt.Errorf("p2p: sync with %s: %w", k.peer, err)
			return res
		}
		out, stepErr := sess.Step(m)
		if !authorized && sess.Authorized() {
			authorized = true
			if s == nil { // responder: now we know the document
				k.doc = sess.Doc()
				s = &session{stream: st}
				if !n.register(k, s, false) {
					res.Err = errBusy
					return res
				}
				defer n.unregister(k, s)
			}
			if !n.authorize(k.doc, k.peer, s) {
				res.Err = errors.New("p2p: session cancelled")
				return res
			}
		}
		if err := send(out); err != nil && stepErr == nil {
			stepErr, graceful = err, false
		}
		if stepErr != nil {
			res.Err = fmt.Errorf("p2p: sync %s with %s: %w", k.doc, k.peer, stepErr)
			return res
		}
	}
	return res
}

// syncLoop syncs every joined document with every peer in its topic, every
// SyncInterval (jittered ±20%), as the peer with the smaller id.
func (n *Node) syncLoop() {
	if n.cfg.ManualSync {
		return
	}
	for {
		select {
		case <-n.stop:
			return
		case <-n.clock.After(n.jitter(n.cfg.SyncInterval, 0.2)):
		}
		n.mu.RLock()
		ds := make([]*DocTopic, 0, len(n.docs))
		for _, d := range n.docs {
			if d.isJoined() {
				ds = append(ds, d)
			}
		}
		n.mu.RUnlock()
		for _, d := range ds {
			for _, p := range d.change.ListPeers() {
				if n.id < p {
					n.startSync(d, p)
				}
			}
		}
	}
}
