package p2pbench_test

import (
	"os"
	"testing"
	"time"

	"github.com/quire-dev/quire/p2p/p2pbench"
)

const automergePaper = "/work/shared/testdata/editing-traces/sequential/automerge-paper.json.gz"

func report(b *testing.B, l p2pbench.Latencies) {
	b.ReportMetric(float64(l.P50)/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(l.P99)/float64(time.Millisecond), "p99-ms")
	b.ReportMetric(float64(l.Missing), "missing")
	b.ReportMetric(float64(l.CPUPerKeystroke)/float64(time.Microsecond), "cpu-us/keystroke")
	b.Logf("%v", l)
}

// BenchmarkTyping2 is issue 6's "keystroke to applied, 2 peers" figure:
// one peer types 50 characters per second.
func BenchmarkTyping2(b *testing.B) {
	for b.Loop() {
		l, err := p2pbench.Typing(b.Context(), p2pbench.TypingOptions{Peers: 2, Typists: 1, Rate: 50, Keystrokes: 200, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		report(b, l)
	}
}

// BenchmarkTyping10 is "10 peers each typing 10 characters per second".
func BenchmarkTyping10(b *testing.B) {
	for b.Loop() {
		l, err := p2pbench.Typing(b.Context(), p2pbench.TypingOptions{Peers: 10, Rate: 10, Keystrokes: 30, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		report(b, l)
	}
}

// BenchmarkCatchUpAutomergePaper is "a fresh peer catches up the whole
// automerge-paper history from one peer".
func BenchmarkCatchUpAutomergePaper(b *testing.B) {
	if _, err := os.Stat(automergePaper); err != nil {
		b.Skipf("trace not available: %v", err)
	}
	f, err := p2pbench.LoadCatchUp(automergePaper)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r, err := p2pbench.CatchUp(b.Context(), f)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Time)/float64(time.Millisecond), "catchup-ms")
		b.ReportMetric(r.Ratio, "wire/encoded")
		b.Logf("%v", r)
	}
}

// TestSmoke runs each measurement once, small, so `go test` keeps them
// working.
func TestSmoke(t *testing.T) {
	l, err := p2pbench.Typing(t.Context(), p2pbench.TypingOptions{Peers: 3, Rate: 100, Keystrokes: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typing: %v", l)
	if testing.Short() || raceEnabled {
		t.Log("catch-up smoke skipped under -short or -race (minutes under the race detector); BenchmarkCatchUpAutomergePaper measures it")
		return
	}
	if _, err := os.Stat(automergePaper); err != nil {
		t.Skipf("trace not available: %v", err)
	}
	f, err := p2pbench.LoadCatchUp(automergePaper)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p2pbench.CatchUp(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("catch-up: %v", r)
}
