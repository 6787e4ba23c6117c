package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/quire-dev/quire/app"
)

// openLib opens an offline peer on dir, closed at the end of the test.
func openLib(t *testing.T, dir string) *app.Peer {
	t.Helper()
	p, err := app.Open(app.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// newEditor builds an Editor on peer in a headless test window.
func newEditor(t *testing.T, peer *app.Peer) *Editor {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	e := NewEditor(peer, w, nil)
	w.SetContent(e.Content())
	t.Cleanup(e.Close)
	return e
}

func TestTypedTextSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir)
	e := newEditor(t, lib)
	if e.Open() == (app.DocID{}) {
		t.Fatal("a new library opened no document")
	}
	test.Type(e.entry, "# Shopping\nmilk")
	e.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
	test.Type(e.entry, "k\n")
	if got, want := e.entry.Text, "# Shopping\nmilk\n"; got != want {
		t.Fatalf("entry text = %q, want %q", got, want)
	}
	e.Close()
	if err := lib.Close(); err != nil { // what quire does on exit
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
	e.list.Select(indexOf(e, first)) // back to the first, as a click would
	if e.Open() != first || e.entry.Text != "first" {
		t.Errorf("after selecting the first document: open %s with %q", e.Open(), e.entry.Text)
	}
	e.list.Select(indexOf(e, second))
	e.Close()
	if err := lib.Close(); err != nil {
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

// indexOf returns the list row of document id.
func indexOf(e *Editor, id app.DocID) int {
	for i, d := range e.docs {
		if d.ID == id {
			return i
		}
	}
	return -1
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
