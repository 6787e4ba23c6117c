//go:build race

package testnet

// raceEnabled reports a -race build, which runs fewer simulation seeds by
// default (see runSeeds).
const raceEnabled = true
