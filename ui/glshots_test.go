//go:build glbench

package ui

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/crdt/trace"
)

// TestScreenshotsGL takes the README's screenshots of two editors in real
// windows (Fyne's GL driver): Ana writes a trip plan, Rui joins it over
// loopback libp2p, adds a line and selects a word, and each window is
// read back from the X server into $QUIRE_SCREENSHOTS (skipped when that
// is not set); then Ana opens the automerge paper:
//
//	QUIRE_SCREENSHOTS=$PWD/docs xvfb-run -a -s '-screen 0 1920x1080x24' go test -tags glbench -run ScreenshotsGL ./ui/
func TestScreenshotsGL(t *testing.T) {
	dir := os.Getenv("QUIRE_SCREENSHOTS")
	if dir == "" {
		t.Skip("QUIRE_SCREENSHOTS not set")
	}
	ana, aw, nw := glNetEditor(t, "Ana", "#4363d8")
	const plan = "# Trip to Lisbon\n\nWe land on **Friday** at 10:40.\n\n## To do\n\n- book the tram tour\n- ask Rui about dinner\n- pack the *good* camera\n\n## Budget\n\n"
	var link string
	onUI(func() {
		typeText(ana.src, plan)
		var err error
		if link, err = ana.Invite(app.Write, time.Hour); err != nil {
			t.Error(err)
		}
	})
	rui, rw, _ := glNetEditor(t, "Rui", "#e6194b", nw.Addrs()...)
	caughtUp := when(rui, func() bool { return rui.src.Text == plan })
	onUI(func() {
		if err := rui.Join(link); err != nil {
			t.Error(err)
		}
	})
	wait(t, caughtUp, "Rui to receive the plan")

	line := "Rui: the restaurant is booked for Saturday. Flights are paid; the hotel is 3 nights."
	seen := when(ana, func() bool {
		if !strings.HasSuffix(ana.src.Text, line) || len(ana.others) != 1 {
			return false
		}
		start := len([]rune(plan)) + strings.Index(line, "Saturday.")
		return ana.others[0].Anchor == start && ana.others[0].Head == start+len("Saturday.")
	})
	onUI(func() {
		rui.src.setCursor(len([]rune(rui.src.Text)))
		typeText(rui.src, line)
		start := len([]rune(plan)) + strings.Index(line, "Saturday.")
		rui.src.setSelection(rui.src.Text, start, start+len("Saturday."))
		rui.cursorMoved()
		ana.src.setCursor(0)
	})
	wait(t, seen, "Ana to see Rui's text and selection")
	onUI(func() {
		ana.renderPreview()
		rui.renderPreview()
	})
	waitTicks(3) // a frame painted after the last change
	x, err := dialX()
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	shoot := func(name string, w fyne.Window) {
		var xwin uint32
		var size fyne.Size
		onUI(func() {
			size = w.Canvas().Size()
			w.(driver.NativeWindow).RunNative(func(ctx any) {
				if x11, ok := ctx.(driver.X11WindowContext); ok {
					xwin = uint32(x11.WindowHandle)
				}
			})
		})
		if err := x.raise(xwin); err != nil {
			t.Fatal(err)
		}
		waitTicks(3) // painted again once exposed
		img, err := x.capture(xwin, int(size.Width), int(size.Height))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	shoot("editor-ana.png", aw)
	shoot("editor-rui.png", rw)

	// Then Ana opens the automerge paper (~105k characters): the entry
	// shows whole lines around the cursor, with the slider beside it.
	tr, err := trace.Load(paperTrace)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	onUI(func() {
		if !ana.create(tr.EndContent) {
			t.Error("creating the paper failed")
		}
		ana.src.setCursor(0)
		ana.renderPreview()
	})
	waitTicks(3)
	shoot("editor-large-document.png", aw)
}

// glNetEditor opens a networked peer on loopback (connected to connect)
// and an editor on it in a real window, set up as Run sets it up.
func glNetEditor(t *testing.T, name, colour string, connect ...string) (*Editor, fyne.Window, *app.P2P) {
	t.Helper()
	nw := app.NewNetwork(app.NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Connect: connect})
	p, err := app.Open(app.Config{Dir: t.TempDir(), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetIdentity(name, colour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-nw.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	var e *Editor
	var w fyne.Window
	onUI(func() {
		w = glApp.NewWindow(name + " — Quire")
		e = NewEditor(p, w, Options{Network: nw})
		w.SetMainMenu(e.MainMenu())
		e.AddShortcuts(w.Canvas())
		w.SetContent(e.Content())
		w.Resize(fyne.NewSize(1200, 760))
		w.Show()
		e.Focus()
	})
	t.Cleanup(func() {
		e.pump.close()
		onUI(func() {
			e.Close()
			w.Hide() // not Close: the benchmarks' window may be the app's last
		})
		cancel()
		<-done
		p.Close()
	})
	return e, w, nw
}

// onUI runs f on Fyne's UI goroutine and waits for it.
func onUI(f func()) { fyne.DoAndWait(f) }

// typeText types text into the source as keys would.
func typeText(s *source, text string) {
	for _, r := range text {
		if r == '\n' {
			s.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
		} else {
			s.TypedRune(r)
		}
	}
}

// when returns a channel closed once cond holds after one of e's changes
// (cond runs on the UI goroutine).
func when(e *Editor, cond func() bool) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	onUI(func() {
		e.onChange = func() {
			if cond() {
				once.Do(func() { close(ch) })
			}
		}
	})
	return ch
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitTicks returns after n ticks of the event loop; each tick paints
// what changed before it.
func waitTicks(n int) {
	ticks := make(chan struct{}, n)
	a := &fyne.Animation{Duration: time.Second, RepeatCount: fyne.AnimationRepeatForever, Tick: func(float32) {
		select {
		case ticks <- struct{}{}:
		default:
		}
	}}
	onUI(a.Start)
	for range n {
		<-ticks
	}
	onUI(a.Stop)
}
