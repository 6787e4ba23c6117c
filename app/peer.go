package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/store"
)

// Errors callers branch on.
var (
	// ErrClosed is returned by calls on a closed Peer or Doc.
	ErrClosed = errors.New("closed")
	// ErrReadOnly is returned by Doc.Edit when this device may read the
	// document but not write it.
	ErrReadOnly = errors.New("this device may not edit the document")
	// ErrTooLarge is returned by Doc.Edit for an insertion longer than
	// MaxEditLen code points.
	ErrTooLarge = errors.New("edit too large")
)

// MaxEditLen bounds one insertion (a paste) in code points. Longer pastes
// are rejected whole with ErrTooLarge rather than truncated.
const MaxEditLen = 1 << 20

// DocID identifies a document (crdt.DocID; printed in base32).
type DocID = crdt.DocID

// Config configures a Peer. Dir is required; the zero value of every other
// field means the default.
type Config struct {
	// Dir is the data directory: the Badger store, the identity key and
	// the settings live here. It is created if missing.
	Dir string
	// Logger receives the peer's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for tokens and catalogue times; nil means time.Now.
	Now func() time.Time
	// Rand is the source of document ids, nonces and invite keys; nil
	// means crypto/rand.
	Rand io.Reader
	// SealDelay is how long typing may stay unsealed while the previous
	// change is recent (default 100 ms): the first edit after a pause is
	// sealed, signed, stored and sent at once, later edits within
	// SealDelay ride together in one change. So an idle typist's keystroke
	// reaches peers without delay and a fast one costs at most one
	// signature per SealDelay.
	SealDelay time.Duration
	// Network, if not nil, connects the peer's documents to other peers
	// (see NewNetwork). Nil means offline: everything works on this device.
	Network Network
	// Store overrides store settings for tests (Dir is always Config.Dir).
	Store store.Config
}

// Peer is one device's Quire: its identity, its documents on disk and
// (when Config.Network is set) its connections to other peers. It is the
// composition root of crdt, store and p2p, and the API the editor and
// quirectl use, in positions and strings. All methods are safe for
// concurrent use.
type Peer struct {
	cfg  Config
	log  *slog.Logger
	key  ed25519.PrivateKey
	self access.Key
	db   *store.DB
	net  Network

	qmu         sync.Mutex
	quarantined map[DocID]int // quarantine records per document, once counted

	mu     sync.Mutex
	open   map[DocID]*docActor
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context // cancelled by Close; parent of every actor
	cancel context.CancelFunc
}

// Open opens the peer in cfg.Dir: the identity key (created on first use)
// and the store. It starts no network activity; Run does.
func Open(cfg Config) (*Peer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("app: Config.Dir is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.SealDelay <= 0 {
		cfg.SealDelay = 100 * time.Millisecond
	}
	key, err := store.LoadOrCreateIdentity(cfg.Dir)
	if err != nil {
		return nil, err
	}
	sc := cfg.Store
	sc.Dir = cfg.Dir
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	if sc.Now == nil {
		sc.Now = cfg.Now
	}
	if sc.SnapshotQuiet == 0 {
		sc.SnapshotQuiet = SnapshotQuiet
	}
	db, err := store.Open(sc)
	if err != nil {
		return nil, err
	}
	p := &Peer{cfg: cfg, log: cfg.Logger, key: key, self: access.PublicKeyOf(key), db: db,
		net: cfg.Network, open: map[DocID]*docActor{}, quarantined: map[DocID]int{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// SnapshotQuiet is how long a document due for compaction must go without
// a new change before the store compacts it (store.Config.SnapshotQuiet):
// compacting is a burst of CPU, and a device in the middle of a typing
// session with several people should spend it between bursts, not while
// their keystrokes are waiting to be shown. A document that never goes
// quiet is still compacted at four times its usual interval.
const SnapshotQuiet = 2 * time.Second

// Key returns the device's public key, which is also its author key in
// every document and its libp2p identity.
func (p *Peer) Key() access.Key { return p.self }

// PrivateKey returns the device's identity key (for the network layer).
func (p *Peer) PrivateKey() ed25519.PrivateKey { return p.key }

// Fingerprint returns the device key in the short form people compare.
func (p *Peer) Fingerprint() string { return access.Fingerprint(p.self[:]) }

// Store returns the peer's store (read-only tools use it; edits go
// through Doc).
func (p *Peer) Store() *store.DB { return p.db }

// Run runs the store's maintenance and the network until ctx is cancelled
// or Close is called.
func (p *Peer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	errc := make(chan error, 2)
	go func() { errc <- p.db.Run(ctx) }()
	n := 1
	if p.net != nil {
		n++
		go func() { errc <- p.net.Run(ctx, p) }()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil && ctx.Err() == nil {
			first = err
			cancel()
		}
	}
	return first
}

// Close closes every open document (sealing and storing what was typed),
// then the store. It is safe to call more than once.
func (p *Peer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	actors := make([]*docActor, 0, len(p.open))
	for _, a := range p.open {
		actors = append(actors, a)
	}
	p.mu.Unlock()
	for _, a := range actors {
		a.stop()
	}
	p.cancel()
	p.wg.Wait()
	return p.db.Close()
}

// DocInfo describes a document in the list.
type DocInfo struct {
	ID       DocID
	Title    string // the set title, else the first heading or line, else "Untitled"
	Modified time.Time
	Archived bool
	Rights   access.Rights // what this device may do (the level: read to admin)
}

// List returns the documents on this device, most recently modified first;
// archived ones are included with Archived set.
func (p *Peer) List() ([]DocInfo, error) {
	infos, err := p.db.List()
	if err != nil {
		return nil, err
	}
	out := make([]DocInfo, 0, len(infos))
	for _, in := range infos {
		d := DocInfo{ID: in.ID, Title: in.Title, Modified: in.Modified, Archived: in.Archived}
		if d.Title == "" {
			d.Title = "Untitled"
		}
		if a := p.actor(in.ID); a != nil {
			if t := a.title(); t != "" && in.Title == "" {
				d.Title = t
			}
		}
		if pr, err := p.proof(in.ID); err == nil {
			d.Rights = pr.Rights.Level()
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b DocInfo) int { return b.Modified.Compare(a.Modified) })
	return out, nil
}

// Create makes a new document owned by this device (it holds the root
// capability) with an optional title, and returns its id.
func (p *Peer) Create(title string) (DocID, error) {
	// The id is bound to this device's key (access.DocIDFor), so no other
	// device can claim the document as its own, on a relay say.
	now := p.cfg.Now()
	root, err := access.NewRoot(p.key, access.Admin|access.Relay, now.Add(-time.Minute), now.AddDate(100, 0, 0), p.cfg.Rand)
	if err != nil {
		return DocID{}, fmt.Errorf("root capability: %w", err)
	}
	id := DocID(root.Doc)
	if err := p.db.Create(id, strings.TrimSpace(title)); err != nil {
		return id, err
	}
	if err := p.putProof(id, root); err != nil {
		return id, err
	}
	if _, err := p.newDocKey(id); err != nil {
		return id, err
	}
	return id, nil
}

// SetTitle sets a document's title; "" returns to the title taken from
// its text.
func (p *Peer) SetTitle(id DocID, title string) error {
	return p.db.SetTitle(id, strings.TrimSpace(title))
}

// Archive hides or shows a document in the default list.
func (p *Peer) Archive(id DocID, archived bool) error { return p.db.Archive(id, archived) }

// Delete closes a document and deletes it from this device. Peers keep
// their copies.
func (p *Peer) Delete(id DocID) error {
	if a := p.actor(id); a != nil {
		a.stop()
	}
	return p.db.Delete(id)
}

// LastOpened returns the document opened most recently on this device.
func (p *Peer) LastOpened() (DocID, bool) {
	b, err := p.db.Get(store.Settings, settingLast)
	if err != nil {
		return DocID{}, false
	}
	id, err := crdt.ParseDocID(string(b))
	if err != nil {
		return DocID{}, false
	}
	if _, err := p.db.Info(id); err != nil {
		return DocID{}, false
	}
	return id, true
}

func (p *Peer) actor(id DocID) *docActor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open[id]
}

// Open opens a document for reading and editing and returns a handle.
// Every handle of one document shares one owner goroutine; Close the
// handle when done. The document stays open (and in sync) while any handle
// is open.
func (p *Peer) Open(id DocID) (*Doc, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	a := p.open[id]
	if a == nil {
		var err error
		a, err = p.startActor(id)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.open[id] = a
	}
	a.refs++
	p.mu.Unlock()
	if err := p.db.Put(store.Settings, settingLast, []byte(id.String())); err != nil {
		p.log.Warn("remember last document", "err", err)
	}
	return &Doc{a: a}, nil
}

// release drops one handle's reference; the last one stops the actor.
func (p *Peer) release(a *docActor) {
	p.mu.Lock()
	a.refs--
	last := a.refs == 0
	p.mu.Unlock()
	if last {
		a.stop()
	}
}

// forget removes a stopped actor from the open set.
func (p *Peer) forget(a *docActor) {
	p.mu.Lock()
	if p.open[a.id] == a {
		delete(p.open, a.id)
	}
	p.mu.Unlock()
}

// OpenDocs returns the ids of the documents open now.
func (p *Peer) OpenDocs() []DocID {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]DocID, 0, len(p.open))
	for id := range p.open {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b DocID) int { return strings.Compare(a.String(), b.String()) })
	return ids
}

// Settings keys in the store.
const (
	settingLast  = "last-document"
	settingName  = "display-name"
	settingColor = "colour"
	settingLAN   = "lan-discovery"
)

// Title returns a document's title taken from its text: the first
// non-empty line without Markdown heading marks, shortened to 60
// characters, or "Untitled".
func Title(text string) string {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "#"))
		if line == "" {
			continue
		}
		if r := []rune(line); len(r) > 60 {
			line = string(r[:59]) + "…"
		}
		return line
	}
	return "Untitled"
}
