package crdt_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt"
)

// BenchmarkLocalEdit measures single local edits (a typed character or a
// backspace at a random place) on a 100,000-character document, and
// reports the 50th and 99th percentile latency of one edit.
func BenchmarkLocalEdit(b *testing.B) {
	d := crdt.New(crdt.DocID{'e'}, crdt.Author{1})
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2) + "\n"
	var sb strings.Builder
	for sb.Len() < 100_000 {
		sb.WriteString(line)
	}
	if err := d.Insert(0, sb.String()[:100_000]); err != nil {
		b.Fatal(err)
	}
	d.Seal()
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		pos := r.IntN(d.Len())
		start := time.Now()
		var err error
		if i%3 == 2 {
			err = d.Delete(pos, 1)
		} else {
			err = d.Insert(pos, "x")
		}
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if i%50 == 49 {
			d.Seal() // typing is sealed every ~100 ms
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
