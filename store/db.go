package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/quire-dev/quire/crdt"
)

// Errors callers branch on.
var (
	// ErrLocked is returned by Open when another process holds the
	// database directory.
	ErrLocked = errors.New("database is in use by another process")
	// ErrNewerSchema is returned by Open for a database written by a newer
	// version of Quire.
	ErrNewerSchema = errors.New("database was written by a newer version of Quire")
	// ErrDeleted is returned for a document that was deleted on this device.
	ErrDeleted = errors.New("document deleted")
	// ErrNotFound is returned for a document or record the store does not hold.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("store closed")
)

// Config configures Open. The zero value of every field but Dir means a
// sensible default.
type Config struct {
	// Dir is the data directory; the database lives in Dir/db.
	Dir string
	// Logger receives the store's and Badger's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for catalogue times; nil means time.Now.
	Now func() time.Time
	// SnapshotEvery is the number of changes stored after a document's
	// last snapshot that makes Run write a new one (default 1000).
	SnapshotEvery int
	// SnapshotQuiet, when positive, makes Run wait until a document that
	// is due for a snapshot has gone that long without a stored change,
	// so that compaction (a burst of CPU) runs between bursts of editing
	// rather than inside one. A document with 4×SnapshotEvery changes
	// since its snapshot is compacted at once, quiet or not. Zero means
	// compact as soon as a document is due.
	SnapshotQuiet time.Duration
	// After is the timer Run waits on for SnapshotQuiet; nil means
	// time.After. Tests inject one they fire themselves.
	After func(time.Duration) <-chan time.Time
	// KeepRecent is how many of a document's most recently stored changes
	// compaction keeps as received instead of folding them into the
	// snapshot (default 128).
	KeepRecent int
	// QueueLen bounds the queue of Append calls waiting for the committer
	// (default 1024). When it is full, Append blocks; nothing is dropped.
	QueueLen int
	// GCInterval is how often Run collects value-log garbage (default 10
	// minutes). GCTick, when set, replaces the timer (tests send on it).
	GCInterval time.Duration
	GCTick     <-chan time.Time
	// MemTableSize is Badger's memtable size (default 8 MiB); the block
	// cache is the same size. See SETUP.md: defaults cost ~200 MB of RSS.
	MemTableSize int64

	hooks *hooks // tests only
}

// hooks let tests observe moments inside the store (the crash test prints
// them so that the parent can kill the child there).
type hooks struct {
	snapshotWrite func(crdt.DocID)  // before a snapshot's transaction commits
	gc            func()            // before a periodic vacuum and value-log GC
	compactPass   func(waiting int) // after Run's compaction pass; waiting: due docs left for quiet
	commit        func(n int)       // before a group of n requests commits
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("store: Config.Dir is empty")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = 1000
	}
	if c.KeepRecent < 0 {
		return errors.New("store: Config.KeepRecent is negative")
	}
	if c.KeepRecent == 0 {
		c.KeepRecent = 128
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 1024
	}
	if c.GCInterval <= 0 {
		c.GCInterval = 10 * time.Minute
	}
	if c.MemTableSize <= 0 {
		c.MemTableSize = 8 << 20
	}
	if c.SnapshotQuiet < 0 {
		return errors.New("store: Config.SnapshotQuiet is negative")
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.hooks == nil {
		c.hooks = &hooks{}
	}
	return nil
}

// DB is the store of one device (or relay): the one owner of its Badger
// database. Its methods are safe for concurrent use.
type DB struct {
	cfg  Config
	log  *slog.Logger
	bdb  *badger.DB
	path string

	reqs    chan *request // to the committer; bounded by Config.QueueLen
	stop    chan struct{} // closed by Close: the committer drains and exits
	stopped chan struct{} // closed when the committer has exited
	dirty   chan struct{} // cap 1: wakes the compactor
	// urgent is set by the committer when a document reaches the
	// snapshot cap (4×SnapshotEvery): Run compacts it without waiting for
	// quiet.
	urgent atomic.Bool

	compactMu sync.Mutex // serialises compactions

	closeOnce sync.Once
	closeErr  error

	// mu guards closed against Append racing with Close.
	mu     sync.RWMutex
	closed bool
}

// Open opens or creates the database in cfg.Dir. It fails fast with
// ErrLocked when another process has it open, and with ErrNewerSchema when
// a newer Quire wrote it. Open starts the committer goroutine, which
// Append needs from the first call; Close stops it. (This is the one
// exception to "constructors start nothing": durability must not depend on
// the caller remembering to call Run.) Background maintenance runs only
// under Run.
func Open(cfg Config) (*DB, error) {
	return open(cfg, migrations)
}

func open(cfg Config, migs map[int]migration) (*DB, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Dir, "db")
	if err := removeEmptyVlogs(path, cfg.Logger); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	bdb, err := badger.Open(BadgerOptions(path, cfg.MemTableSize, cfg.Logger))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkSchema(bdb, migs, cfg.Logger); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{
		cfg:     cfg,
		log:     cfg.Logger,
		bdb:     bdb,
		path:    path,
		reqs:    make(chan *request, cfg.QueueLen),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		dirty:   make(chan struct{}, 1),
	}
	c := newCommitter(db)
	go c.run()
	return db, nil
}

// removeEmptyVlogs removes value-log files of zero length. A crash
// between creating a value-log file and sizing it leaves one, and Badger
// v4.9.6 then refuses to open ("Open existing file ... Create a new file":
// valueLog.open treats z.NewFile as an error where openMemTable does not).
// An empty file holds no values, so nothing is lost. The crash test found
// this.
func removeEmptyVlogs(path string, log *slog.Logger) error {
	files, err := filepath.Glob(filepath.Join(path, "*.vlog"))
	if err != nil {
		return err
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil || info.Size() != 0 {
			continue
		}
		log.Warn("removing empty value-log file left by a crash", "file", f)
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

// BadgerOptions are Quire's Badger settings for a database in path (the
// store's, the relay's mailbox): small memtables of memTable bytes and
// caches to match (SETUP.md), synced writes, one version per key, small
// value-log files so that GC can give space back, no compression (change
// encodings are tiny and snapshots are DEFLATE-compressed by the CRDT;
// uncompressed records also stay checkable by their hashes when a byte
// flips on disk), and Badger's logs sent to log.
func BadgerOptions(path string, memTable int64, log *slog.Logger) badger.Options {
	mt := memTable
	return badger.DefaultOptions(path).
		WithLogger(badgerLogger{log}).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithMemTableSize(mt).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(mt / 4).
		// Values up to 1 MiB (every change, most snapshots) stay in the
		// LSM tree, where compaction drops replaced snapshots and folded
		// changes; only bigger snapshots go to the value log. The
		// threshold must stay below 15% of the memtable.
		WithValueThreshold(min(1<<20, mt/8)).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(mt).
		WithIndexCacheSize(4 << 20).
		WithNumCompactors(2).
		WithCompression(options.None)
	// Block checksums stay unverified (Badger's default): with
	// verification one flipped byte in a table makes Open fail for the
	// whole database, while unverified a damaged record reaches the
	// store's own hash check and only that record is lost. Damage to
	// Badger's own structures (manifest, key registry, table index) still
	// fails Open with Badger's error; a panic it causes while reading is
	// recovered in readDoc.
}

// checkSchema records the schema version of a new database, refuses a
// newer one and runs migrations on an older one.
func checkSchema(bdb *badger.DB, migs map[int]migration, log *slog.Logger) error {
	v, found, err := readSchema(bdb)
	if err != nil {
		return err
	}
	if !found {
		return bdb.Update(func(txn *badger.Txn) error {
			return txn.Set(keySchema, binary.AppendUvarint(nil, SchemaVersion))
		})
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d, this build reads up to %d: %w", v, SchemaVersion, ErrNewerSchema)
	}
	for ; v < SchemaVersion; v++ {
		m, ok := migs[v]
		if !ok {
			return fmt.Errorf("no migration from schema version %d", v)
		}
		log.Info("migrating store schema", "from", v, "to", v+1)
		err := bdb.Update(func(txn *badger.Txn) error {
			if err := m(txn); err != nil {
				return err
			}
			return txn.Set(keySchema, binary.AppendUvarint(nil, uint64(v+1)))
		})
		if err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return nil
}

func readSchema(bdb *badger.DB) (int, bool, error) {
	var v uint64
	found := false
	err := bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			var n int
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return errors.New("bad schema version record")
			}
			found = true
			return nil
		})
	})
	return int(v), found, err
}

// Close stops the committer after it has answered every queued Append,
// writes a snapshot of every document with changes since its last one,
// and closes the database. Call it once Run has returned.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		db.mu.Unlock()
		snapErr := db.snapshotDirty(context.Background())
		if snapErr == nil {
			snapErr = db.doInternal(&request{kind: reqVacuum})
		}
		close(db.stop)
		<-db.stopped
		db.closeErr = errors.Join(snapErr, db.bdb.Close())
	})
	return db.closeErr
}

// Run does the background work until ctx is cancelled: it writes
// snapshots and compacts document histories when Append reports enough new
// changes (after Config.SnapshotQuiet without new changes, if set), and
// every Config.GCInterval it drops folded generations (see schema.go; this
// blocks Append for the duration) and collects value-log garbage. It
// returns after all its goroutines have exited.
func (db *DB) Run(ctx context.Context) error {
	tick := db.cfg.GCTick
	if tick == nil {
		t := time.NewTicker(db.cfg.GCInterval)
		defer t.Stop()
		tick = t.C
	}
	var quiet <-chan time.Time // armed while a due document is still being edited
	pass := func() {
		wait, err := db.snapshotDue(ctx)
		if err != nil && ctx.Err() == nil {
			db.log.Error("store compaction", "err", err)
		}
		if wait > 0 {
			quiet = db.cfg.After(wait)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-db.dirty:
			// While the quiet timer is armed it will look again; only a
			// document at the cap needs a pass now. The flag is cleared
			// on every wake-up, so a pass never runs for a stale one.
			if urgent := db.urgent.Swap(false); quiet == nil || urgent {
				quiet = nil
				pass()
			}
		case <-quiet:
			quiet = nil
			pass()
		case <-tick:
			if db.cfg.hooks.gc != nil {
				db.cfg.hooks.gc()
			}
			if err := db.doInternal(&request{kind: reqVacuum}); err != nil {
				db.log.Error("store vacuum", "err", err)
			}
			db.GC()
		}
	}
}

// GC collects value-log garbage until Badger finds nothing worth
// rewriting. Run calls it periodically; tools may call it directly.
func (db *DB) GC() {
	for range 64 {
		if err := db.bdb.RunValueLogGC(0.5); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				db.log.Warn("value log gc", "err", err)
			}
			return
		}
	}
}

// badgerLogger routes Badger's logs to slog; its chatty info lines go to
// debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error("badger: " + trim(f, a)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn("badger: " + trim(f, a)) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug("badger: " + trim(f, a)) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug("badger: " + trim(f, a)) }

func trim(f string, a []any) string { return strings.TrimSpace(fmt.Sprintf(f, a...)) }

func sortedAuthors(v crdt.Vector) []crdt.Author {
	as := make([]crdt.Author, 0, len(v))
	for a := range v {
		as = append(as, a)
	}
	slices.SortFunc(as, crdt.Author.Compare)
	return as
}
