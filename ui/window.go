package ui

import (
	"context"
	"log/slog"
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
	watch := newQuitWatch(opts.Stuck, opts.Log, time.After)
	defer watch.returned()
	// The input pump stops before the event loop does: its polls must
	// not outlive GLFW.
	w.SetOnClosed(func() { ed.pump.close(); watch.closing() })
	stop := context.AfterFunc(ctx, func() { ed.pump.close(); watch.closing(); fyne.Do(a.Quit) })
	defer stop()
	w.ShowAndRun()
}

// quitGrace is how long Run waits for Fyne's event loop to return once the
// window is closing before it calls Options.Stuck.
const quitGrace = 10 * time.Second

// quitWatch is Run's watchdog: once the window starts closing, it calls
// stuck unless Fyne's event loop returns within quitGrace (Options.Stuck).
type quitWatch struct {
	stuck func() // nil: no watchdog
	log   *slog.Logger
	after func(time.Duration) <-chan time.Time // time.After; tests pass their own

	start sync.Once
	done  chan struct{} // closed when the loop has returned
	ended chan struct{} // closed when the watching goroutine has ended
}

func newQuitWatch(stuck func(), log *slog.Logger, after func(time.Duration) <-chan time.Time) *quitWatch {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &quitWatch{stuck: stuck, log: log, after: after, done: make(chan struct{}), ended: make(chan struct{})}
}

// closing starts the watch, once, whoever asks first: the window's
// close, or the context ending. It does not block.
func (q *quitWatch) closing() {
	q.start.Do(func() {
		if q.stuck == nil {
			close(q.ended)
			return
		}
		timeout := q.after(quitGrace)
		go func() {
			defer close(q.ended)
			select {
			case <-q.done:
			case <-timeout:
				q.log.Error("the window's event loop did not return after closing; exiting", "waited", quitGrace)
				q.stuck()
			}
		}()
	})
}

// returned tells the watch that the event loop has returned. Called once,
// by Run.
func (q *quitWatch) returned() { close(q.done) }

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
