// Package app is the composition root of one Quire peer: it opens documents,
// keeps their text, persists local edits and (in later versions) hands them
// to the network and applies remote changes.
//
// The user interface talks to app in positions and strings only; app never
// imports Fyne or package ui, so the same peer runs headless in quirectl and
// in tests.
//
// For now documents are stored as one Markdown file each plus a small JSON
// index (see [Library]); a CRDT history in Badger replaces this later behind
// the same document-oriented API.
package app
