package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/store"
)

// actorQueue bounds the requests waiting for a document's owner goroutine.
// When it is full, callers block (edits are never dropped); remote traffic
// is bounded before it gets here, by the network layer's queues.
const actorQueue = 256

// docActor is the one goroutine that owns an open document: its crdt.Doc,
// its subscribers and its network membership. Everything that reads or
// changes the document runs on it, in order, through do.
type docActor struct {
	p   *Peer
	id  DocID
	log *slog.Logger

	reqs chan func()   // to the goroutine; cap actorQueue
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the goroutine has exited
	once sync.Once

	refs int // open handles; guarded by p.mu

	// Owned by the goroutine.
	doc         *crdt.Doc
	subs        map[*subscriber]struct{}
	seals       float64     // seal tokens available (see scheduleSeal)
	repairAt    time.Time   // when missing parents last started a catch-up
	repairArmed bool        // a repair check is scheduled (armRepair)
	sealAt      time.Time   // when seals was last refilled
	timer       *time.Timer // pending seal, or nil
	dirty       bool        // edits not yet sealed
	rev         uint64      // text revision: +1 per local or remote edit event
	net         DocNet      // nil when offline
	presence    presenceSet
	hist        history // undo and redo of this device's edits (undo.go)
	recent      editLog // recent text changes, for views that lag (view.go)

	cursor        [2]int      // this device's selection (anchor, head)
	cursorDirty   bool        // cursor moved since the last presence message
	presenceAt    time.Time   // when the last presence message went out
	presenceTimer *time.Timer // pending presence message, or nil

	// Shared with other goroutines.
	access *membership // capability state; has its own lock
	titleV atomic.Value
	status atomic.Pointer[Status]
}

// startActor loads document id from the store and starts its goroutine.
// Called with p.mu held.
func (p *Peer) startActor(id DocID) (*docActor, error) {
	d, st, err := p.db.LoadDoc(id, p.author())
	if err != nil {
		return nil, err
	}
	if st.NeedsRepair() {
		p.log.Warn("document needs repair from peers", "doc", id, "damaged", len(st.Damaged), "missing", len(st.Missing))
	}
	m, err := p.loadMembership(id)
	if err != nil {
		return nil, err
	}
	a := &docActor{
		p: p, id: id, log: p.log.With("doc", id.String()),
		reqs: make(chan func(), actorQueue), quit: make(chan struct{}), done: make(chan struct{}),
		doc: d, subs: map[*subscriber]struct{}{}, access: m,
	}
	a.configureDoc()
	a.enforceCuts() // the store keeps what a cut later rejected
	a.titleV.Store(Title(d.Text()))
	a.status.Store(&Status{Saved: true, Offline: p.net == nil})
	if p.net != nil {
		n, err := p.net.join(a)
		if err != nil {
			return nil, fmt.Errorf("join document %s on the network: %w", id, err)
		}
		a.net = n
	}
	p.wg.Add(1)
	go a.run()
	return a, nil
}

func (p *Peer) author() crdt.Author { return crdt.Author(p.self) }

func (a *docActor) run() {
	defer a.p.wg.Done()
	defer close(a.done)
	defer a.p.forget(a)
	for {
		select {
		case f := <-a.reqs:
			f()
		case <-a.quit:
			// Drain what was queued before stop, then seal and leave.
			for {
				select {
				case f := <-a.reqs:
					f()
					continue
				default:
				}
				break
			}
			a.seal()
			if a.timer != nil {
				a.timer.Stop()
			}
			if a.net != nil {
				a.net.Leave()
			}
			for s := range a.subs {
				s.close()
			}
			return
		}
	}
}

// stop asks the goroutine to seal, store and exit, and waits for it.
func (a *docActor) stop() {
	a.once.Do(func() { close(a.quit) })
	<-a.done
}

// do runs f on the actor's goroutine and waits for it. It returns
// ErrClosed if the actor has stopped.
func (a *docActor) do(f func()) error {
	ch := make(chan struct{})
	select {
	case a.reqs <- func() { f(); close(ch) }:
	case <-a.done:
		return ErrClosed
	case <-a.quit:
		return ErrClosed
	}
	select {
	case <-ch:
		return nil
	case <-a.done:
		// The goroutine drains the queue before it exits, so f ran.
		select {
		case <-ch:
			return nil
		default:
			return ErrClosed
		}
	}
}

// post runs f on the actor's goroutine without waiting. It drops f and
// returns false if the actor has stopped; it blocks while the queue is
// full.
func (a *docActor) post(f func()) bool {
	select {
	case a.reqs <- f:
		return true
	case <-a.quit:
		return false
	}
}

func (a *docActor) title() string {
	t, _ := a.titleV.Load().(string)
	return t
}

// edit applies a local edit on the goroutine.
func (a *docActor) edit(pos, del int, ins string) error {
	var deleted string
	if del > 0 && !a.hist.replaying {
		deleted = a.doc.Slice(pos, del)
	}
	if del > 0 {
		if err := a.doc.Delete(pos, del); err != nil {
			return err
		}
	}
	if ins != "" {
		if err := a.doc.Insert(pos, ins); err != nil {
			if del > 0 {
				// Keep the pair atomic: the delete stays in history but
				// the caller sees the error; the text stays consistent
				// with what subscribers were told.
				a.emitEdits([]crdt.Edit{{Pos: pos, Del: del}}, true)
			}
			return err
		}
	}
	a.emitEdits([]crdt.Edit{{Pos: pos, Del: del, Text: ins}}, true)
	a.hist.local(pos, deleted, ins, a.p.cfg.Now())
	a.dirty = true
	a.scheduleSeal()
	return nil
}

// sealBurst is how many seals may happen back to back before the rate
// of one per Config.SealDelay applies.
const sealBurst = 3

// scheduleSeal seals now if a seal token is available, else arms a timer
// for when one will be. Tokens refill at one per SealDelay up to
// sealBurst, so typing at up to 1/SealDelay keys per second (10 a second
// by default) seals, signs and sends every keystroke at once, and faster
// typing rides in one change per SealDelay: signatures stay bounded and
// an idle typist's keystroke never waits.
func (a *docActor) scheduleSeal() {
	if a.timer != nil {
		return
	}
	now := time.Now()
	delay := a.p.cfg.SealDelay
	a.seals = min(sealBurst, a.seals+float64(now.Sub(a.sealAt))/float64(delay))
	a.sealAt = now
	if a.seals >= 1 {
		a.seals--
		a.seal()
		return
	}
	wait := time.Duration((1 - a.seals) * float64(delay))
	a.timer = time.AfterFunc(wait, func() {
		a.post(func() {
			a.timer = nil
			if a.dirty {
				a.scheduleSeal()
			}
		})
	})
}

// seal closes the open change, stores it, then sends it: persisted before
// published, so a crash never leaves peers holding an edit this device
// lost.
func (a *docActor) seal() {
	if !a.dirty {
		return
	}
	a.dirty = false
	cs := a.doc.Seal()
	if len(cs) == 0 {
		return
	}
	if err := a.p.db.Append(a.id, cs...); err != nil {
		// The edits stay in memory and in the document; the next seal
		// cannot retry them (they are sealed), so report loudly. The
		// store only fails like this when the disk does.
		a.log.Error("store local changes", "err", err, "changes", len(cs))
		a.setStatus(func(s *Status) { s.Saved = false; s.Err = err.Error() })
		return
	}
	a.titleV.Store(Title(a.doc.Text()))
	a.setStatus(func(s *Status) { s.Saved = true; s.Err = "" })
	if a.net != nil {
		for _, c := range cs {
			if err := a.net.Publish(a.encodeLive(c)); err != nil {
				a.log.Debug("publish change", "err", err)
			}
		}
	}
}

// applyRemote integrates changes that passed validation, stores them and
// tells subscribers.
func (a *docActor) applyRemote(cs []*crdt.Change) error {
	if len(cs) == 0 {
		return nil
	}
	fresh := cs[:0:0]
	for _, c := range cs {
		if !a.doc.Has(c.Hash) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	pendingBefore := a.doc.Pending()
	var before crdt.Vector
	if pendingBefore > 0 {
		before = a.doc.Vector()
	}
	edits, err := a.doc.Apply(fresh...)
	var keep []*crdt.Change
	for _, c := range fresh {
		if a.doc.Has(c.Hash) {
			keep = append(keep, c)
		}
	}
	if pendingBefore > 0 && a.doc.Pending() < pendingBefore+len(fresh)-len(keep) {
		// Changes that waited for parents were released: store them too.
		seen := make(map[crdt.Hash]bool, len(keep))
		for _, c := range keep {
			seen[c.Hash] = true
		}
		for _, c := range a.doc.ChangesSince(before) {
			if !seen[c.Hash] {
				keep = append(keep, c)
			}
		}
	}
	if len(keep) > 0 {
		// Stored asynchronously: a remote change lost to a crash is
		// fetched again by catch-up.
		errc := a.p.db.AppendAsync(a.id, keep...)
		go func() {
			if err := <-errc; err != nil && !errors.Is(err, store.ErrClosed) {
				a.log.Error("store remote changes", "err", err)
			}
		}()
	}
	if len(edits) > 0 {
		a.titleV.Store(Title(a.doc.Text()))
		a.emitEdits(edits, false)
	}
	if a.doc.Pending() > 0 && a.net != nil && !a.repairArmed {
		a.armRepair()
	}
	return err
}

// repairWait is how long a change may wait for its parents before this
// replica asks its peers for them: parents usually arrive by another
// gossip path within milliseconds, and a catch-up round with every peer
// is not free. repairEvery bounds how often such rounds start.
const (
	repairWait  = 150 * time.Millisecond
	repairEvery = 500 * time.Millisecond
)

// armRepair checks after repairWait whether changes still wait for
// parents, and if so starts catch-up: gossip lost something. On the
// goroutine.
func (a *docActor) armRepair() {
	a.repairArmed = true
	time.AfterFunc(repairWait, func() {
		a.post(func() {
			a.repairArmed = false
			if a.doc.Pending() == 0 || a.net == nil {
				return
			}
			if wait := repairEvery - time.Since(a.repairAt); wait > 0 {
				a.repairArmed = true
				time.AfterFunc(wait, func() {
					a.post(func() {
						a.repairArmed = false
						if a.doc.Pending() > 0 && a.net != nil {
							a.repairAt = time.Now()
							a.net.SyncNow()
						}
					})
				})
				return
			}
			a.repairAt = time.Now()
			a.net.SyncNow()
		})
	})
}

// Status is a document's sync state as the editor shows it.
type Status struct {
	Saved   bool       // everything typed is on this device's disk
	Err     string     // the last storage error, if Saved is false
	Offline bool       // no network configured or no peer reachable
	Peers   []PeerSync // peers sharing this document now
	// Relays is how many relays' mailboxes the document synced with in
	// the last round (see P2P.SyncRelays).
	Relays int
}

// PeerSync is one peer's state for one document.
type PeerSync struct {
	Peer string // peer id
	Name string // display name from presence, if known
	Via  string // "lan", "direct" or "relayed"
}

func (a *docActor) setStatus(f func(*Status)) {
	old := a.status.Load()
	s := *old
	s.Peers = append([]PeerSync(nil), old.Peers...)
	f(&s)
	if s.Saved == old.Saved && s.Err == old.Err && s.Offline == old.Offline && s.Relays == old.Relays && slices.Equal(s.Peers, old.Peers) {
		return
	}
	a.status.Store(&s)
	a.emit(Event{Kind: EventStatus})
}

// Doc is a handle on an open document. Its methods are safe for concurrent
// use; they run on the document's owner goroutine.
type Doc struct {
	a      *docActor
	closed atomic.Bool
}

// ID returns the document id.
func (d *Doc) ID() DocID { return d.a.id }

// Text returns the current text and its revision (see Event.Rev).
func (d *Doc) Text() (string, uint64, error) {
	var (
		s   string
		rev uint64
	)
	err := d.a.do(func() { s, rev = d.a.doc.Text(), d.a.rev })
	return s, rev, err
}

// Len returns the length of the text in code points.
func (d *Doc) Len() (int, error) {
	var n int
	err := d.a.do(func() { n = d.a.doc.Len() })
	return n, err
}

// Edit deletes del code points at pos, then inserts ins there. The edit is
// applied at once; it is stored and sent within Config.SealDelay (at once
// after a pause), and by Flush and Close.
func (d *Doc) Edit(pos, del int, ins string) error {
	if err := d.checkEdit(ins); err != nil {
		return err
	}
	var err error
	if e := d.a.do(func() { err = d.a.edit(pos, del, ins) }); e != nil {
		return e
	}
	return err
}

// Flush seals, stores and sends everything typed so far, and returns once
// it is on disk.
func (d *Doc) Flush() error {
	var err error
	if e := d.a.do(func() {
		if d.a.timer != nil {
			d.a.timer.Stop()
			d.a.timer = nil
		}
		d.a.seal()
		if s := d.a.status.Load(); !s.Saved {
			err = errors.New(s.Err)
		}
	}); e != nil {
		return e
	}
	return err
}

// EncodedHistory returns the document's whole history (every change, with
// the signatures it retains) in crdt's encoding: what a new peer receives.
func (d *Doc) EncodedHistory() []byte {
	var b []byte
	_ = d.a.do(func() { d.a.seal(); b = d.a.doc.Encode() })
	return b
}

// Status returns the document's sync status.
func (d *Doc) Status() Status { return *d.a.status.Load() }

// Heads returns the document's current version (its head change hashes).
func (d *Doc) Heads() ([]crdt.Hash, error) {
	var h []crdt.Hash
	err := d.a.do(func() { d.a.seal(); h = d.a.doc.Heads() })
	return h, err
}

// Vector returns the document's version as a per-author sequence vector.
func (d *Doc) Vector() (crdt.Vector, error) {
	var v crdt.Vector
	err := d.a.do(func() { d.a.seal(); v = d.a.doc.Vector() })
	return v, err
}

// Close releases the handle. The document closes (sealing and storing what
// was typed) when its last handle does.
func (d *Doc) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.a.p.release(d.a)
	return nil
}

// WaitVector blocks until the document holds everything in v, or ctx ends.
// Scripts use it to wait until they have converged with a peer.
func (d *Doc) WaitVector(ctx context.Context, v crdt.Vector) error {
	events, cancel := d.Subscribe()
	defer cancel()
	for {
		var have crdt.Vector
		if err := d.a.do(func() { have = d.a.doc.Vector() }); err != nil {
			return err
		}
		if have.Covers(v) {
			return nil
		}
		select {
		case _, ok := <-events:
			if !ok {
				return ErrClosed
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
