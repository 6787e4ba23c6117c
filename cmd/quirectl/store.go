package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/trace"
	"github.com/quire-dev/quire/store"
)

// storeCommand inspects a data directory's store: list documents, print
// one, check every record.
func storeCommand() *command {
	type flags struct{ dir string }
	return &command{
		name:     "store",
		synopsis: "[-dir DIR] ls | cat DOC | check [DOC...] | load DOC",
		summary:  "inspect the document store of a data directory",
		detail: "ls lists the catalogue (id, title, times, size, change records).\n" +
			"cat prints a document's text. check loads every document (or the\n" +
			"ones named) and reports damaged records and missing history; it exits 1\n" +
			"when any document needs repair. load opens one document and prints the\n" +
			"time it took and the process's RSS as JSON (bench store runs it).\n" +
			"The store must not be open in another process (ErrLocked).",
		flags: func(fs *flag.FlagSet) any {
			f := &flags{}
			def, _ := cli.DataDir("quire", "QUIRE_DATA", os.Getenv)
			fs.StringVar(&f.dir, "dir", def, "data directory")
			return f
		},
		main: func(_ context.Context, e env, v any, args []string) int {
			f := v.(*flags)
			if len(args) == 0 {
				return cli.Usagef(e.stderr, "quirectl store", "want ls, cat, check or load")
			}
			start := time.Now()
			db, err := store.Open(store.Config{Dir: f.dir, Logger: e.log})
			if err != nil {
				fmt.Fprintf(e.stderr, "quirectl store: %v\n", err)
				return cli.ExitError
			}
			opened := time.Since(start)
			defer db.Close()
			switch args[0] {
			case "ls":
				return storeLs(e, db)
			case "cat":
				if len(args) != 2 {
					return cli.Usagef(e.stderr, "quirectl store cat", "want one document id")
				}
				return storeCat(e, db, args[1])
			case "check":
				return storeCheck(e, db, args[1:])
			case "load":
				if len(args) != 2 {
					return cli.Usagef(e.stderr, "quirectl store load", "want one document id")
				}
				return storeLoad(e, db, args[1], opened)
			}
			return cli.Usagef(e.stderr, "quirectl store", "unknown subcommand %q", args[0])
		},
	}
}

func storeLs(e env, db *store.DB) int {
	list, err := db.List()
	if err != nil {
		fmt.Fprintf(e.stderr, "quirectl store: %v\n", err)
		return cli.ExitError
	}
	for _, d := range list {
		arch := ""
		if d.Archived {
			arch = " archived"
		}
		fmt.Fprintf(e.stdout, "%s\t%q\tcreated %s\tmodified %s\t%d bytes\t%d changes%s\n", d.ID, d.Title,
			d.Created.Format(time.RFC3339), d.Modified.Format(time.RFC3339), d.Bytes, d.Changes, arch)
	}
	return cli.ExitOK
}

func storeCat(e env, db *store.DB, arg string) int {
	id, err := crdt.ParseDocID(arg)
	if err != nil {
		return cli.Usagef(e.stderr, "quirectl store cat", "%v", err)
	}
	d, st, err := db.LoadDoc(id, crdt.Author{})
	if err != nil {
		fmt.Fprintf(e.stderr, "quirectl store: %v\n", err)
		return cli.ExitError
	}
	fmt.Fprint(e.stdout, d.Text())
	if st.NeedsRepair() {
		fmt.Fprintf(e.stderr, "quirectl store: %s needs repair: %d damaged records, %d missing changes\n", id, len(st.Damaged), len(st.Missing))
		return cli.ExitError
	}
	return cli.ExitOK
}

func storeCheck(e env, db *store.DB, args []string) int {
	var ids []crdt.DocID
	for _, a := range args {
		id, err := crdt.ParseDocID(a)
		if err != nil {
			return cli.Usagef(e.stderr, "quirectl store check", "%v", err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		list, err := db.List()
		if err != nil {
			fmt.Fprintf(e.stderr, "quirectl store: %v\n", err)
			return cli.ExitError
		}
		for _, d := range list {
			ids = append(ids, d.ID)
		}
	}
	code := cli.ExitOK
	for _, id := range ids {
		_, st, err := db.LoadDoc(id, crdt.Author{})
		switch {
		case err != nil:
			fmt.Fprintf(e.stdout, "%s\terror: %v\n", id, err)
			code = cli.ExitError
		case st.NeedsRepair():
			fmt.Fprintf(e.stdout, "%s\tneeds repair: %d damaged, %d missing\n", id, len(st.Damaged), len(st.Missing))
			for _, d := range st.Damaged {
				fmt.Fprintf(e.stdout, "\t%s\n", d)
			}
			code = cli.ExitError
		default:
			fmt.Fprintf(e.stdout, "%s\tok (snapshot %v, %d changes after it)\n", id, st.FromSnapshot, st.Changes)
		}
	}
	return code
}

// loadResult is what "store load" prints.
type loadResult struct {
	OpenMS   float64 `json:"open_ms"`
	LoadMS   float64 `json:"load_ms"`
	Len      int     `json:"len"`
	RSSBytes int64   `json:"rss_bytes"`
}

func storeLoad(e env, db *store.DB, arg string, opened time.Duration) int {
	id, err := crdt.ParseDocID(arg)
	if err != nil {
		return cli.Usagef(e.stderr, "quirectl store load", "%v", err)
	}
	start := time.Now()
	d, _, err := db.LoadDoc(id, crdt.Author{})
	if err != nil {
		fmt.Fprintf(e.stderr, "quirectl store: %v\n", err)
		return cli.ExitError
	}
	r := loadResult{OpenMS: ms(opened), LoadMS: ms(time.Since(start)), Len: d.Len(), RSSBytes: rss()}
	json.NewEncoder(e.stdout).Encode(r)
	return cli.ExitOK
}

// rss returns the process's resident set size from /proc/self/status, or
// -1 where there is none.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// withStoreBench adds "bench store" to the bench command, leaving its
// other subcommands to it.
func withStoreBench(c *command) *command {
	inner := c.main
	c.synopsis += " | store [-runs N] [-writers N] FILE.json.gz"
	c.detail += "\n\nbench store ingests a sequential trace into a fresh store as one change per\n" +
		"txn from -writers concurrent Append callers (group commit), closes it (final\n" +
		"snapshot and compaction), and prints one JSON object: changes_per_sec,\n" +
		"batch_changes_per_sec (Append of 1000 at a time), disk_bytes after compaction\n" +
		"and the CRDT's encoded_bytes, open_ms (Open plus LoadDoc) and load_ms, and\n" +
		"rss_bytes of a child process holding the store and the document. Medians."
	c.main = func(ctx context.Context, e env, v any, args []string) int {
		if len(args) > 0 && args[0] == "store" {
			return benchStore(ctx, e, args[1:])
		}
		return inner(ctx, e, v, args)
	}
	return c
}

// storeBenchResult is one line of "bench store".
type storeBenchResult struct {
	Trace              string  `json:"trace"`
	Changes            int     `json:"changes"`
	Writers            int     `json:"writers"`
	ChangesPerSec      float64 `json:"changes_per_sec"`
	PipelinedPerSec    float64 `json:"pipelined_changes_per_sec"`
	BatchChangesPerSec float64 `json:"batch_changes_per_sec"`
	EncodedBytes       int     `json:"encoded_bytes"`
	DiskBytes          int64   `json:"disk_bytes"`
	DiskAllocBytes     int64   `json:"disk_alloc_bytes"`
	LiveBytes          int64   `json:"live_bytes"`
	OpenMS             float64 `json:"open_ms"`
	LoadMS             float64 `json:"load_ms"`
	RSSBytes           int64   `json:"rss_bytes"`
	FinalOK            bool    `json:"final_ok"`
}

func benchStore(ctx context.Context, e env, args []string) int {
	fs := cli.NewFlagSet("quirectl bench store", "[-runs N] [-writers N] FILE.json.gz", "Measures the store on an editing trace.", e.stderr)
	runs := fs.Int("runs", 5, "runs per figure; figures are medians")
	writers := fs.Int("writers", 64, "concurrent Append callers, one change per call")
	keep := fs.String("keep", "", "keep the last run's data directory here")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 || *runs < 1 || *writers < 1 {
		return cli.Usagef(e.stderr, "quirectl bench store", "want one trace file, -runs and -writers at least 1")
	}
	t, err := trace.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.stderr, "quirectl bench: %v\n", err)
		return cli.ExitError
	}
	ref, changes, err := trace.ReplaySequential(t, true)
	if err != nil {
		fmt.Fprintf(e.stderr, "quirectl bench: %v\n", err)
		return cli.ExitError
	}
	res := storeBenchResult{Trace: t.Name, Changes: len(changes), Writers: *writers, EncodedBytes: len(ref.Encode()), FinalOK: true}
	var rates, batchRates, pipeRates, opens, loads []float64
	var disks, allocs, rsses, lives []int64
	for run := range *runs {
		dir, err := os.MkdirTemp("", "quire-bench-store-")
		if err != nil {
			fmt.Fprintf(e.stderr, "quirectl bench: %v\n", err)
			return cli.ExitError
		}
		m, err := benchStoreRun(ctx, e, dir, ref, changes, *writers, run == 0)
		if *keep != "" && run == *runs-1 {
			os.RemoveAll(*keep)
			err = errors.Join(err, os.Rename(dir, *keep))
		} else {
			os.RemoveAll(dir)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "quirectl bench store: %v\n", err)
			return cli.ExitError
		}
		res.FinalOK = res.FinalOK && m.ok
		rates = append(rates, m.rate)
		if m.batchRate > 0 {
			batchRates, pipeRates = append(batchRates, m.batchRate), append(pipeRates, m.pipeRate)
		}
		allocs = append(allocs, m.alloc)
		opens, loads = append(opens, m.open), append(loads, m.load)
		disks, rsses, lives = append(disks, m.disk), append(rsses, m.rss), append(lives, m.live)
	}
	res.ChangesPerSec, res.BatchChangesPerSec, res.PipelinedPerSec = median(rates), median(batchRates), median(pipeRates)
	res.DiskAllocBytes = medianInt(allocs)
	res.OpenMS, res.LoadMS = median(opens), median(loads)
	res.DiskBytes, res.RSSBytes, res.LiveBytes = medianInt(disks), medianInt(rsses), medianInt(lives)
	json.NewEncoder(e.stdout).Encode(res)
	if !res.FinalOK {
		return cli.ExitError
	}
	return cli.ExitOK
}

type storeRun struct {
	rate, batchRate, pipeRate, open, load float64
	disk, alloc, live, rss                int64
	ok                                    bool
}

func benchStoreRun(ctx context.Context, e env, dir string, ref *crdt.Doc, changes []*crdt.Change, writers int, batch bool) (storeRun, error) {
	var m storeRun
	id := ref.ID()
	if batch {
		// Appends of 1000 changes at a time, for comparison.
		bdir := filepath.Join(dir, "batch")
		db, err := store.Open(store.Config{Dir: bdir})
		if err != nil {
			return m, err
		}
		start := time.Now()
		for i := 0; i < len(changes); i += 1000 {
			if err := db.Append(id, changes[i:min(i+1000, len(changes))]...); err != nil {
				db.Close()
				return m, err
			}
		}
		m.batchRate = float64(len(changes)) / time.Since(start).Seconds()
		db.Close()
		os.RemoveAll(bdir)

		// One producer, one change per AppendAsync, results awaited in
		// order by a second goroutine: many appends in flight.
		db, err = store.Open(store.Config{Dir: bdir})
		if err != nil {
			return m, err
		}
		acks := make(chan (<-chan error), 4096)
		var ackErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			for a := range acks {
				if err := <-a; err != nil && ackErr == nil {
					ackErr = err
				}
			}
		})
		start = time.Now()
		for _, c := range changes {
			acks <- db.AppendAsync(id, c)
		}
		close(acks)
		wg.Wait()
		m.pipeRate = float64(len(changes)) / time.Since(start).Seconds()
		db.Close()
		os.RemoveAll(bdir)
		if ackErr != nil {
			return m, ackErr
		}
	}

	db, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		return m, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var bg, wg sync.WaitGroup
	bg.Go(func() { db.Run(rctx) })
	var next atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(changes) {
					return
				}
				if err := db.Append(id, changes[i]); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	m.rate = float64(len(changes)) / time.Since(start).Seconds()
	cancel()
	bg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		db.Close()
		return m, err
	}
	if err := db.Close(); err != nil {
		return m, err
	}
	m.disk, m.alloc = duBytes(dir)

	// Open to an editable document, several times; the median is the figure.
	var opens, loads []float64
	for range 5 {
		start := time.Now()
		db, err := store.Open(store.Config{Dir: dir})
		if err != nil {
			return m, err
		}
		mid := time.Now()
		d, _, err := db.LoadDoc(id, crdt.Author{})
		end := time.Now()
		if err != nil {
			db.Close()
			return m, err
		}
		m.ok = d.Text() == ref.Text()
		if info, err := db.Info(id); err == nil {
			m.live = info.Bytes
		}
		db.Close()
		opens, loads = append(opens, ms(end.Sub(start))), append(loads, ms(end.Sub(mid)))
	}
	m.open, m.load = median(opens), median(loads)

	// RSS of a fresh process holding the store and the document.
	exe, err := os.Executable()
	if err != nil {
		return m, err
	}
	out, err := exec.CommandContext(ctx, exe, "store", "-dir", dir, "load", id.String()).Output()
	if err != nil {
		return m, fmt.Errorf("child store load: %w", err)
	}
	var lr loadResult
	if err := json.Unmarshal(out, &lr); err != nil {
		return m, fmt.Errorf("child store load: %w", err)
	}
	m.rss = lr.RSSBytes
	return m, nil
}

// duBytes returns the size of the files under dir, and the bytes
// allocated to them where the platform says (Badger preallocates sparse
// files, such as its 1 MiB DISCARD file).
func duBytes(dir string) (size, alloc int64) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				size += info.Size()
				alloc += allocated(info)
			}
		}
		return nil
	})
	return size, alloc
}

// allocated reads the block count of a Unix stat result through
// reflection, so that this file builds on every platform; elsewhere it
// returns the file size.
func allocated(info fs.FileInfo) int64 {
	v := reflect.ValueOf(info.Sys())
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if b := v.Elem().FieldByName("Blocks"); b.IsValid() && b.CanInt() {
			return b.Int() * 512
		}
	}
	return info.Size()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func medianInt(xs []int64) int64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}
