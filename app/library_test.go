package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

func openLib(t *testing.T, dir string) *Library {
	t.Helper()
	lib, err := OpenLibrary(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

func mustCreate(t *testing.T, lib *Library) *Doc {
	t.Helper()
	id, err := lib.Create()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := lib.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestLibraryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir)
	if got := lib.List(); len(got) != 0 {
		t.Fatalf("new library lists %v", got)
	}
	first := mustCreate(t, lib)
	second := mustCreate(t, lib)
	for _, e := range []struct {
		doc      *Doc
		pos, del int
		ins      string
	}{
		{first, 0, 0, "# Hello wörld\n"},
		{first, 8, 5, "world"},
		{second, 0, 0, "notes"},
		{first, 0, 0, ""}, // no-op
	} {
		if err := e.doc.Edit(e.pos, e.del, e.ins); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lib.Open(first.ID()); err != nil { // make first the last opened
		t.Fatal(err)
	}
	if err := lib.Flush(); err != nil {
		t.Fatal(err)
	}

	re := openLib(t, dir)
	want := []DocInfo{{first.ID(), "Hello world"}, {second.ID(), "notes"}}
	got := re.List()
	if len(got) != len(want) {
		t.Fatalf("List after reopen = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("List()[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if last, ok := re.Last(); !ok || last != first.ID() {
		t.Errorf("Last = %q, %v; want %q", last, ok, first.ID())
	}
	doc, err := re.Open(first.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := doc.Text(), "# Hello world\n"; got != want {
		t.Errorf("text after reopen = %q, want %q", got, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "docs", string(first.ID())+".md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "# Hello world\n" {
		t.Errorf("file holds %q, want plain Markdown", data)
	}
}

func TestCreatePersistsAtOnce(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir)
	id, err := lib.Create()
	if err != nil {
		t.Fatal(err)
	}
	re := openLib(t, dir)
	if got := re.List(); len(got) != 1 || got[0].ID != id || got[0].Title != "Untitled" {
		t.Errorf("List after reopen = %v, want one Untitled %s", got, id)
	}
}

func TestEditErrors(t *testing.T) {
	lib := openLib(t, t.TempDir())
	doc := mustCreate(t, lib)
	if err := doc.Edit(0, 0, "abc"); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]int{{-1, 0}, {0, -1}, {4, 0}, {2, 2}} {
		if err := doc.Edit(e[0], e[1], "x"); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Edit(%d, %d) err = %v, want ErrOutOfRange", e[0], e[1], err)
		}
	}
	if _, err := lib.Open("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestRecoverUnindexedAndIgnoreJunk(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir)
	doc := mustCreate(t, lib)
	if err := doc.Edit(0, 0, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := lib.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
	for _, junk := range []string{"README.txt", "../x.md", ".tmp.md.123.tmp", "short.md"} {
		if err := os.WriteFile(filepath.Join(dir, "docs", filepath.Base(junk)), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	re := openLib(t, dir)
	if got := re.List(); len(got) != 1 || got[0].ID != doc.ID() {
		t.Errorf("List = %v, want only %s", got, doc.ID())
	}
}

func TestCorruptIndex(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLibrary(Config{Dir: dir}); err == nil {
		t.Error("OpenLibrary accepted a corrupt index")
	}
}

func TestTitle(t *testing.T) {
	tests := []struct{ text, want string }{
		{"", "Untitled"},
		{"\n  \n", "Untitled"},
		{"## Plan  \nbody", "Plan"},
		{"\n\nfirst words\nsecond", "first words"},
		{string(bytes.Repeat([]byte("é"), 70)), string(bytes.Repeat([]byte("é"), 59)) + "…"},
	}
	for _, tt := range tests {
		if got := Title(tt.text); got != tt.want {
			t.Errorf("Title(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// TestRunSavesAfterDelay checks the debounce with a fake clock: an edit is
// on disk SaveDelay after it was made, not before, and cancelling Run
// flushes what is left.
func TestRunSavesAfterDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		lib, err := OpenLibrary(Config{Dir: dir, SaveDelay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		doc := mustCreate(t, lib)
		path := filepath.Join(dir, "docs", string(doc.ID())+".md")
		onDisk := func() string {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- lib.Run(ctx) }()

		if err := doc.Edit(0, 0, "a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(999 * time.Millisecond) // fake clock: advances instantly
		synctest.Wait()
		if got := onDisk(); got != "" {
			t.Errorf("saved %q before the delay", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := onDisk(); got != "a" {
			t.Errorf("after the delay file = %q, want %q", got, "a")
		}

		if err := doc.Edit(1, 0, "b"); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := onDisk(); got != "ab" {
			t.Errorf("after shutdown file = %q, want %q", got, "ab")
		}
	})
}
