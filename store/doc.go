// Package store owns Quire's on-disk state: the device identity key today,
// and later the Badger database with its key schema (changes, heads,
// snapshots, tokens, known peers).
//
// store never imports package p2p; callers pass what store loads (such as
// the identity key) to p2p through its Config.
package store
