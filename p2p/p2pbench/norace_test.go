//go:build !race

package p2pbench_test

const raceEnabled = false
