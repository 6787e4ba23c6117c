package ui

import (
	"log/slog"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// Editor is Quire's main view: a list of the library's documents beside a
// multi-line, word-wrapping editor for the open one. Every keystroke becomes
// an app.Doc.Edit; the library saves it.
//
// Editor's methods and callbacks run on Fyne's UI goroutine only.
type Editor struct {
	lib     *app.Library
	log     *slog.Logger
	window  fyne.Window // for error dialogs; nil in tests that don't need them
	docs    []app.DocInfo
	doc     *app.Doc // open document; nil while the library is empty
	list    *widget.List
	entry   *widget.Entry
	content fyne.CanvasObject
}

// NewEditor builds the editor for lib and opens the last opened document,
// or the first one, or a new one when the library is empty. Errors go to
// log and, when window is not nil, to a dialog on it. Called on Fyne's UI
// goroutine.
func NewEditor(lib *app.Library, window fyne.Window, log *slog.Logger) *Editor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Editor{lib: lib, log: log, window: window}
	e.entry = widget.NewMultiLineEntry()
	e.entry.Wrapping = fyne.TextWrapWord
	e.entry.SetPlaceHolder("Write Markdown here…")
	e.entry.OnChanged = e.typed
	e.list = widget.NewList(
		func() int { return len(e.docs) },
		func() fyne.CanvasObject { return widget.NewLabel("Untitled document") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(e.docs[i].Title) },
	)
	e.list.OnSelected = func(i widget.ListItemID) { e.open(e.docs[i].ID) }
	newButton := widget.NewButtonWithIcon("New document", theme.ContentAddIcon(), e.NewDocument)
	split := container.NewHSplit(container.NewBorder(newButton, nil, nil, nil, e.list), e.entry)
	split.Offset = 0.25
	e.content = split

	e.docs = lib.List()
	switch id, ok := lib.Last(); {
	case ok:
		e.open(id)
	case len(e.docs) > 0:
		e.open(e.docs[0].ID)
	default:
		e.create()
	}
	return e
}

// Content returns the editor's root widget, to put in a window.
func (e *Editor) Content() fyne.CanvasObject { return e.content }

// Open returns the id of the open document, or "" if none is.
func (e *Editor) Open() app.DocID {
	if e.doc == nil {
		return ""
	}
	return e.doc.ID()
}

// NewDocument creates an empty document, opens it and focuses the editor.
func (e *Editor) NewDocument() {
	if e.create() {
		e.Focus()
	}
}

// Focus gives the keyboard focus to the text, once the editor's content is
// in its window.
func (e *Editor) Focus() {
	if e.window != nil {
		e.window.Canvas().Focus(e.entry)
	}
}

// create creates an empty document and opens it, reporting success.
func (e *Editor) create() bool {
	id, err := e.lib.Create()
	if err != nil {
		e.fail("create document", err)
		return false
	}
	e.docs = e.lib.List()
	e.open(id)
	return true
}

// open shows document id and selects it in the list.
func (e *Editor) open(id app.DocID) {
	if e.doc != nil && e.doc.ID() == id {
		return
	}
	doc, err := e.lib.Open(id)
	if err != nil {
		e.fail("open document", err)
		return
	}
	e.doc = doc // before SetText, so its OnChanged finds nothing to edit
	e.entry.SetText(doc.Text())
	e.list.Refresh()
	if i := slices.IndexFunc(e.docs, func(d app.DocInfo) bool { return d.ID == id }); i >= 0 {
		e.list.Select(i)
	}
}

// typed turns the entry's new text into one edit of the open document and
// updates the document's title in the list.
func (e *Editor) typed(text string) {
	if e.doc == nil {
		return
	}
	pos, del, ins := Splice(e.doc.Text(), text)
	if del == 0 && ins == "" {
		return
	}
	if err := e.doc.Edit(pos, del, ins); err != nil {
		e.fail("edit", err)
		return
	}
	i := slices.IndexFunc(e.docs, func(d app.DocInfo) bool { return d.ID == e.doc.ID() })
	if title := app.Title(text); i >= 0 && e.docs[i].Title != title {
		e.docs[i].Title = title
		e.list.RefreshItem(i)
	}
}

// fail reports an error to the log and to the user.
func (e *Editor) fail(what string, err error) {
	e.log.Error(what+" failed", "err", err)
	if e.window != nil {
		dialog.ShowError(err, e.window)
	}
}

// Splice returns the single edit that turns old into new: delete del runes
// at rune position pos and insert ins there. It keeps the longest common
// prefix and then the longest common suffix of what remains, which is the
// exact edit for typing, deleting and pasting at one place.
func Splice(old, new string) (pos, del int, ins string) {
	o, n := []rune(old), []rune(new)
	for pos < len(o) && pos < len(n) && o[pos] == n[pos] {
		pos++
	}
	end := 0
	for end < len(o)-pos && end < len(n)-pos && o[len(o)-1-end] == n[len(n)-1-end] {
		end++
	}
	return pos, len(o) - pos - end, string(n[pos : len(n)-end])
}
