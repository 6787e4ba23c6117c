package ui

import (
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// source is the Markdown source editor: a word-wrapping multi-line entry
// whose undo and redo are the document's (this device's edits only), not
// the entry's own, and which can move its cursor and selection to code
// point offsets, so remote edits can be applied around them.
type source struct {
	widget.Entry
	onUndo, onRedo func()
	onInput        func() // a key was typed (the input pump)

	marks []remoteMark // other people's carets and selections (carets.go)
	layer caretLayer
}

func newSource() *source {
	s := &source{}
	s.MultiLine = true
	s.Wrapping = fyne.TextWrapWord
	s.ExtendBaseWidget(s)
	return s
}

// TypedRune implements fyne.Focusable: the entry's, after telling the
// input pump.
func (s *source) TypedRune(r rune) {
	if s.onInput != nil {
		s.onInput()
	}
	s.Entry.TypedRune(r)
}

// TypedKey implements fyne.Focusable: the entry's, after telling the
// input pump.
func (s *source) TypedKey(k *fyne.KeyEvent) {
	if s.onInput != nil {
		s.onInput()
	}
	s.Entry.TypedKey(k)
}

// TypedShortcut sends undo and redo to the document; everything else is
// the entry's.
func (s *source) TypedShortcut(sc fyne.Shortcut) {
	switch sc := sc.(type) {
	case *fyne.ShortcutUndo:
		if s.onUndo != nil {
			s.onUndo()
		}
		return
	case *fyne.ShortcutRedo:
		if s.onRedo != nil {
			s.onRedo()
		}
		return
	case *desktop.CustomShortcut:
		if sc.KeyName == fyne.KeyZ && sc.Modifier == fyne.KeyModifierShortcutDefault|fyne.KeyModifierShift {
			if s.onRedo != nil {
				s.onRedo()
			}
			return
		}
	}
	s.Entry.TypedShortcut(sc)
}

// offsetAt returns the code point offset of (row, col) in the entry's
// wrapped rows, leaving the cursor where it was.
func (s *source) offsetAt(row, col int) int {
	r, c := s.CursorRow, s.CursorColumn
	s.CursorRow, s.CursorColumn = row, col
	off := s.CursorTextOffset()
	s.CursorRow, s.CursorColumn = r, c
	return off
}

// rowCol returns the wrapped row and column of code point offset p: a
// binary search over rows using the entry's own row boundaries, so it
// costs O(log rows) and agrees with how the entry wraps.
func (s *source) rowCol(p int) (int, int) {
	// valid reports whether row exists and starts at or before p. Rows
	// past the end report offset 0 (col), so row > 0 with offset 0 is
	// past the end.
	valid := func(row int) bool {
		off := s.offsetAt(row, 0)
		return row == 0 || (off > 0 && off <= p)
	}
	hi := 1
	for valid(hi) {
		hi *= 2
	}
	lo := 0 // valid(lo) holds, valid(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if valid(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, p - s.offsetAt(lo, 0)
}

// cursor returns the cursor as a code point offset.
func (s *source) cursor() int { return s.CursorTextOffset() }

// selection returns the selection as (anchor, head) code point offsets;
// anchor == head when nothing is selected. text is the entry's text.
func (s *source) selection(text string) (anchor, head int) {
	head = s.cursor()
	sel := s.SelectedText()
	if sel == "" {
		return head, head
	}
	n := utf8.RuneCountInString(sel)
	// The entry does not say which end the selection began at: find the
	// side of the cursor that holds the selected text.
	if start := head - n; start >= 0 && strings.HasPrefix(sliceFrom(text, start), sel) {
		return start, head // the cursor ends the selection
	}
	return head + n, head
}

// replaceText shows text in place of the entry's text. It sets the Text
// field and refreshes, which lays the text out once: SetText lays it out
// twice (and calls OnChanged, which the editor ignores for its own
// changes anyway). The cursor keeps its row and column until the caller
// moves it.
func (s *source) replaceText(text string) {
	s.Text = text
	s.Refresh()
}

// setCursor puts the cursor at code point offset p, selecting nothing. It
// refreshes the entry only if the cursor moves on screen: a remote edit
// after the cursor leaves it on its row and column.
func (s *source) setCursor(p int) {
	row, col := s.rowCol(p)
	if row == s.CursorRow && col == s.CursorColumn && s.SelectedText() == "" {
		return
	}
	s.clearSelection()
	s.CursorRow, s.CursorColumn = row, col
	s.Refresh()
}

// clearSelection ends any selection, leaving the cursor in place.
func (s *source) clearSelection() {
	if s.SelectedText() == "" {
		return
	}
	r, c := s.CursorRow, s.CursorColumn
	// An unshifted arrow key ends the selection (and moves the cursor to
	// its edge); then the cursor goes back.
	s.Entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyLeft})
	s.CursorRow, s.CursorColumn = r, c
}

// setSelection selects from anchor to head (code point offsets in text,
// the entry's text). The entry has no call for it, so it does what a user
// would: put the cursor on the anchor, hold Shift and step onto the head.
func (s *source) setSelection(text string, anchor, head int) {
	if anchor == head {
		s.setCursor(head)
		return
	}
	s.clearSelection()
	step, from := fyne.KeyRight, head-1
	if head < anchor {
		step, from = fyne.KeyLeft, head+1
	}
	s.CursorRow, s.CursorColumn = s.rowCol(anchor)
	s.KeyDown(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
	s.CursorRow, s.CursorColumn = s.rowCol(from)
	s.Entry.TypedKey(&fyne.KeyEvent{Name: step})
	s.KeyUp(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
	if s.cursor() != head {
		// A wrap boundary made the step land elsewhere; keep the cursor
		// right at least.
		s.setCursor(head)
	}
	s.Refresh()
}

// sliceFrom returns text from code point offset p on.
func sliceFrom(text string, p int) string {
	for i := range text {
		if p == 0 {
			return text[i:]
		}
		p--
	}
	return ""
}

// Splice returns the single edit that turns old into new: delete del runes
// at rune position pos and insert ins there. It keeps the longest common
// prefix and then the longest common suffix of what remains, which is the
// exact edit for typing, deleting and pasting at one place. It compares
// bytes and counts runes only in the prefix and the changed part, so on a
// large text it costs a fast scan, not a conversion of the whole text.
func Splice(old, new string) (pos, del int, ins string) {
	// Compare in chunks first: string equality is a vectorised memequal,
	// several times faster than a byte loop on a large text.
	const chunk = 64
	p := 0
	for p+chunk <= len(old) && p+chunk <= len(new) && old[p:p+chunk] == new[p:p+chunk] {
		p += chunk
	}
	for p < len(old) && p < len(new) && old[p] == new[p] {
		p++
	}
	// Back to a rune boundary in both (the bytes before p are equal).
	for p > 0 && ((p < len(old) && !utf8.RuneStart(old[p])) || (p < len(new) && !utf8.RuneStart(new[p]))) {
		p--
	}
	s := 0
	for s+chunk <= len(old)-p && s+chunk <= len(new)-p && old[len(old)-s-chunk:len(old)-s] == new[len(new)-s-chunk:len(new)-s] {
		s += chunk
	}
	for s < len(old)-p && s < len(new)-p && old[len(old)-1-s] == new[len(new)-1-s] {
		s++
	}
	for s > 0 && !utf8.RuneStart(old[len(old)-s]) {
		s--
	}
	pos = utf8.RuneCountInString(old[:p])
	del = utf8.RuneCountInString(old[p : len(old)-s])
	return pos, del, new[p : len(new)-s]
}

// applyEdits applies edits (each deletes Del code points at Pos, then
// inserts Text) to text, and moves the offsets in marks the way a cursor
// moves: text inserted at a mark goes after it only if inserted strictly
// before it. It reports false if an edit does not fit the text.
func applyEdits(text string, edits []app.Edit, marks []int) (string, bool) {
	n := utf8.RuneCountInString(text)
	for _, e := range edits {
		if e.Pos < 0 || e.Del < 0 || e.Pos+e.Del > n {
			return text, false
		}
		start := byteOffset(text, e.Pos)
		end := start + byteOffset(text[start:], e.Del)
		text = text[:start] + e.Text + text[end:]
		ins := utf8.RuneCountInString(e.Text)
		n += ins - e.Del
		for i, m := range marks {
			if e.Pos < m {
				marks[i] = max(e.Pos, m-e.Del) + ins
			}
		}
	}
	return text, true
}

// CreateRenderer implements fyne.Widget: the entry's renderer with the
// layer of other people's marks above its text (carets.go), and with a
// frame that is cheaper to paint than the entry's own.
//
// Fyne's GL driver repaints the whole window for any change, and the
// entry's border is a rounded rectangle drawn as one quad over the whole
// entry whose fragment shader computes a rounded outline for every pixel.
// Without a GPU (Mesa's llvmpipe, as under Xvfb) that one border cost
// 3-7 ms of every frame on the 1200x760 window, more than all the text.
// So the source draws its background square-cornered (the plain
// rectangle shader) and its border as four thin rectangles in the
// border's colour, which follows focus and theme as the entry sets it.
func (s *source) CreateRenderer() fyne.WidgetRenderer {
	r := &sourceRenderer{WidgetRenderer: s.Entry.CreateRenderer(), s: s}
	inner := r.WidgetRenderer.Objects()
	if len(inner) >= 2 {
		box, ok1 := inner[0].(*canvas.Rectangle)
		border, ok2 := inner[1].(*canvas.Rectangle)
		if ok1 && ok2 && border.StrokeWidth > 0 {
			r.box, r.border = box, border
			for i := range r.edges {
				r.edges[i] = canvas.NewRectangle(border.StrokeColor)
			}
		}
	}
	s.layer = caretLayer{box: container.NewWithoutLayout()}
	for _, o := range inner {
		if _, ok := scrollOffset(o); ok {
			s.layer.scroll = o
			onScrolled(o, s.placeMarks)
			break
		}
	}
	r.flatten()
	return r
}

// sourceRenderer is the entry's renderer with a flat frame and the caret
// layer.
type sourceRenderer struct {
	fyne.WidgetRenderer
	s           *source
	box, border *canvas.Rectangle // the entry's; nil if not found
	edges       [4]*canvas.Rectangle
	size        fyne.Size
	objects     []fyne.CanvasObject
}

func (r *sourceRenderer) Layout(size fyne.Size) {
	r.WidgetRenderer.Layout(size)
	r.size = size
	r.flatten()
	r.s.layer.box.Resize(size)
	r.s.placeMarks()
}

func (r *sourceRenderer) Refresh() {
	r.WidgetRenderer.Refresh()
	r.flatten()
	r.s.placeMarks()
}

// flatten squares the entry's background and puts the four edges where
// its border is, in its colour. It runs after the entry's own layout and
// refresh, which set the corner radius and the border's colour again.
func (r *sourceRenderer) flatten() {
	if r.box == nil {
		return
	}
	r.box.CornerRadius = 0
	w, h := r.size.Width, r.size.Height
	bw := r.border.StrokeWidth
	place := [len(r.edges)]struct {
		pos  fyne.Position
		size fyne.Size
	}{
		{fyne.NewPos(0, 0), fyne.NewSize(w, bw)},    // top
		{fyne.NewPos(0, h-bw), fyne.NewSize(w, bw)}, // bottom
		{fyne.NewPos(0, 0), fyne.NewSize(bw, h)},    // left
		{fyne.NewPos(w-bw, 0), fyne.NewSize(bw, h)}, // right
	}
	for i, e := range r.edges {
		e.Move(place[i].pos)
		e.Resize(place[i].size)
		if e.FillColor != r.border.StrokeColor {
			e.FillColor = r.border.StrokeColor
			e.Refresh()
		}
	}
}

// Objects returns the entry's objects, its border replaced by the edges,
// with the caret layer last, so it is drawn above the text. The slice is
// kept while the entry's objects stay the same: the painter asks for it on
// every frame.
func (r *sourceRenderer) Objects() []fyne.CanvasObject {
	inner := r.WidgetRenderer.Objects()
	extra := 1 // the layer
	if r.box != nil {
		extra += len(r.edges) - 1
	}
	if len(r.objects) == len(inner)+extra && r.sameInner(inner) {
		return r.objects
	}
	r.objects = r.objects[:0]
	for _, o := range inner {
		if r.border != nil && o == r.border {
			for _, e := range r.edges {
				r.objects = append(r.objects, e)
			}
			continue
		}
		r.objects = append(r.objects, o)
	}
	r.objects = append(r.objects, r.s.layer.box)
	return r.objects
}

// sameInner reports whether r.objects was built from inner.
func (r *sourceRenderer) sameInner(inner []fyne.CanvasObject) bool {
	j := 0
	for _, o := range inner {
		if r.border != nil && o == r.border {
			j += len(r.edges)
			continue
		}
		if r.objects[j] != o {
			return false
		}
		j++
	}
	return true
}
