package ui

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// docList is the list of documents beside the editor: a search field
// (by title), the titles, and the actions on documents.
type docList struct {
	e         *Editor
	all       []app.DocInfo // every document, most recently modified first
	shown     []app.DocInfo // those the search and the archive switch let through
	search    *widget.Entry
	archived  *widget.Check
	list      *widget.List
	content   fyne.CanvasObject
	selecting bool   // the list is being told which row is open
	derived   string // the title the open document's text gives
	// known holds the titles taken from the text of documents opened
	// in this session: the store learns a text's title only when it
	// snapshots the document, so a closed, recently edited document may
	// be listed as Untitled.
	known        map[app.DocID]string
	showArchived bool
}

func newDocList(e *Editor) *docList {
	l := &docList{e: e, known: map[app.DocID]string{}}
	l.search = widget.NewEntry()
	l.search.SetPlaceHolder("Search titles")
	l.search.OnChanged = func(string) { l.filter() }
	l.archived = widget.NewCheck("Show archived", func(on bool) {
		l.showArchived = on
		l.filter()
	})
	l.list = widget.NewList(
		func() int { return len(l.shown) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, nil, widget.NewIcon(nil), widget.NewLabel("Untitled document"))
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			row := o.(*fyne.Container)
			d := l.shown[i]
			label := row.Objects[0].(*widget.Label)
			label.Truncation = fyne.TextTruncateEllipsis
			label.SetText(d.Title)
			icon := row.Objects[1].(*widget.Icon)
			switch {
			case d.Archived:
				icon.SetResource(theme.DownloadIcon()) // archive box
			case d.Rights < app.Write:
				icon.SetResource(theme.VisibilityIcon()) // read only
			default:
				icon.SetResource(nil)
			}
		},
	)
	l.list.OnSelected = func(i widget.ListItemID) {
		if !l.selecting && i < len(l.shown) {
			e.open(l.shown[i].ID)
		}
	}
	newButton := widget.NewButtonWithIcon("New document", theme.ContentAddIcon(), e.NewDocument)
	top := container.NewVBox(newButton, l.search)
	l.content = container.NewBorder(top, l.archived, nil, nil, l.list)
	return l
}

// refresh re-reads the document list from the peer.
func (l *docList) refresh() {
	if l.e.doc != nil {
		// The peer knows an open document's title from its last sealed
		// change: seal what was typed so the title is current.
		if err := l.e.doc.Flush(); err != nil {
			l.e.log.Warn("save before listing", "err", err)
		}
	}
	docs, err := l.e.peer.List()
	if err != nil {
		l.e.fail("list documents", err)
		return
	}
	for i, d := range docs {
		if t, ok := l.known[d.ID]; ok && d.Title == "Untitled" {
			docs[i].Title = t
		}
	}
	l.all = docs
	l.filter()
}

// filter recomputes the shown documents from the search text.
func (l *docList) filter() {
	q := strings.ToLower(strings.TrimSpace(l.search.Text))
	l.shown = l.shown[:0]
	for _, d := range l.all {
		if d.Archived && !l.showArchived && d.ID != l.e.Open() {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(d.Title), q) {
			continue
		}
		l.shown = append(l.shown, d)
	}
	l.list.Refresh()
	l.selectDoc(l.e.Open())
}

// selectDoc highlights document id in the list without reopening it.
func (l *docList) selectDoc(id app.DocID) {
	l.selecting = true
	defer func() { l.selecting = false }()
	if i := indexByID(l.shown, id); i >= 0 {
		l.list.Select(i)
	} else {
		l.list.UnselectAll()
	}
}

// info returns what the list knows of document id.
func (l *docList) info(id app.DocID) (app.DocInfo, bool) {
	if i := indexByID(l.all, id); i >= 0 {
		return l.all[i], true
	}
	return app.DocInfo{}, false
}

// learn records the title taken from the text of document id, just
// opened, and lists it under that title if the peer has none for it yet
// ("Untitled": it learns titles from sealed changes, so a document just
// created with its text, as by Import, is listed so until it is edited).
func (l *docList) learn(id app.DocID, title string) {
	l.derived = title
	l.known[id] = title
	if i := indexByID(l.all, id); i >= 0 && l.all[i].Title == "Untitled" {
		l.all[i].Title = title
	}
}

// retitle updates the open document's title from its text, unless it has
// a title of its own: the list shows the set title if there is one, else
// the one taken from the text, so a title that matches the text's old
// one is taken from the text.
func (l *docList) retitle(id app.DocID, text string) {
	i := indexByID(l.all, id)
	title := app.Title(text)
	l.known[id] = title
	if i < 0 || l.all[i].Title != l.derived || title == l.derived {
		l.derived = title
		return
	}
	l.derived = title
	l.all[i].Title = title
	if j := indexByID(l.shown, id); j >= 0 {
		l.shown[j].Title = title
		l.list.RefreshItem(j)
	}
}
