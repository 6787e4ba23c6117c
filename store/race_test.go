//go:build race

package store

// raceEnabled shortens the crash test under the race detector, where each
// child process runs several times slower.
const raceEnabled = true
