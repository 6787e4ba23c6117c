package ui

import (
	"image/color"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/quire-dev/quire/app"
)

// drawnMark is one person's caret as the layer draws it, in the source's
// coordinates, with the boxes of their selection.
type drawnMark struct {
	caret     fyne.Position
	label     string
	selection []fyne.Position // top-left corners, one per row
	widths    []float32
}

// drawnMarks reads the caret layer: selection boxes (translucent), then
// for each caret its bar, its label's box and its label.
func drawnMarks(t *testing.T, s *source) []drawnMark {
	t.Helper()
	var sel []*canvas.Rectangle
	var out []drawnMark
	objs := s.layer.box.Objects
	for i := 0; i < len(objs); i++ {
		r, ok := objs[i].(*canvas.Rectangle)
		if !ok {
			t.Fatalf("layer object %d is %T, want a rectangle", i, objs[i])
		}
		if r.FillColor.(color.NRGBA).A == selectionAlpha {
			sel = append(sel, r)
			continue
		}
		m := drawnMark{caret: r.Position()}
		if i+2 < len(objs) {
			if label, ok := objs[i+2].(*canvas.Text); ok {
				m.label = label.Text
				i += 2
			}
		}
		out = append(out, m)
	}
	if len(out) == 1 {
		for _, r := range sel {
			out[0].selection = append(out[0].selection, r.Position())
			out[0].widths = append(out[0].widths, r.Size().Width)
		}
	}
	return out
}

// lineHeight is the height of a row of the source's text.
func lineHeight(s *source) float32 {
	return fyne.MeasureText("M", s.Theme().Size(theme.SizeNameText), s.TextStyle).Height
}

// ownCursorAt returns where the source draws its own cursor at offset p,
// in the source's coordinates (the cursor is moved there and back).
func ownCursorAt(s *source, p int) fyne.Position {
	a, h := s.selection(s.Text)
	s.setCursor(p)
	pos := s.CursorPosition().Add(s.layer.scroll.Position())
	off, _ := scrollOffset(s.layer.scroll)
	s.setSelection(s.Text, a, h)
	return pos.Subtract(off)
}

// TestRemoteCaretAndSelection connects two editors through real libp2p on
// loopback; b selects a word, and a draws b's caret and selection inside
// its text, at the row and column where the word is.
func TestRemoteCaretAndSelection(t *testing.T) {
	test.NewTempApp(t)
	loop := newLoop(t)
	a, na := netEditor(t, loop)
	if err := a.peer.SetIdentity("Ana", "#4363d8"); err != nil {
		t.Fatal(err)
	}
	text := "# Plan\nfirst step\nsecond step\n"
	test.Type(a.src, text)
	link, err := a.Invite(app.Write, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := netEditor(t, loop, na.Addrs()...)
	if err := b.peer.SetIdentity("Rui", "#e6194b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	loop.until(t, 20*time.Second, "b to catch up", func() bool { return b.src.Text == text })

	// b selects "step" on the third line, from its end back to its start.
	b.src.setSelection(b.src.Text, 29, 25)
	b.cursorMoved()
	loop.until(t, 20*time.Second, "b's selection to reach a", func() bool {
		return len(a.others) == 1 && a.others[0].Head == 25 && a.others[0].Anchor == 29
	})
	marks := drawnMarks(t, a.src)
	if len(marks) != 1 {
		t.Fatalf("a draws %d carets, want 1", len(marks))
	}
	m := marks[0]
	if m.label != "Rui" {
		t.Errorf("caret labelled %q, want %q", m.label, "Rui")
	}
	// Independently of the layer: the third row, after "second ".
	th := a.src.Theme()
	innerPad := th.Size(theme.SizeNameInnerPadding)
	border := th.Size(theme.SizeNameInputBorder)
	textSize := th.Size(theme.SizeNameText)
	view := a.src.layer.scroll.Position()
	lineH := lineHeight(a.src)
	wantX := view.X + fyne.MeasureText("second ", textSize, fyne.TextStyle{}).Width + innerPad - border/2
	wantY := view.Y + 2*lineH + innerPad - border
	if !near(m.caret, fyne.NewPos(wantX, wantY)) {
		t.Errorf("b's caret drawn at %v, want %v (row 2, column 7)", m.caret, fyne.NewPos(wantX, wantY))
	}
	if own := ownCursorAt(a.src, 25); !near(m.caret, own) {
		t.Errorf("b's caret drawn at %v, a's own cursor at that offset at %v", m.caret, own)
	}
	if len(m.selection) != 1 {
		t.Fatalf("selection drawn on %d rows, want 1", len(m.selection))
	}
	wantW := fyne.MeasureText("step", textSize, fyne.TextStyle{}).Width
	if !near(m.selection[0], m.caret) || abs32(m.widths[0]-wantW) > 1 {
		t.Errorf("selection box at %v, %g wide; want at %v, %g wide", m.selection[0], m.widths[0], m.caret, wantW)
	}

	// a types before b's selection: the marks move with the text at once.
	a.src.setCursor(0)
	test.Type(a.src, "## ")
	marks = drawnMarks(t, a.src)
	if own := ownCursorAt(a.src, 28); len(marks) != 1 || !near(marks[0].caret, own) {
		t.Errorf("after typing before it, b's caret drawn at %v, want %v", marks, own)
	}

	// The source alone (the preview re-renders on a timer): reviewed by
	// eye when it changes.
	test.AssertObjectRendersToMarkup(t, "carets.xml", a.src)
	test.AssertObjectRendersToImage(t, "carets.png", a.src)
}

// TestRemoteCaretWraps places a caret on a wrapped row: the layer agrees
// with where the entry draws its own cursor at the same offset, and a
// selection across rows gets one box per row.
func TestRemoteCaretWraps(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	text := strings.Repeat("a long line of words that wraps around ", 12) + "\nshort\n\nlast"
	e.setText(text, 0, 0)
	e.others = []app.Presence{{Name: "Rui", Colour: "#e6194b", Anchor: 130, Head: 300}}
	e.showCarets()
	marks := drawnMarks(t, e.src)
	if len(marks) != 1 {
		t.Fatalf("%d carets drawn, want 1", len(marks))
	}
	m := marks[0]
	own := ownCursorAt(e.src, 300)
	if !near(m.caret, own) {
		t.Errorf("caret at %v, own cursor at %v", m.caret, own)
	}
	lineH := lineHeight(e.src)
	if own.Y < lineH*2 {
		t.Fatalf("offset 300 is on the first rows (y %g): the text does not wrap", own.Y)
	}
	if got, want := len(m.selection), int((own.Y-ownCursorAt(e.src, 130).Y)/lineH+0.5)+1; got != want {
		t.Errorf("selection drawn on %d rows, want %d", got, want)
	}
	if !near(m.selection[0], ownCursorAt(e.src, 130)) {
		t.Errorf("selection starts at %v, want %v", m.selection[0], ownCursorAt(e.src, 130))
	}
	last := len(m.selection) - 1
	if !near(m.selection[last].AddXY(m.widths[last], 0), m.caret) {
		t.Errorf("selection ends at %v, want at the caret %v", m.selection[last].AddXY(m.widths[last], 0), m.caret)
	}
}

// TestRemoteCaretFollowsScroll scrolls the source like a mouse wheel: the
// caret moves with the text, and is not drawn once it is scrolled out of
// view.
func TestRemoteCaretFollowsScroll(t *testing.T) {
	test.NewTempApp(t)
	e, w := newEditor(t, openLib(t, t.TempDir()), Options{})
	var b strings.Builder
	for i := range 200 {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\n")
	}
	e.setText(b.String(), 0, 0)
	if _, ok := scrollOffset(e.src.layer.scroll); !ok {
		t.Fatal("the entry's scroll offset cannot be read: Fyne's internal scroll type changed")
	}
	p := strings.Index(b.String(), "line xxxx\n") // row 4
	e.others = []app.Presence{{Name: "Rui", Colour: "#e6194b", Anchor: p, Head: p}}
	e.showCarets()
	before := drawnMarks(t, e.src)
	if len(before) != 1 {
		t.Fatalf("%d carets drawn, want 1", len(before))
	}
	lineH := lineHeight(e.src)
	at := before[0].caret.Add(fyne.NewPos(5, lineH/2))
	origin := fyne.CurrentApp().Driver().AbsolutePositionForObject(e.src)
	test.Scroll(w.Canvas(), origin.Add(at), 0, -2*lineH)
	off, _ := scrollOffset(e.src.layer.scroll)
	if off.Y == 0 {
		t.Fatal("the scroll event did not scroll the source")
	}
	after := drawnMarks(t, e.src)
	if len(after) != 1 || !near(after[0].caret, before[0].caret.SubtractXY(0, off.Y)) {
		t.Fatalf("after scrolling by %g the caret is at %v, want %v", off.Y, after, before[0].caret.SubtractXY(0, off.Y))
	}
	test.Scroll(w.Canvas(), origin.Add(at), 0, -20*lineH)
	if after := drawnMarks(t, e.src); len(after) != 0 {
		t.Errorf("a caret scrolled out of view is drawn: %v", after)
	}
}

// TestRemoteCaretInWindow opens a large document: a person inside its
// window is drawn at their place in the window, a person outside it is
// not drawn in the text (the gutter and the panel show them).
func TestRemoteCaretInWindow(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	text := strings.Repeat("some words in a line of a big document\n", 1000)
	if !e.create(text) {
		t.Fatal("create failed")
	}
	mid := len(text) / 2
	e.recentre(mid, mid)
	if !e.big() || e.ws == 0 {
		t.Fatalf("window %d..%d of %d: not windowed", e.ws, e.we, e.n)
	}
	e.others = []app.Presence{
		{Name: "In", Colour: "#3cb44b", Anchor: mid + 40, Head: mid + 40},
		{Name: "Out", Colour: "#e6194b", Anchor: 10, Head: 10},
	}
	e.showCarets()
	marks := drawnMarks(t, e.src)
	if len(marks) != 1 || marks[0].label != "In" {
		t.Fatalf("drawn %v, want only In's caret", marks)
	}
	if own := ownCursorAt(e.src, mid+40-e.ws); !near(marks[0].caret, own) {
		t.Errorf("In's caret at %v, want %v", marks[0].caret, own)
	}
}

func near(a, b fyne.Position) bool { return abs32(a.X-b.X) <= 1 && abs32(a.Y-b.Y) <= 1 }

func abs32(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}

// TestRemoteEditKeepsCursor applies remote edits before and after the
// cursor, on its row and on others: the cursor stays on its character.
func TestRemoteEditKeepsCursor(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	text := "first line\nsecond line is here\nthird\n"
	e.setText(text, 0, 0)
	e.src.setCursor(18) // "second |line"
	edits := []struct {
		name string
		edit app.Edit
		want int
	}{
		{"after, same row", app.Edit{Pos: 25, Text: "XY"}, 18},
		{"before, same row", app.Edit{Pos: 12, Text: "abc"}, 21},
		{"row before", app.Edit{Pos: 0, Text: "new row\n"}, 29},
		{"delete before", app.Edit{Pos: 0, Del: 4}, 25},
		{"row after", app.Edit{Pos: 40, Text: "\nmore"}, 25},
	}
	for _, tt := range edits {
		e.catchUp(app.Update{Edits: []app.Edit{tt.edit}, Rev: e.rev + 1}, false)
		if got := e.src.cursor(); got != tt.want {
			t.Errorf("%s: cursor at %d, want %d (text %q)", tt.name, got, tt.want, e.src.Text)
		}
	}
}

// TestRemoteCaretAtEnds places carets at the start and the end of the
// text, and one on an empty line.
func TestRemoteCaretAtEnds(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	text := "# Notes\n\nfirst\n\n"
	e.setText(text, 0, 0)
	n := len([]rune(text))
	for _, p := range []int{0, 8, n} {
		e.others = []app.Presence{{Name: "Rui", Colour: "#e6194b", Anchor: p, Head: p}}
		e.showCarets()
		marks := drawnMarks(t, e.src)
		if len(marks) != 1 {
			t.Fatalf("offset %d: %d carets drawn, want 1", p, len(marks))
		}
		if own := ownCursorAt(e.src, p); !near(marks[0].caret, own) {
			t.Errorf("offset %d: caret at %v, own cursor at %v", p, marks[0].caret, own)
		}
	}
}

// TestRemoteCaretNameCoversNoText places a caret between longer lines and
// checks that its name is drawn where it covers none of the text (the
// entry's own cursor positions give where each line's text ends): above
// the caret when the line above is short, below it when only the line
// below is, after the end of its own line when neither is.
func TestRemoteCaretNameCoversNoText(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	long, short := "this line is long", "ab"
	cases := []struct {
		name         string
		above, below string
		where        string // "above", "below" or "after"
	}{
		{"short above", short, long, "above"},
		{"short below", long, short, "below"},
		{"both long", long, long, "after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := []string{long, c.above, "a caret in here", c.below, long}
			text := strings.Join(lines, "\n")
			e.setText(text, 0, 0)
			at := len([]rune(lines[0]+lines[1])) + 2 + len("a caret ") // row 2, before "in"
			e.others = []app.Presence{{Name: "Rui", Colour: "#e6194b", Anchor: at, Head: at}}
			e.showCarets()
			var label *canvas.Text
			for _, o := range e.src.layer.box.Objects {
				if l, ok := o.(*canvas.Text); ok {
					label = l
				}
			}
			if label == nil {
				t.Fatal("the caret's name is not drawn")
			}
			box := struct{ x0, y0, x1, y1 float32 }{label.Position().X, label.Position().Y, label.Position().X + label.Size().Width, label.Position().Y + label.Size().Height}
			lineH := lineHeight(e.src)
			start := 0
			for i, l := range lines {
				n := len([]rune(l))
				from, to := ownCursorAt(e.src, start), ownCursorAt(e.src, start+n)
				if box.y1 > from.Y+1 && box.y0 < from.Y+lineH-1 && box.x0 < to.X && box.x1 > from.X {
					t.Errorf("the name %v covers line %d %q (x %g to %g, y %g)", box, i, l, from.X, to.X, from.Y)
				}
				start += n + 1
			}
			caret := ownCursorAt(e.src, at)
			var got string
			switch {
			case box.y1 <= caret.Y+1:
				got = "above"
			case box.y0 >= caret.Y+lineH-1:
				got = "below"
			case box.x0 > caret.X:
				got = "after"
			}
			if got != c.where {
				t.Errorf("name drawn %s the caret (box %v, caret %v), want %s", got, box, caret, c.where)
			}
		})
	}
}
