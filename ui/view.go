package ui

import (
	"fmt"
	"math"
	"unicode/utf8"

	"fyne.io/fyne/v2/widget"
)

// Large documents. Fyne's Entry lays out its whole text again on every
// change, and the cost grows faster than the text: with the 105k-character
// automerge paper in one Entry a keystroke took about 2 s. So the entry
// holds a window of the document, whole lines around the cursor, and the
// editor keeps the full text beside it. Below bigDoc code points the window
// is the whole document; above it the window is about 2·windowHalf code
// points, follows the cursor when it nears an edge, and a slider beside
// the text jumps anywhere in the document.
const (
	bigDoc     = 12000
	windowHalf = 1200
	edgeMargin = 250 // recentre when the cursor is this close to a cut edge
	maxLineCut = 500 // how far to look for a line break when cutting
)

// big reports whether the open document is shown through a window.
func (e *Editor) big() bool { return e.n > bigDoc }

// windowAround returns a window of whole lines of text (n code points)
// around offset c.
func windowAround(text []rune, c int) (ws, we int) {
	n := len(text)
	if n <= bigDoc {
		return 0, n
	}
	ws, we = max(0, c-windowHalf), min(n, c+windowHalf)
	for i := ws; i > 0 && i > ws-maxLineCut; i-- {
		if text[i-1] == '\n' {
			ws = i
			break
		}
	}
	for i := we; i < n && i < we+maxLineCut; i++ {
		if text[i] == '\n' {
			we = i + 1
			break
		}
	}
	return ws, we
}

// docSelection returns the entry's selection in document offsets.
func (e *Editor) docSelection() (anchor, head int) {
	a, h := e.src.selection(e.win)
	return a + e.ws, h + e.ws
}

// setText shows text as the whole document, with anchor..head selected
// (document offsets). The window stays where it was if the cursor is still
// well inside it, else it is centred on the cursor.
func (e *Editor) setText(text string, anchor, head int) {
	e.shown = text
	e.n = utf8.RuneCountInString(text)
	ws, we := e.ws, e.we
	if !e.big() {
		ws, we = 0, e.n
	} else if we > e.n || ws >= we || head < ws+min(edgeMargin, ws) || head > we-min(edgeMargin, e.n-we) {
		ws, we = windowAround([]rune(text), head)
	}
	e.showWindow(ws, we, anchor, head)
}

// recentre moves the window of a large document to be centred on the
// cursor, keeping the selection.
func (e *Editor) recentre(anchor, head int) {
	ws, we := windowAround([]rune(e.shown), head)
	if ws != e.ws || we != e.we {
		e.showWindow(ws, we, anchor, head)
	}
}

// showWindow puts the window ws..we of the document in the entry and
// selects anchor..head (document offsets, clamped to the window).
func (e *Editor) showWindow(ws, we, anchor, head int) {
	e.applying = true
	defer func() { e.applying = false }()
	e.ws, e.we = ws, we
	if ws == 0 && we == e.n {
		e.win = e.shown
	} else {
		start := byteOffset(e.shown, ws)
		e.win = e.shown[start : start+byteOffset(e.shown[start:], we-ws)]
	}
	clamp := func(p int) int { return min(max(p, ws), we) - ws }
	if e.src.Text != e.win {
		e.src.replaceText(e.win)
		e.src.setSelection(e.win, clamp(anchor), clamp(head))
	} else if a, h := e.src.selection(e.win); a != clamp(anchor) || h != clamp(head) {
		e.src.setSelection(e.win, clamp(anchor), clamp(head))
	}
	e.showWindowInfo()
	e.showPresence()
}

// showWindowInfo shows or hides the slider and note for large documents.
func (e *Editor) showWindowInfo() {
	if !e.big() {
		e.jump.Hide()
		e.windowNote.Hide()
		return
	}
	e.jump.Show()
	e.windowNote.Show()
	first, _ := lineOf(e.shown, e.ws)
	last, _ := lineOf(e.shown, e.we)
	total, _ := lineOf(e.shown, e.n)
	// Both are set only when they change: a keystroke usually changes
	// neither the lines shown nor the slider's place by a step, and
	// every refresh costs a frame its layout.
	if note := fmt.Sprintf("Large document: showing lines %d–%d of %d (it follows the cursor; the slider jumps)", first, last, total); note != e.windowNote.Text {
		e.windowNote.SetText(note)
	}
	if v := 1 - float64(e.ws+e.we)/2/float64(max(1, e.n)); math.Abs(v-e.jump.Value) >= e.jump.Step/2 {
		e.jumping = true
		e.jump.SetValue(v)
		e.jumping = false
	}
}

// newJump makes the slider that moves a large document's window.
func (e *Editor) newJump() *widget.Slider {
	s := widget.NewSlider(0, 1)
	s.Orientation = widget.Vertical
	s.Step = 0.001
	s.OnChangeEnded = func(v float64) {
		if e.jumping || !e.big() {
			return
		}
		// A vertical slider's top is 1: the start of the document.
		p := min(e.n, max(0, int((1-v)*float64(e.n))))
		e.recentre(p, p)
		e.cursorMoved()
	}
	return s
}

// byteOffset returns the byte offset of code point p in s.
func byteOffset(s string, p int) int {
	for i := range s {
		if p == 0 {
			return i
		}
		p--
	}
	return len(s)
}

// spliceShown applies a local edit at document offset pos to the full
// text, the window having already changed in the entry.
func (e *Editor) spliceShown(pos, del int, ins string) {
	start := byteOffset(e.shown, pos)
	end := start + byteOffset(e.shown[start:], del)
	e.shown = e.shown[:start] + ins + e.shown[end:]
	d := utf8.RuneCountInString(ins) - del
	e.n += d
	e.we += d
}
