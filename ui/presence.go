package ui

import (
	"fmt"
	"image/color"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Other people's cursors. Each person appears three times, in their
// colour: as a caret with their name and a highlight of their selection
// inside the source (carets.go), in the "In this document" panel with the
// line and column of their cursor and the size of their selection, and as
// a mark in a narrow gutter beside the source, at the height of their line
// within the whole document (like a scroll bar's overview), labelled with
// their initial, so that people outside a large document's window can be
// found too.

// showPresence refreshes the people panel and the gutter from the open
// document.
func (e *Editor) showPresence() {
	if e.doc == nil {
		return
	}
	e.others = e.doc.Presence()
	name, colour := e.peer.Identity()
	rows := []person{{name + " (you)", colour, ""}}
	lines := strings.Count(e.shown, "\n") + 1
	var marks []gutterMark
	for _, p := range e.others {
		line, col := lineOf(e.shown, p.Head)
		where := fmt.Sprintf("line %d, column %d", line, col)
		if n := p.Head - p.Anchor; n != 0 {
			where += fmt.Sprintf(", selecting %d character%s", abs(n), plural(abs(n)))
		}
		rows = append(rows, person{p.Name, p.Colour, where})
		aLine, _ := lineOf(e.shown, min(p.Anchor, p.Head))
		marks = append(marks, gutterMark{
			from: float32(aLine-1) / float32(lines), to: float32(line) / float32(lines),
			colour: parseColour(p.Colour), label: initial(p.Name),
		})
	}
	// The panel and the gutter are rebuilt only when what they show
	// changed: this runs on every keystroke, which rarely moves anyone
	// to another line or column of the panel.
	if !slices.Equal(rows, e.shownPeople) {
		e.shownPeople = rows
		objs := make([]fyne.CanvasObject, len(rows))
		for i, r := range rows {
			objs[i] = personRow(r.name, r.colour, r.where)
		}
		e.people.Objects = objs
		e.people.Refresh()
	}
	e.gutter.setMarks(marks)
	e.showCarets()
}

// person is one row of the people panel.
type person struct{ name, colour, where string }

// showCarets draws the other people's carets and selections in the
// source.
func (e *Editor) showCarets() { e.src.setMarks(e.caretMarks()) }

// caretMarks returns the other people's carets and selections in the
// entry's text (the window of a large document).
func (e *Editor) caretMarks() []remoteMark {
	if len(e.others) == 0 {
		return nil
	}
	marks := make([]remoteMark, 0, len(e.others))
	for _, p := range e.others {
		c, _ := parseColour(p.Colour).(color.NRGBA)
		marks = append(marks, remoteMark{name: p.Name, colour: c, anchor: p.Anchor - e.ws, head: p.Head - e.ws})
	}
	return marks
}

// shiftOthers moves the other people's carets and selections over a local
// edit (del code points deleted at pos, ins inserted), the way the
// document moves them, until their next presence message.
func (e *Editor) shiftOthers(pos, del int, ins string) {
	if len(e.others) == 0 {
		return
	}
	n := utf8.RuneCountInString(ins)
	shift := func(p int) int {
		if pos < p {
			return max(pos, p-del) + n
		}
		return p
	}
	for i := range e.others {
		e.others[i].Anchor = shift(e.others[i].Anchor)
		e.others[i].Head = shift(e.others[i].Head)
	}
	e.src.marks = e.caretMarks() // placed when the entry refreshes
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// personRow is one person in the panel: a dot in their colour, their
// name, and where they are.
func personRow(name, colour, where string) fyne.CanvasObject {
	dot := canvas.NewCircle(parseColour(colour))
	dot.Resize(fyne.NewSize(12, 12))
	dotBox := container.NewGridWrap(fyne.NewSize(12, 12), dot)
	label := widget.NewLabel(name)
	label.Truncation = fyne.TextTruncateEllipsis
	if where == "" {
		return container.NewBorder(nil, nil, container.NewCenter(dotBox), nil, label)
	}
	detail := widget.NewLabelWithStyle(where, fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	detail.Wrapping = fyne.TextWrapWord
	// The dot stays beside the name, not centred on name and detail.
	dotCol := container.NewVBox(container.NewGridWrap(fyne.NewSize(12, label.MinSize().Height), container.NewCenter(dotBox)))
	return container.NewBorder(nil, nil, dotCol, nil, container.NewVBox(label, detail))
}

// parseColour reads "#rrggbb"; anything else is grey. The colour is a
// color.NRGBA.
func parseColour(s string) color.Color {
	if len(s) == 7 && s[0] == '#' {
		if v, err := strconv.ParseUint(s[1:], 16, 32); err == nil {
			return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
		}
	}
	return color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff}
}

// gutterMark is one person's place in the document, as fractions of its
// height.
type gutterMark struct {
	from, to float32
	colour   color.Color
	label    string
}

// gutter is the narrow strip beside the source that shows where other
// people are in the document.
type gutter struct {
	widget.BaseWidget
	marks []gutterMark
}

func newGutter() *gutter {
	g := &gutter{}
	g.ExtendBaseWidget(g)
	return g
}

// setMarks shows m, refreshing the gutter only if they changed.
func (g *gutter) setMarks(m []gutterMark) {
	if slices.Equal(m, g.marks) {
		return
	}
	g.marks = m
	g.Refresh()
}

// CreateRenderer implements fyne.Widget.
func (g *gutter) CreateRenderer() fyne.WidgetRenderer {
	r := &gutterRenderer{g: g}
	r.Refresh()
	return r
}

type gutterRenderer struct {
	g       *gutter
	objects []fyne.CanvasObject
	size    fyne.Size
}

const gutterWidth = 14

func (r *gutterRenderer) Layout(size fyne.Size) {
	r.size = size
	for i, m := range r.g.marks {
		if 2*i+1 >= len(r.objects) {
			break
		}
		y := m.from * size.Height
		h := max(4, (m.to-m.from)*size.Height)
		bar := r.objects[2*i]
		bar.Move(fyne.NewPos(2, y))
		bar.Resize(fyne.NewSize(size.Width-4, h))
		label := r.objects[2*i+1]
		label.Move(fyne.NewPos(1, max(0, y-2)))
		label.Resize(fyne.NewSize(size.Width-2, 14))
	}
}

func (r *gutterRenderer) MinSize() fyne.Size { return fyne.NewSize(gutterWidth, 0) }

func (r *gutterRenderer) Refresh() {
	r.objects = r.objects[:0]
	for _, m := range r.g.marks {
		bar := canvas.NewRectangle(m.colour)
		bar.CornerRadius = 2
		label := canvas.NewText(m.label, color.White)
		label.TextSize = 10
		label.TextStyle = fyne.TextStyle{Bold: true}
		label.Alignment = fyne.TextAlignCenter
		r.objects = append(r.objects, bar, label)
	}
	r.Layout(r.size)
	canvas.Refresh(r.g)
}

func (r *gutterRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *gutterRenderer) Destroy()                     {}
