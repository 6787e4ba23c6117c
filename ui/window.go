package ui

import (
	"context"
	"log/slog"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/quire-dev/quire/app"
)

// AppID is Quire's application id, under which Fyne keeps its own settings.
const AppID = "dev.quire.editor"

// Run opens Quire's main window on peer and blocks until the user closes it
// or ctx is cancelled. It must be called on the main goroutine (a
// requirement of the desktop driver), once per process.
func Run(ctx context.Context, peer *app.Peer, log *slog.Logger) {
	a := fyneapp.NewWithID(AppID)
	w := a.NewWindow("Quire")
	ed := NewEditor(peer, w, log)
	defer ed.Close()
	w.SetContent(ed.Content())
	w.Resize(fyne.NewSize(960, 640))
	ed.Focus()
	stop := context.AfterFunc(ctx, func() { fyne.Do(a.Quit) })
	defer stop()
	w.ShowAndRun()
}
