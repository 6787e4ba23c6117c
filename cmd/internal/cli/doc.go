// Package cli is the command-line plumbing shared by Quire's binaries
// (quire, quire-relay, quirectl): flag parsing with consistent exit codes,
// the -log-level flag and slog setup, the version string from the build
// information, default data directories and signal handling.
//
// Only packages under cmd/ import it.
package cli
