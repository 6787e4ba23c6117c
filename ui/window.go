package ui

import (
	"context"
	"sync"
	"time"

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
	a := newApp()
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
	returned := make(chan struct{})
	defer close(returned)
	var watch sync.Once
	watchdog := func() {
		watch.Do(func() {
			if opts.Stuck == nil {
				return
			}
			go func() {
				select {
				case <-returned:
				case <-time.After(quitGrace):
					if opts.Log != nil {
						opts.Log.Error("the window's event loop did not return after closing; exiting", "waited", quitGrace)
					}
					opts.Stuck()
				}
			}()
		})
	}
	w.SetOnClosed(watchdog)
	stop := context.AfterFunc(ctx, func() { watchdog(); fyne.Do(a.Quit) })
	defer stop()
	w.ShowAndRun()
}

// quitGrace is how long Run waits for Fyne's event loop to return once the
// window is closing before it calls Options.Stuck.
const quitGrace = 10 * time.Second

// newApp creates Quire's Fyne app on the desktop driver, with its icon and
// theme. It declares Fyne's "fyneDo" migration: Quire changes widgets only
// on Fyne's goroutine, through fyne.Do from any other (see the package
// doc). Without it Fyne checks the calling goroutine of every canvas
// refresh by formatting a stack trace, which was 40% of applying a remote
// edit to a large document's window.
func newApp() fyne.App {
	fyneapp.SetMetadata(fyne.AppMetadata{ID: AppID, Name: "Quire", Version: "0.0.1", Build: 1,
		Migrations: map[string]bool{"fyneDo": true}})
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(Icon)
	applyTheme(a)
	return a
}
