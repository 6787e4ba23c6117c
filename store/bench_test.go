package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/trace"
)

const benchTrace = "../../shared/testdata/editing-traces/sequential/automerge-paper.json.gz"

var benchChanges = sync.OnceValues(func() ([]*crdt.Change, error) {
	t, err := trace.Load(benchTrace)
	if err != nil {
		return nil, err
	}
	_, cs, err := trace.ReplaySequential(t, true)
	return cs, err
})

// BenchmarkAppend measures group commit: writers concurrent callers each
// Append one change of automerge-paper at a time (b.N changes in all).
func BenchmarkAppend(b *testing.B) {
	cs, err := benchChanges()
	if err != nil {
		b.Skip(err)
	}
	for _, writers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db := openT(b, Config{Dir: b.TempDir()})
			ctx, cancel := context.WithCancel(context.Background())
			var bg sync.WaitGroup
			bg.Go(func() { db.Run(ctx) })
			n := min(b.N, len(cs))
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= n {
							return
						}
						if err := db.Append(trace.DocID, cs[i]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "changes/s")
			cancel()
			bg.Wait()
			db.Close()
		})
	}
}
