//go:build race

package p2pbench_test

// raceEnabled reports a -race build: the catch-up smoke test replays a
// 260k-op trace and takes minutes under the race detector; the benchmarks
// measure it without.
const raceEnabled = true
