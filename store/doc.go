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
// group and commits them together, so a burst of typing from several
// documents costs a few syncs, not one per change. When the queue is full
// Append blocks until there is room: nothing is ever dropped.
//
// # Snapshots and compaction
//
// Opening a document reads its latest snapshot (doc.Encode() labelled
// with the heads and vector it covers, with a SHA-256 checksum) plus the
// change records stored after it. Run writes a new snapshot in the
// background once a document has Config.SnapshotEvery new changes, and
// folds into it the changes it covers except the Config.KeepRecent most
// recently stored, which stay as received; Close snapshots every document
// with new changes. The snapshot and the deletion of the folded records
// commit in one transaction through the committer, so a crash leaves
// either the old state or the new one.
//
// # Damage
//
// Every change record is checked when read: it is decoded and its hash
// recomputed and compared with the hash in its key; snapshots carry a
// checksum. A damaged record is skipped and reported (document and key)
// in LoadDoc's Status, which then says the document needs repair from
// peers. Damage never panics and never hides the intact records.
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
