package ui

import (
	"context"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/quire-dev/quire/app"
)

// AppID is Quire's application id, under which Fyne keeps its own settings.
const AppID = "dev.quire.editor"

// Run opens Quire's main window on peer and blocks until the user closes it
// or ctx is cancelled. It must be called on the main goroutine (a
// requirement of the desktop driver), once per process.
func Run(ctx context.Context, peer *app.Peer, opts Options) {
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(Icon)
	applyTheme(a)
	w := a.NewWindow("Quire")
	w.SetIcon(Icon)
	ed := NewEditor(peer, w, opts)
	defer ed.Close()
	w.SetMainMenu(ed.MainMenu())
	ed.AddShortcuts(w.Canvas())
	w.SetContent(ed.Content())
	w.Resize(fyne.NewSize(1200, 760))
	w.CenterOnScreen()
	ed.Focus()
	stop := context.AfterFunc(ctx, func() { fyne.Do(a.Quit) })
	defer stop()
	w.ShowAndRun()
}
