// Package store owns Quire's on-disk state: the device identity key (a
// file of its own, identity.go) and one Badger database per device or
// relay holding every document's changes, snapshots and catalogue entry,
// plus small records for capability tokens, known peers and settings. The
// whole key schema, its version and its migrations are in schema.go.
//
// # Durability
//
// Append returns only after its changes are synced to disk (Badger with
// SyncWrites: the value log and the memtable's write-ahead log are
// fsynced before the commit returns). What Append acknowledged survives a
// crash of the process or the machine; only a failing disk can lose it.
// The changes of one Append commit atomically: after a crash either all
// or none of them are there.
//
// # Group commit
//
// One committer goroutine writes all document data. Append queues its
// request on a channel bounded by Config.QueueLen and waits. The
// committer takes every request queued while it was syncing the previous
// group (up to 4096) and commits them together, so a burst of typing from
// several documents costs a few syncs, not one per change. When the queue
// is full Append blocks until there is room: nothing is ever dropped.
// AppendAsync queues the same way but returns a channel for the result,
// so that one producer can keep many appends in flight.
//
// # Snapshots and compaction
//
// Opening a document reads its latest snapshot (doc.Encode() labelled
// with the heads and vector it covers, with a SHA-256 checksum) plus the
// change records stored after it. Run writes a new snapshot in the
// background once a document has Config.SnapshotEvery new changes (and,
// with Config.SnapshotQuiet set, no new change for that long, or four
// times as many new changes), and folds into it the changes it covers
// except the Config.KeepRecent most recently stored, which stay as
// received; Close snapshots every document with new changes. A snapshot is decoded and compared with the document
// before it is written, since it becomes the only copy of what it folds.
// The snapshot and the start of a new generation of change records (the
// kept records copied into it) commit through the committer, and the
// generation number is written last, so a crash leaves either the old
// state or the new one. Folded generations are dropped whole at Close and
// on Run's GC tick (schema.go says why); that blocks Append meanwhile.
//
// # Damage
//
// Every change record is checked when read: it is decoded and its hash
// recomputed and compared with the hash in its key; snapshots carry a
// checksum. A damaged record is skipped and reported (document and key)
// in LoadDoc's Status, which then says the document needs repair from
// peers. Damage never panics and never hides the intact records: a peer
// that resends a damaged change repairs it. Damage to Badger's own
// structures (manifest, key registry, table indexes) fails Open with
// Badger's error, and a Badger panic on a damaged table while reading
// becomes an error; the store cannot see below that.
//
// # Deletion
//
// Delete records a tombstone before removing a document's data, and
// Append refuses changes of a deleted document with ErrDeleted, so a
// stale peer cannot resurrect it.
//
// store never imports package p2p; callers pass what store loads (such as
// the identity key) to p2p through its Config.
package store
