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

// Editor is Quire's main view: a list of the peer's documents beside a
// multi-line, word-wrapping editor for the open one. Every keystroke becomes
// an app.Doc.Edit; edits from other peers arrive as events and are applied
// to the text without moving the cursor.
//
// Editor's methods and callbacks run on Fyne's UI goroutine only.
type Editor struct {
	peer    *app.Peer
	log     *slog.Logger
	window  fyne.Window // for error dialogs; nil in tests that don't need them
	docs    []app.DocInfo
	doc     *app.Doc // open document; nil while there is none
	shown   string   // the text the entry shows, as the document last said
	stop    func()   // ends the open document's event subscription
	list    *widget.List
	entry   *widget.Entry
	content fyne.CanvasObject
}

// NewEditor builds the editor for peer and opens the last opened document,
// or the first one, or a new one when there is none. Errors go to log and,
// when window is not nil, to a dialog on it. Called on Fyne's UI
// goroutine.
func NewEditor(peer *app.Peer, window fyne.Window, log *slog.Logger) *Editor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Editor{peer: peer, log: log, window: window}
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

	e.refreshList()
	switch id, ok := peer.LastOpened(); {
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

// Open returns the id of the open document, or the zero id if none is.
func (e *Editor) Open() app.DocID {
	if e.doc == nil {
		return app.DocID{}
	}
	return e.doc.ID()
}

// Close closes the open document.
func (e *Editor) Close() {
	if e.doc != nil {
		e.stop()
		e.doc.Close()
		e.doc = nil
	}
}

func (e *Editor) refreshList() {
	docs, err := e.peer.List()
	if err != nil {
		e.fail("list documents", err)
		return
	}
	e.docs = docs
	if e.list != nil {
		e.list.Refresh()
	}
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
	id, err := e.peer.Create("")
	if err != nil {
		e.fail("create document", err)
		return false
	}
	e.refreshList()
	e.open(id)
	return true
}

// open shows document id and selects it in the list.
func (e *Editor) open(id app.DocID) {
	if e.doc != nil && e.doc.ID() == id {
		return
	}
	doc, err := e.peer.Open(id)
	if err != nil {
		e.fail("open document", err)
		return
	}
	e.Close()
	events, stop := doc.Subscribe()
	text, rev, err := doc.Text()
	if err != nil {
		stop()
		doc.Close()
		e.fail("open document", err)
		return
	}
	e.doc, e.stop = doc, stop
	e.shown = text
	e.entry.SetText(text) // OnChanged finds no difference from shown
	e.list.Refresh()
	go e.follow(doc, events, rev)
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
	pos, del, ins := Splice(e.shown, text)
	if del == 0 && ins == "" {
		return
	}
	if err := e.doc.Edit(pos, del, ins); err != nil {
		e.fail("edit", err)
		e.resync()
		return
	}
	e.shown = text
	i := slices.IndexFunc(e.docs, func(d app.DocInfo) bool { return d.ID == e.doc.ID() })
	if title := app.Title(text); i >= 0 && e.docs[i].Title != title {
		e.docs[i].Title = title
		e.list.RefreshItem(i)
	}
}

// follow applies the open document's remote edits to the entry until the
// subscription ends. It runs on its own goroutine; widget changes go
// through fyne.Do.
func (e *Editor) follow(doc *app.Doc, events <-chan app.Event, rev uint64) {
	for ev := range events {
		if ev.Rev <= rev {
			continue // already in the text the entry was given
		}
		switch {
		case ev.Kind == app.EventEdits && !ev.Local:
			fyne.DoAndWait(func() {
				if e.doc == doc {
					e.applyRemote(ev.Edits)
				}
			})
		case ev.Kind == app.EventResync:
			fyne.DoAndWait(func() {
				if e.doc == doc {
					e.resync()
				}
			})
		}
	}
}

// applyRemote applies other peers' edits to the entry, keeping the
// cursor on the same character.
func (e *Editor) applyRemote(edits []app.Edit) {
	text := []rune(e.shown)
	cursor := e.cursorOffset()
	for _, ed := range edits {
		if ed.Pos > len(text) || ed.Pos+ed.Del > len(text) {
			e.resync()
			return
		}
		ins := []rune(ed.Text)
		text = append(text[:ed.Pos], append(ins, text[ed.Pos+ed.Del:]...)...)
		if ed.Pos < cursor {
			cursor = max(ed.Pos, cursor-ed.Del) + len(ins)
		}
	}
	e.setShown(string(text), cursor)
}

// resync re-reads the document's text.
func (e *Editor) resync() {
	if e.doc == nil {
		return
	}
	text, _, err := e.doc.Text()
	if err != nil {
		return
	}
	e.setShown(text, min(e.cursorOffset(), len([]rune(text))))
}

// setShown replaces the entry's text and puts the cursor at offset.
func (e *Editor) setShown(text string, offset int) {
	e.shown = text
	e.entry.SetText(text)
	row, col := 0, 0
	for i, r := range []rune(text) {
		if i == offset {
			break
		}
		if r == '\n' {
			row, col = row+1, 0
		} else {
			col++
		}
	}
	e.entry.CursorRow, e.entry.CursorColumn = row, col
	e.entry.Refresh()
}

// cursorOffset returns the entry's cursor as a code point offset.
func (e *Editor) cursorOffset() int {
	row, off := 0, 0
	for i, r := range []rune(e.shown) {
		if row == e.entry.CursorRow {
			return min(i+e.entry.CursorColumn, len([]rune(e.shown)))
		}
		if r == '\n' {
			row++
		}
		off = i + 1
	}
	return off
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
