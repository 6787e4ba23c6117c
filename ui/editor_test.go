package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/quire-dev/quire/app"
)

func openLib(t *testing.T, dir string) *app.Library {
	t.Helper()
	lib, err := app.OpenLibrary(app.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// newEditor builds an Editor on lib in a headless test window.
func newEditor(t *testing.T, lib *app.Library) *Editor {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	e := NewEditor(lib, w, nil)
	w.SetContent(e.Content())
	return e
}

func TestTypedTextSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir)
	e := newEditor(t, lib)
	if e.Open() == "" {
		t.Fatal("a new library opened no document")
	}
	test.Type(e.entry, "# Shopping\nmilk")
	e.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
	test.Type(e.entry, "k\n")
	if got, want := e.entry.Text, "# Shopping\nmilk\n"; got != want {
		t.Fatalf("entry text = %q, want %q", got, want)
	}
	if err := lib.Flush(); err != nil { // what Library.Run does on shutdown
		t.Fatal(err)
	}

	re := newEditor(t, openLib(t, dir))
	if got, want := re.entry.Text, "# Shopping\nmilk\n"; got != want {
		t.Errorf("after restart entry text = %q, want %q", got, want)
	}
	if got := re.docs; len(got) != 1 || got[0].Title != "Shopping" {
		t.Errorf("after restart list = %v, want one document titled Shopping", got)
	}
}

func TestNewDocumentAndLastOpened(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir)
	e := newEditor(t, lib)
	first := e.Open()
	test.Type(e.entry, "first")
	e.NewDocument()
	second := e.Open()
	if second == first {
		t.Fatal("NewDocument did not open a new document")
	}
	if e.entry.Text != "" {
		t.Errorf("new document shows %q, want empty", e.entry.Text)
	}
	test.Type(e.entry, "second")
	e.list.Select(0) // back to the first, as a click would
	if e.Open() != first || e.entry.Text != "first" {
		t.Errorf("after selecting the first document: open %s with %q", e.Open(), e.entry.Text)
	}
	e.list.Select(1)
	if err := lib.Flush(); err != nil {
		t.Fatal(err)
	}

	re := newEditor(t, openLib(t, dir))
	if re.Open() != second || re.entry.Text != "second" {
		t.Errorf("after restart: open %s with %q, want %s with %q", re.Open(), re.entry.Text, second, "second")
	}
	if len(re.docs) != 2 {
		t.Errorf("after restart list has %d documents, want 2", len(re.docs))
	}
}

func TestSplice(t *testing.T) {
	tests := []struct {
		old, new string
		pos, del int
		ins      string
	}{
		{"", "", 0, 0, ""},
		{"", "a", 0, 0, "a"},
		{"abc", "abXc", 2, 0, "X"},
		{"abc", "ac", 1, 1, ""},
		{"aaa", "aa", 2, 1, ""},
		{"héllo", "hé!llo", 2, 0, "!"},
		{"one two", "one 2", 4, 3, "2"},
	}
	for _, tt := range tests {
		pos, del, ins := Splice(tt.old, tt.new)
		if pos != tt.pos || del != tt.del || ins != tt.ins {
			t.Errorf("Splice(%q, %q) = %d, %d, %q; want %d, %d, %q", tt.old, tt.new, pos, del, ins, tt.pos, tt.del, tt.ins)
		}
	}
}
