package ui

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// Options configures an Editor. The zero value is an offline editor that
// logs nothing.
type Options struct {
	// Network is the peer's network, for the peers panel; nil when the
	// peer runs offline.
	Network *app.P2P
	// DataDir is the data directory the peer runs on, shown in settings.
	DataDir string
	// SetDataDir, if not nil, stores the data directory to use from the
	// next start; settings offers to change it.
	SetDataDir func(dir string) error
	// Log receives errors; nil discards them.
	Log *slog.Logger
	// Stuck, if not nil, is called (on another goroutine) when Fyne has
	// not returned from its event loop quitGrace after the window was
	// asked to close: Fyne 2.7.1 can deadlock there, running a lifecycle
	// event on a main loop that has already stopped. The caller then
	// saves and exits the process itself; Run never returns.
	Stuck func()
	// PreviewDelay is how long typing must pause before the preview
	// re-renders (default 250 ms); the preview parses the whole text.
	PreviewDelay time.Duration
	// PresenceEvery is how often the editor repeats where the cursor is
	// while it does not move (default 10 s), so that others keep seeing
	// it (app.PresenceTTL) and a lost message is repaired.
	PresenceEvery time.Duration
	// Do runs f on Fyne's UI goroutine and waits for it; nil means
	// fyne.DoAndWait. Tests that drive the editor from their own goroutine
	// pass a function that hands f to it.
	Do func(f func())
}

// Editor is Quire's main view: the document list with search, the
// Markdown source and its rendered preview, the people in the document,
// and a status line. Every keystroke becomes an app.Doc edit; edits from
// other peers arrive as events and are applied to the text without moving
// the cursor or the selection.
//
// Editor's methods and callbacks run on Fyne's UI goroutine only.
type Editor struct {
	peer   *app.Peer
	opts   Options
	log    *slog.Logger
	window fyne.Window // for dialogs; nil in tests that don't need them

	// The open document and the view's copy of its text.
	doc        *app.Doc // nil while there is none
	shown      string   // the whole text, as the view knows it
	n          int      // its length in code points
	win        string   // the part of it the entry shows (view.go)
	ws, we     int      // where that part starts and ends
	jumping    bool     // the editor is moving the slider
	rev        uint64   // the document revision shown
	stop       func()   // ends the open document's event subscription
	stopTicker func()   // ends the presence keep-alive
	applying   bool     // the editor itself is changing the entry
	others     []app.Presence

	docs *docList
	src  *source
	pump *inputPump // polls for input between Fyne's ticks while typing

	preview      *preview
	previewOn    bool
	previewTimer *time.Timer
	center       *fyne.Container

	jump        *widget.Slider
	windowNote  *widget.Label
	people      *fyne.Container
	shownPeople []person // what the people panel shows
	gutter      *gutter
	status      *widget.Label
	toolbar     fyne.CanvasObject
	content     fyne.CanvasObject
	onChange    func() // tests: called after every change the editor shows
}

// NewEditor builds the editor for peer and opens the last opened document,
// or the first one, or a new one when there is none. Errors go to the log
// and, when window is not nil, to a dialog on it. Called on Fyne's UI
// goroutine.
func NewEditor(peer *app.Peer, window fyne.Window, opts Options) *Editor {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Do == nil {
		opts.Do = fyne.DoAndWait
	}
	if opts.PresenceEvery <= 0 {
		opts.PresenceEvery = 10 * time.Second
	}
	if opts.PreviewDelay <= 0 {
		opts.PreviewDelay = 250 * time.Millisecond
	}
	e := &Editor{peer: peer, opts: opts, log: opts.Log, window: window, previewOn: true}
	e.src = newSource()
	e.src.SetPlaceHolder("Write Markdown here…")
	e.src.OnChanged = e.typed
	e.src.OnCursorChanged = e.cursorMoved
	e.src.onUndo = e.Undo
	e.src.onRedo = e.Redo
	var poll func()
	if canPoll && window != nil {
		poll = pollEvents
	}
	e.pump = newInputPump(poll, fyne.Do)
	e.src.onInput = e.pump.input
	e.preview = newPreview()
	e.docs = newDocList(e)
	e.people = container.NewVBox()
	e.gutter = newGutter()
	e.jump = e.newJump()
	e.windowNote = widget.NewLabel("")
	e.windowNote.Truncation = fyne.TextTruncateEllipsis
	e.status = widget.NewLabel("")
	e.status.Truncation = fyne.TextTruncateEllipsis
	e.toolbar = e.newToolbar()
	e.center = container.NewStack()
	e.layoutCenter()

	peopleBox := container.NewBorder(widget.NewLabelWithStyle("In this document", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), nil, nil, nil,
		container.NewVScroll(e.people))
	main := container.NewHSplit(e.center, peopleBox)
	main.Offset = 0.8
	split := container.NewHSplit(e.docs.content, main)
	split.Offset = 0.22
	statusBar := container.NewBorder(nil, nil, nil, widget.NewButton("Peers…", e.ShowPeers), e.status)
	e.content = container.NewBorder(e.toolbar, statusBar, nil, nil, split)

	e.docs.refresh()
	switch id, ok := peer.LastOpened(); {
	case ok:
		e.open(id)
	case len(e.docs.all) > 0:
		e.open(e.docs.all[0].ID)
	default:
		e.create("")
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
	if e.previewTimer != nil {
		e.previewTimer.Stop()
	}
	if e.doc != nil {
		e.stop()
		e.stopTicker()
		if err := e.doc.Flush(); err != nil && !errors.Is(err, app.ErrClosed) {
			e.log.Error("save on close", "err", err)
		}
		e.doc.Close()
		e.doc = nil
	}
}

// Focus gives the keyboard focus to the text, once the editor's content is
// in its window.
func (e *Editor) Focus() {
	if e.window != nil {
		e.window.Canvas().Focus(e.src)
	}
}

// NewDocument creates an empty document, opens it and focuses the editor.
func (e *Editor) NewDocument() {
	if e.create("") {
		e.Focus()
	}
}

// create creates a document holding text and opens it, reporting success.
func (e *Editor) create(text string) bool {
	id, err := e.peer.Create("")
	if err != nil {
		e.fail("create document", err)
		return false
	}
	if text != "" {
		d, err := e.peer.Open(id)
		if err != nil {
			e.fail("create document", err)
			return false
		}
		err = d.Edit(0, 0, text)
		if err == nil {
			err = d.Flush()
		}
		d.Close()
		if err != nil {
			e.fail("create document", err)
			return false
		}
	}
	e.docs.refresh()
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
	e.doc, e.stop, e.rev, e.others = doc, stop, rev, nil
	e.ws, e.we = 0, 0
	e.setText(text, 0, 0)
	e.docs.learn(id, app.Title(text))
	if doc.Rights() < app.Write {
		e.src.Disable()
	} else {
		e.src.Enable()
	}
	go e.follow(doc, events)
	e.stopTicker = e.keepAlive(doc)
	e.docs.filter() // an archived document is listed while it is open
	e.updateTitle()
	e.showPresence()
	e.showStatus()
	e.renderPreview()
	e.changed()
}

// typed turns the entry's new text into one edit of the open document.
func (e *Editor) typed(text string) {
	if e.doc == nil || e.applying {
		return
	}
	pos, del, ins := Splice(e.win, text)
	if del == 0 && ins == "" {
		return
	}
	pos += e.ws
	e.win = text
	e.spliceShown(pos, del, ins)
	e.shiftOthers(pos, del, ins)
	u, err := e.doc.EditAt(e.rev, pos, del, ins)
	if err != nil {
		e.fail("edit", err)
		e.resync()
		return
	}
	e.catchUp(u, false)
	e.docs.retitle(e.doc.ID(), e.shown)
	e.updateTitle()
	e.schedulePreview()
	e.changed()
}

// cursorMoved tells the other people in the document where the cursor is.
func (e *Editor) cursorMoved() {
	if e.doc == nil || e.applying {
		return
	}
	anchor, head := e.docSelection()
	if e.big() && ((head-e.ws < edgeMargin && e.ws > 0) || (e.we-head < edgeMargin && e.we < e.n)) {
		e.recentre(anchor, head)
	}
	e.doc.SetCursor(anchor, head)
}

// Undo reverts the last group of this device's edits to the open
// document; other people's edits stay.
func (e *Editor) Undo() { e.replay(false) }

// Redo reapplies the last undone group of edits.
func (e *Editor) Redo() { e.replay(true) }

func (e *Editor) replay(redo bool) {
	if e.doc == nil {
		return
	}
	var (
		u   app.Update
		err error
	)
	if redo {
		u, err = e.doc.Redo(e.rev)
	} else {
		u, err = e.doc.Undo(e.rev)
	}
	switch {
	case errors.Is(err, app.ErrNothingToUndo):
		return
	case err != nil:
		e.fail("undo", err)
		e.resync()
		return
	}
	e.catchUp(u, true)
	e.docs.retitle(e.doc.ID(), e.shown)
	e.updateTitle()
	e.schedulePreview()
	e.changed()
}

// catchUp applies an update from the document to the entry. With
// moveCursor (undo, redo) the cursor goes to the end of the last edit;
// otherwise it and the selection stay on the characters they were on.
func (e *Editor) catchUp(u app.Update, moveCursor bool) {
	if u.Resync {
		e.resync()
		return
	}
	e.rev = u.Rev
	if len(u.Edits) == 0 {
		return
	}
	anchor, head := e.docSelection()
	marks := []int{anchor, head, e.ws, e.we}
	text, ok := applyEdits(e.shown, u.Edits, marks)
	if !ok {
		e.resync()
		return
	}
	if e.we == e.n { // a window reaching the end keeps reaching it
		marks[3] = utf8.RuneCountInString(text)
	}
	e.ws, e.we = marks[2], marks[3]
	if moveCursor {
		last := u.Edits[len(u.Edits)-1]
		end := last.Pos + utf8.RuneCountInString(last.Text)
		marks[0], marks[1] = end, end
	}
	e.setText(text, marks[0], marks[1])
}

// follow applies the open document's events until the subscription ends.
// It runs on its own goroutine; widget changes go through fyne.Do.
func (e *Editor) follow(doc *app.Doc, events <-chan app.Event) {
	for ev := range events {
		e.opts.Do(func() {
			if e.doc != doc {
				return
			}
			switch ev.Kind {
			case app.EventEdits:
				if ev.Rev <= e.rev {
					return // the view has it already
				}
				if ev.Rev != e.rev+1 || ev.Local {
					// A gap, or another window's edit on this device
					// that EditAt did not hand us: re-read.
					e.resync()
				} else {
					e.catchUp(app.Update{Edits: ev.Edits, Rev: ev.Rev}, false)
				}
				e.docs.retitle(doc.ID(), e.shown)
				e.updateTitle()
				e.schedulePreview()
			case app.EventResync:
				e.resync()
			case app.EventPresence:
				e.showPresence()
				e.showStatus()
			case app.EventStatus:
				e.showStatus()
			}
			e.changed()
		})
	}
}

// keepAlive repeats the cursor's position every PresenceEvery until the
// returned function is called.
func (e *Editor) keepAlive(doc *app.Doc) func() {
	t := time.NewTicker(e.opts.PresenceEvery)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				e.opts.Do(func() {
					if e.doc == doc {
						e.cursorMoved()
					}
				})
			case <-done:
				return
			}
		}
	}()
	return func() {
		t.Stop()
		close(done)
	}
}

// resync re-reads the document's text, keeping the cursor where it was
// as far as the text allows.
func (e *Editor) resync() {
	if e.doc == nil {
		return
	}
	text, rev, err := e.doc.Text()
	if err != nil {
		return
	}
	e.rev = rev
	n := utf8.RuneCountInString(text)
	anchor, head := e.docSelection()
	e.setText(text, min(anchor, n), min(head, n))
}

// updateTitle puts the open document's title in the window's title.
func (e *Editor) updateTitle() {
	if e.window == nil {
		return
	}
	title := "Quire"
	if d, ok := e.docs.info(e.Open()); ok {
		title = d.Title + " — Quire"
	}
	if title != e.window.Title() { // every keystroke comes here
		e.window.SetTitle(title)
	}
}

// Flush stores everything typed in the open document and says so.
func (e *Editor) Flush() {
	if e.doc == nil {
		return
	}
	if err := e.doc.Flush(); err != nil {
		e.fail("save", err)
		return
	}
	e.showStatus()
}

// TogglePreview shows or hides the rendered preview.
func (e *Editor) TogglePreview() {
	e.previewOn = !e.previewOn
	e.layoutCenter()
	e.renderPreview()
}

func (e *Editor) layoutCenter() {
	srcBox := container.NewBorder(e.windowNote, nil, nil, container.NewHBox(e.gutter, e.jump), e.src)
	if e.previewOn {
		split := container.NewHSplit(srcBox, e.preview.view)
		e.center.Objects = []fyne.CanvasObject{split}
	} else {
		e.center.Objects = []fyne.CanvasObject{srcBox}
	}
	e.center.Refresh()
}

// schedulePreview re-renders the preview once typing pauses.
func (e *Editor) schedulePreview() {
	if !e.previewOn {
		return
	}
	if e.previewTimer != nil {
		e.previewTimer.Stop()
	}
	doc := e.doc
	e.previewTimer = time.AfterFunc(e.opts.PreviewDelay, func() {
		e.opts.Do(func() {
			if e.doc == doc {
				e.renderPreview()
			}
		})
	})
}

// renderPreview renders the Markdown source into the preview now.
func (e *Editor) renderPreview() {
	if e.previewOn {
		e.preview.render(e.win) // a large document previews its window
	}
}

func (e *Editor) changed() {
	if e.onChange != nil {
		e.onChange()
	}
}

// fail reports an error to the log and to the user.
func (e *Editor) fail(what string, err error) {
	e.log.Error(what+" failed", "err", err)
	if e.window != nil {
		dialog.ShowError(errors.New(what+": "+err.Error()), e.window)
	}
}

// lineOf returns the 1-based line and column of code point offset p in
// text.
func lineOf(text string, p int) (line, col int) {
	before := text[:byteOffset(text, p)]
	line = strings.Count(before, "\n") + 1
	col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// indexByID returns the index of the document id in docs, or -1.
func indexByID(docs []app.DocInfo, id app.DocID) int {
	return slices.IndexFunc(docs, func(d app.DocInfo) bool { return d.ID == id })
}
