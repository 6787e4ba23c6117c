package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/crdt/trace"
)

const paperTrace = "../../shared/testdata/editing-traces/sequential/automerge-paper.json.gz"

// paperEditor opens an editor on a document holding the final text of the
// automerge-paper trace (~105k characters), cursor in the middle.
func paperEditor(b *testing.B) (*Editor, fyne.Window) {
	b.Helper()
	tr, err := trace.Load(paperTrace)
	if err != nil {
		b.Skipf("trace: %v", err)
	}
	test.NewTempApp(b)
	p, err := app.Open(app.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	w := test.NewTempWindow(b, nil)
	e := NewEditor(p, w, Options{Do: func(func()) {}})
	b.Cleanup(e.Close)
	w.SetContent(e.Content())
	w.Resize(fyne.NewSize(1200, 760))
	if !e.create(tr.EndContent) {
		b.Fatal("create failed")
	}
	b.Logf("document: %d characters, window %d", e.n, e.we-e.ws)
	mid := e.n / 2
	e.recentre(mid, mid)
	b.Logf("document: %d characters, window %d", e.n, e.we-e.ws)
	return e, w
}

// BenchmarkKeystroke is one typed character in the middle of the paper:
// the entry's own update and layout, the diff, the document edit (the
// actor round trip), title and presence bookkeeping.
func BenchmarkKeystroke(b *testing.B) {
	e, _ := paperEditor(b)
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			e.src.TypedRune('x')
		} else {
			e.src.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
		}
	}
}

// BenchmarkKeystrokePainted adds painting the whole window with Fyne's
// software painter after each keystroke (the GL driver paints only what
// changed, on the GPU; this is an upper bound).
func BenchmarkKeystrokePainted(b *testing.B) {
	e, w := paperEditor(b)
	c := w.Canvas()
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			e.src.TypedRune('x')
		} else {
			e.src.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
		}
		c.Capture()
	}
}

// BenchmarkRemoteEdit is applying one remote edit (a character inserted
// before the cursor) to the editor: the text, the entry, the cursor and
// selection kept in place, the presence panel.
func BenchmarkRemoteEdit(b *testing.B) {
	e, _ := paperEditor(b)
	b.ResetTimer()
	for i := range b.N {
		// 100 characters before the cursor, inside the window.
		at := e.n/2 - 100
		ed := app.Edit{Pos: at, Text: "y"}
		if i%2 == 1 {
			ed = app.Edit{Pos: at, Del: 1}
		}
		e.catchUp(app.Update{Edits: []app.Edit{ed}, Rev: e.rev + 1}, false)
	}
}

// BenchmarkRemoteEditElsewhere is a remote edit far from the cursor,
// outside the window a large document shows: only the full text and the
// window's offsets change.
func BenchmarkRemoteEditElsewhere(b *testing.B) {
	e, _ := paperEditor(b)
	b.ResetTimer()
	for i := range b.N {
		ed := app.Edit{Pos: 1000, Text: "y"}
		if i%2 == 1 {
			ed = app.Edit{Pos: 1000, Del: 1}
		}
		e.catchUp(app.Update{Edits: []app.Edit{ed}, Rev: e.rev + 1}, false)
	}
}

// BenchmarkSplice is the diff that turns the entry's new text into an
// edit, on the paper with one character typed in the middle.
func BenchmarkSplice(b *testing.B) {
	tr, err := trace.Load(paperTrace)
	if err != nil {
		b.Skipf("trace: %v", err)
	}
	old := tr.EndContent
	r := []rune(old)
	mid := len(r) / 2
	new := string(r[:mid]) + "x" + string(r[mid:])
	b.ResetTimer()
	for range b.N {
		Splice(old, new)
	}
}

// BenchmarkKeystrokeWithPeople is BenchmarkKeystroke with three other
// people in the window, one of them selecting a few lines: their carets,
// names and selections are moved with the text on every keystroke.
func BenchmarkKeystrokeWithPeople(b *testing.B) {
	e, _ := paperEditor(b)
	mid := e.n / 2
	e.others = []app.Presence{
		{Name: "Ana", Colour: "#4363d8", Anchor: mid - 300, Head: mid - 300},
		{Name: "Rui", Colour: "#e6194b", Anchor: mid - 200, Head: mid + 150},
		{Name: "Lea", Colour: "#3cb44b", Anchor: mid + 400, Head: mid + 400},
	}
	e.showCarets()
	b.Logf("%d objects on the caret layer", len(e.src.layer.box.Objects))
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			e.src.TypedRune('x')
		} else {
			e.src.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
		}
	}
}

// BenchmarkPlaceMarks is placing three other people's carets, names and
// a selection of a few lines on the paper's window, what every refresh
// of the entry adds when they are in it.
func BenchmarkPlaceMarks(b *testing.B) {
	e, _ := paperEditor(b)
	mid := e.n / 2
	e.others = []app.Presence{
		{Name: "Ana", Colour: "#4363d8", Anchor: mid - 300, Head: mid - 300},
		{Name: "Rui", Colour: "#e6194b", Anchor: mid - 200, Head: mid + 150},
		{Name: "Lea", Colour: "#3cb44b", Anchor: mid + 400, Head: mid + 400},
	}
	e.showCarets()
	b.ResetTimer()
	for range b.N {
		e.src.placeMarks()
	}
}
