package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultSaveDelay is how long after an edit the library writes it to disk
// when Config.SaveDelay is zero.
const DefaultSaveDelay = 500 * time.Millisecond

// ErrNotFound is returned for a document id the library does not hold.
var ErrNotFound = errors.New("document not found")

// ErrOutOfRange is returned by Doc.Edit for positions outside the text.
var ErrOutOfRange = errors.New("edit out of range")

// Config configures a Library. Dir is required; the zero value of every
// other field means the default.
type Config struct {
	Dir       string        // data directory; created if missing
	Logger    *slog.Logger  // nil discards logs
	SaveDelay time.Duration // longest time an edit stays unsaved while Run runs; 0 means DefaultSaveDelay
	Rand      io.Reader     // source of document ids; nil means crypto/rand
}

// DocID identifies a document: 128 random bits in lower-case base32.
type DocID string

// DocInfo describes a document in the library's list.
type DocInfo struct {
	ID    DocID
	Title string // first line of the text without Markdown heading marks, or "Untitled"
}

// Library is the set of documents in one data directory, each stored as a
// Markdown file under docs/ with a small JSON index (order and the last
// opened document) beside it. Edits are kept in memory and written by Flush,
// which Run calls at most Config.SaveDelay after an edit; every write is
// atomic (temporary file, fsync, rename).
//
// One process may use a data directory at a time. All methods are safe for
// concurrent use.
type Library struct {
	cfg     Config
	log     *slog.Logger
	edited  chan struct{} // capacity 1: a pending "something is dirty" signal; a full channel already says so
	saveMu  sync.Mutex    // serialises Flush so files are written in edit order
	mu      sync.Mutex    // guards the fields below
	order   []DocID
	docs    map[DocID]*docState
	last    DocID
	indexOK bool // index file matches order and last
}

// docState is one document's text and save bookkeeping, guarded by Library.mu.
type docState struct {
	text   []rune
	rev    uint64 // incremented by every edit
	saved  uint64 // rev last written to disk
	onDisk bool   // the file exists
}

// index is the JSON form of the index file.
type index struct {
	Version int     `json:"version"`
	Last    DocID   `json:"last,omitempty"`
	Docs    []DocID `json:"docs"`
}

const (
	indexFile    = "index.json"
	docsDir      = "docs"
	docExt       = ".md"
	indexVersion = 1
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// OpenLibrary loads the library in cfg.Dir, creating the directory if it is
// missing. Markdown files in docs/ that the index does not list are added
// to the end of the list, and index entries without a file are dropped.
// It starts nothing: call Run to save edits in the background.
func OpenLibrary(cfg Config) (*Library, error) {
	if cfg.Dir == "" {
		return nil, errors.New("open library: no data directory")
	}
	if cfg.SaveDelay <= 0 {
		cfg.SaveDelay = DefaultSaveDelay
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, docsDir), 0o700); err != nil {
		return nil, fmt.Errorf("open library: %w", err)
	}
	l := &Library{cfg: cfg, log: log, edited: make(chan struct{}, 1), docs: map[DocID]*docState{}}
	if err := l.load(); err != nil {
		return nil, fmt.Errorf("open library %s: %w", cfg.Dir, err)
	}
	return l, nil
}

// load reads the index and every document file.
func (l *Library) load() error {
	var idx index
	data, err := os.ReadFile(filepath.Join(l.cfg.Dir, indexFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &idx); err != nil {
			return fmt.Errorf("read %s: %w", indexFile, err)
		}
		if idx.Version != indexVersion {
			return fmt.Errorf("read %s: unsupported version %d", indexFile, idx.Version)
		}
	}
	entries, err := os.ReadDir(filepath.Join(l.cfg.Dir, docsDir))
	if err != nil {
		return err
	}
	onDisk := map[DocID]bool{}
	for _, e := range entries {
		id := DocID(strings.TrimSuffix(e.Name(), docExt))
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), docExt) && validID(id) {
			onDisk[id] = true
		}
	}
	for _, id := range idx.Docs {
		if onDisk[id] && l.docs[id] == nil {
			if err := l.loadDoc(id); err != nil {
				return err
			}
		}
	}
	var extra []DocID
	for id := range onDisk {
		if l.docs[id] == nil {
			extra = append(extra, id)
		}
	}
	slices.Sort(extra)
	for _, id := range extra {
		if err := l.loadDoc(id); err != nil {
			return err
		}
	}
	if l.docs[idx.Last] != nil {
		l.last = idx.Last
	}
	l.indexOK = slices.Equal(l.order, idx.Docs) && l.last == idx.Last
	return nil
}

// loadDoc reads one document file and appends it to the list.
func (l *Library) loadDoc(id DocID) error {
	data, err := os.ReadFile(l.docPath(id))
	if err != nil {
		return err
	}
	l.docs[id] = &docState{text: []rune(string(data)), onDisk: true}
	l.order = append(l.order, id)
	return nil
}

// validID reports whether id has the form NewID produces, so that it is
// safe as a file name.
func validID(id DocID) bool {
	b, err := idEncoding.DecodeString(string(id))
	return err == nil && len(b) == 16 && idEncoding.EncodeToString(b) == string(id)
}

func (l *Library) docPath(id DocID) string {
	return filepath.Join(l.cfg.Dir, docsDir, string(id)+docExt)
}

// List returns the documents in the order they were created.
func (l *Library) List() []DocInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]DocInfo, len(l.order))
	for i, id := range l.order {
		out[i] = DocInfo{ID: id, Title: Title(string(l.docs[id].text))}
	}
	return out
}

// Last returns the document opened most recently, if it still exists.
func (l *Library) Last() (DocID, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.last != ""
}

// Create adds an empty document, writes it and the index to disk at once,
// and returns its id.
func (l *Library) Create() (DocID, error) {
	var b [16]byte
	if _, err := io.ReadFull(l.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("create document: %w", err)
	}
	id := DocID(idEncoding.EncodeToString(b[:]))
	l.mu.Lock()
	if l.docs[id] != nil {
		l.mu.Unlock()
		return "", fmt.Errorf("create document: id %s already exists", id)
	}
	l.docs[id] = &docState{}
	l.order = append(l.order, id)
	l.indexOK = false
	l.mu.Unlock()
	if err := l.Flush(); err != nil {
		return "", fmt.Errorf("create document: %w", err)
	}
	return id, nil
}

// Open returns the document id and records it as the last opened one.
func (l *Library) Open(id DocID) (*Doc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.docs[id] == nil {
		return nil, fmt.Errorf("open %s: %w", id, ErrNotFound)
	}
	if l.last != id {
		l.last = id
		l.indexOK = false
		l.signal()
	}
	return &Doc{lib: l, id: id}, nil
}

// signal tells Run that something is unsaved. Called with l.mu held.
func (l *Library) signal() {
	select {
	case l.edited <- struct{}{}:
	default: // a signal is already pending
	}
}

// Flush writes every unsaved document and the index, if changed, to disk.
// Run calls it; tests and shutdown code may call it directly.
func (l *Library) Flush() error {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	type pending struct {
		id   DocID
		text string
		rev  uint64
	}
	l.mu.Lock()
	var work []pending
	for _, id := range l.order {
		if d := l.docs[id]; d.rev != d.saved || !d.onDisk {
			work = append(work, pending{id, string(d.text), d.rev})
		}
	}
	var idx *index
	if !l.indexOK {
		idx = &index{Version: indexVersion, Last: l.last, Docs: slices.Clone(l.order)}
		l.indexOK = true // set back to false below if writing fails
	}
	l.mu.Unlock()

	var errs []error
	for _, p := range work {
		if err := writeFileAtomic(l.docPath(p.id), []byte(p.text)); err != nil {
			errs = append(errs, fmt.Errorf("save %s: %w", p.id, err))
			continue
		}
		l.mu.Lock()
		l.docs[p.id].saved = max(l.docs[p.id].saved, p.rev)
		l.docs[p.id].onDisk = true
		l.mu.Unlock()
		l.log.Debug("saved document", "id", p.id, "rev", p.rev, "runes", len([]rune(p.text)))
	}
	if idx != nil {
		data, err := json.MarshalIndent(idx, "", "\t")
		if err == nil {
			err = writeFileAtomic(filepath.Join(l.cfg.Dir, indexFile), append(data, '\n'))
		}
		if err != nil {
			l.mu.Lock()
			l.indexOK = false
			l.mu.Unlock()
			errs = append(errs, fmt.Errorf("save index: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Run saves edits until ctx is cancelled: at most Config.SaveDelay after an
// edit, everything unsaved is flushed. A failed save is logged and retried
// after another SaveDelay. When ctx is cancelled Run flushes one last time
// and returns that flush's error.
func (l *Library) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	if !timer.Stop() {
		<-timer.C
	}
	pending := false
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return l.Flush()
		case <-l.edited:
			if !pending {
				pending = true
				timer.Reset(l.cfg.SaveDelay)
			}
		case <-timer.C:
			pending = false
			if err := l.Flush(); err != nil {
				l.log.Error("save failed; will retry", "err", err)
				pending = true
				timer.Reset(l.cfg.SaveDelay)
			}
		}
	}
}

// Doc is a handle on one document of a Library. Handles are cheap; several
// may refer to the same document.
type Doc struct {
	lib *Library
	id  DocID
}

// ID returns the document's id.
func (d *Doc) ID() DocID { return d.id }

// Text returns the document's current text.
func (d *Doc) Text() string {
	d.lib.mu.Lock()
	defer d.lib.mu.Unlock()
	return string(d.lib.docs[d.id].text)
}

// Edit replaces del runes starting at rune position pos with insert.
// Positions count Unicode code points (runes), as Fyne's text widgets do.
func (d *Doc) Edit(pos, del int, insert string) error {
	l := d.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.docs[d.id]
	if pos < 0 || del < 0 || pos+del > len(s.text) {
		return fmt.Errorf("edit %s at %d deleting %d of %d: %w", d.id, pos, del, len(s.text), ErrOutOfRange)
	}
	if del == 0 && insert == "" {
		return nil
	}
	s.text = slices.Concat(s.text[:pos], []rune(insert), s.text[pos+del:])
	s.rev++
	l.signal()
	return nil
}

// Title returns a document's title for lists: its first non-blank line
// without leading Markdown heading marks, cut to 60 runes, or "Untitled".
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
