package ui

import (
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
