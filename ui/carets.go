package ui

import (
	"image/color"
	"reflect"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
)

// Other people's carets and selections, drawn inside the source editor.
//
// Fyne's Entry draws its text inside a private scroll container and has
// no call for where a character is, except for its own cursor:
// Entry.CursorPosition measures the wrapped row up to the cursor's column,
// which is how the entry places its cursor and its selection. So the
// source wraps the entry's renderer and adds a layer above the text, and
// to place a mark at an offset it finds the offset's wrapped row and
// column (rowCol), asks CursorPosition with the cursor moved there for a
// moment, and adds where the scroll container shows the text. That last
// part, the scroll offset, is an exported field of Fyne's internal scroll
// type, read by reflection (scrollOffset); the scroll's OnScrolled hook,
// set the same way, re-places the marks when the user scrolls. If a Fyne
// upgrade renames them, TestRemoteCaretFollowsScroll fails and the layer
// stays empty rather than drawing marks in the wrong place.
//
// The marks are placed again after every refresh of the entry (typing,
// text set by a remote edit, cursor moves that scroll), on every layout
// (resizing rewraps the text), on every scroll, and when presence changes.
// Placing costs a binary search over the wrapped rows and one text
// measurement per caret, plus two per visible selected row.

// remoteMark is one other person's caret and selection in the entry's
// text.
type remoteMark struct {
	name   string
	colour color.NRGBA
	// anchor and head are code point offsets in the entry's text; either
	// may lie outside it (before 0 or after its end) when the person is
	// outside a large document's window.
	anchor, head int
}

// caretLayer holds the canvas objects of the marks, reused from one
// placement to the next.
type caretLayer struct {
	box    *fyne.Container // no layout: placeMarks moves everything
	rects  []*canvas.Rectangle
	labels []*canvas.Text
	scroll fyne.CanvasObject // the entry's scroll container; nil if not found
}

// Sizes of the marks.
const (
	caretWidth     = 2
	caretLabelSize = 10 // text size of the name beside a caret
	selectionAlpha = 0x50
)

// setMarks shows marks (offsets in the entry's text) and places them now.
func (s *source) setMarks(marks []remoteMark) {
	s.marks = marks
	s.placeMarks()
}

// placeMarks moves the carets, labels and selection boxes to where the
// marks' offsets are drawn now, showing only what the scroll container
// shows.
func (s *source) placeMarks() {
	l := &s.layer
	if l.box == nil {
		return // not rendered yet
	}
	var off fyne.Position
	ok := l.scroll != nil
	if ok {
		off, ok = scrollOffset(l.scroll)
	}
	if !ok || len(s.marks) == 0 {
		if len(l.box.Objects) > 0 {
			l.box.Objects = l.box.Objects[:0]
			l.box.Refresh()
		}
		return
	}
	th := s.Theme()
	lineH := fyne.MeasureText("M", th.Size(theme.SizeNameText), s.TextStyle).Height
	view := l.scroll.Position()
	viewSize := l.scroll.Size()
	origin := view.Subtract(off) // where the text's (0, 0) is drawn
	n := utf8.RuneCountInString(s.Text)

	// The entry measures its cursor's place; borrow the cursor.
	row0, col0 := s.CursorRow, s.CursorColumn
	defer func() { s.CursorRow, s.CursorColumn = row0, col0 }()
	at := func(row, col int) fyne.Position {
		s.CursorRow, s.CursorColumn = row, col
		return s.CursorPosition().Add(origin)
	}
	// Rows that may be visible (a row of margin each side).
	firstRow := max(0, int(off.Y/lineH)-1)
	lastRow := int((off.Y+viewSize.Height)/lineH) + 1
	var runes []rune // the text, converted only if a selection needs it
	rowEnd := func(row int) int {
		next := s.offsetAt(row+1, 0)
		start := s.offsetAt(row, 0)
		if next <= start { // the last row
			return n - start
		}
		if runes == nil {
			runes = []rune(s.Text)
		}
		if next > 0 && next <= len(runes) && runes[next-1] == '\n' {
			next--
		}
		return next - start
	}

	// textEnd returns where the text of row ends, or ok false if the
	// row is blank or past the end of the text.
	textEnd := func(row int) (x float32, ok bool) {
		if row < 0 || (row > 0 && s.offsetAt(row, 0) == 0) {
			return 0, false
		}
		cols := rowEnd(row)
		if cols <= 0 {
			return 0, false
		}
		return at(row, cols).X, true
	}
	// labelAt returns where a name of size goes for a caret drawn at p
	// on row: where it covers no text and fits in the view. Above the
	// caret if the row above ends before the name would start, else
	// below it likewise, else after the end of the caret's own row
	// (left of the caret near the right edge).
	labelAt := func(row int, p fyne.Position, size fyne.Size) (fyne.Position, bool) {
		const gap = 2
		right := view.X + viewSize.Width
		x := p.X
		if x+size.Width > right {
			x = p.X + caretWidth - size.Width
		}
		fits := func(pos fyne.Position) bool {
			return pos.X >= view.X && pos.X+size.Width <= right && pos.Y >= view.Y && pos.Y+size.Height <= view.Y+viewSize.Height
		}
		for _, r := range []struct {
			row int
			y   float32
		}{{row - 1, p.Y - size.Height}, {row + 1, p.Y + lineH}} {
			pos := fyne.NewPos(x, r.y)
			if end, ok := textEnd(r.row); (!ok || end+gap <= x) && fits(pos) {
				return pos, true
			}
		}
		if end, ok := textEnd(row); ok {
			pos := fyne.NewPos(max(end, p.X+caretWidth)+gap, p.Y+(lineH-size.Height)/2)
			return pos, fits(pos)
		}
		return fyne.Position{}, false
	}

	var objs []fyne.CanvasObject
	nRects, nLabels := 0, 0
	rect := func(c color.NRGBA, pos fyne.Position, size fyne.Size) {
		// Clip to the scroll container.
		top, bottom := max(pos.Y, view.Y), min(pos.Y+size.Height, view.Y+viewSize.Height)
		left, right := max(pos.X, view.X), min(pos.X+size.Width, view.X+viewSize.Width)
		if bottom <= top || right <= left {
			return
		}
		if nRects == len(l.rects) {
			l.rects = append(l.rects, canvas.NewRectangle(c))
		}
		r := l.rects[nRects]
		nRects++
		r.FillColor = c
		r.CornerRadius = 0
		r.Move(fyne.NewPos(left, top))
		r.Resize(fyne.NewSize(right-left, bottom-top))
		objs = append(objs, r)
	}
	// Selections first, so that every caret is drawn above them.
	for _, m := range s.marks {
		from, to := min(m.anchor, m.head), max(m.anchor, m.head)
		from, to = max(from, 0), min(to, n)
		if from >= to {
			continue
		}
		fill := m.colour
		fill.A = selectionAlpha
		r1, c1 := s.rowCol(from)
		r2, c2 := s.rowCol(to)
		for row := max(r1, firstRow); row <= min(r2, lastRow); row++ {
			sc, ec := 0, c2
			if row == r1 {
				sc = c1
			}
			if row < r2 {
				ec = rowEnd(row)
			}
			p1, p2 := at(row, sc), at(row, ec)
			rect(fill, p1, fyne.NewSize(max(p2.X-p1.X, caretWidth*2), lineH))
		}
	}
	for _, m := range s.marks {
		if m.head < 0 || m.head > n {
			continue
		}
		row, col := s.rowCol(m.head)
		p := at(row, col)
		rect(m.colour, p, fyne.NewSize(caretWidth, lineH))

		if nLabels == len(l.labels) {
			t := canvas.NewText("", color.White)
			t.TextSize = caretLabelSize
			t.TextStyle = fyne.TextStyle{Bold: true}
			l.labels = append(l.labels, t)
		}
		t := l.labels[nLabels]
		t.Text = m.name
		t.Color = labelInk(m.colour)
		size := t.MinSize().AddWidthHeight(6, 0)
		pos, ok := labelAt(row, p, size)
		if !ok {
			continue // no room for the name: the caret alone
		}
		before := nRects
		rect(m.colour, pos, size)
		if nRects == before {
			continue
		}
		l.rects[before].CornerRadius = 3
		nLabels++
		t.Move(pos.AddXY(3, 0))
		t.Resize(size.SubtractWidthHeight(6, 0))
		objs = append(objs, t)
	}
	l.box.Objects = objs
	l.box.Refresh()
}

// labelInk returns black or white, whichever reads better on c.
func labelInk(c color.NRGBA) color.Color {
	// Rec. 601 luma.
	if 299*int(c.R)+587*int(c.G)+114*int(c.B) > 150*1000 {
		return color.Black
	}
	return color.White
}

// scrollOffset returns the scroll offset of o, if o is one of Fyne's
// scroll containers (a struct with an exported Offset fyne.Position field).
func scrollOffset(o fyne.CanvasObject) (fyne.Position, bool) {
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fyne.Position{}, false
	}
	f := v.Elem().FieldByName("Offset")
	if !f.IsValid() || f.Type() != reflect.TypeFor[fyne.Position]() || !v.Elem().FieldByName("Content").IsValid() {
		return fyne.Position{}, false
	}
	return f.Interface().(fyne.Position), true
}

// onScrolled makes the scroll container o call f after each scroll, if it
// has an OnScrolled hook that nothing else uses.
func onScrolled(o fyne.CanvasObject, f func()) {
	h := reflect.ValueOf(o).Elem().FieldByName("OnScrolled")
	if !h.IsValid() || !h.CanSet() || h.Type() != reflect.TypeFor[func(fyne.Position)]() || !h.IsNil() {
		return
	}
	h.Set(reflect.ValueOf(func(fyne.Position) { f() }))
}
