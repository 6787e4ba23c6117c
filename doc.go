// Package quire is the root of Quire, a local-first peer-to-peer
// collaborative Markdown editor. The root package holds no code; it exists
// for the repository-wide tests, such as deps_test.go, which enforces the
// package dependency direction described in DESIGN.md.
package quire
