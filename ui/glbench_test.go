//go:build glbench

package ui

// Benchmarks in the real window: Fyne's GL driver on an X display (Xvfb in
// CI), not the test driver. They need the main goroutine for GLFW, so
// under the glbench tag TestMain runs Fyne's event loop on it and the
// tests and benchmarks beside it. Run only the GL benchmarks:
//
//	xvfb-run -a -s '-screen 0 1920x1080x24' go test -tags glbench -run '^$' -bench GL -benchtime 200x -count 5 ./ui/
//
// Times are taken on the UI goroutine with hooks the benchmark adds: the
// editor's change hook (the change is shown), an animation (the loop's
// tick that paints next), a 1x1 raster drawn last in the window (its
// texture is made during the frame's painting) and a function queued from
// there (it runs after the buffers are swapped, unless the loop's next
// tick was due too and ran first: then the swap ended when that tick
// began, and the stamp takes the time the animation saw it, which is
// late by only GLFW's event poll; such stamps are counted).

import (
	"image"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/crdt/trace"
)

var glApp fyne.App

func TestMain(m *testing.M) {
	glApp = newApp() // as Run makes it
	code := 1
	glApp.Lifecycle().SetOnStarted(func() {
		go func() {
			code = m.Run()
			glWin.close()
			fyne.Do(glApp.Quit)
		}()
	})
	glApp.Run()
	os.Exit(code)
}

// glEditor is the editor in a real window on the automerge paper, shared
// by the GL benchmarks (closing a GLFW app's last window ends its loop).
type glEditor struct {
	once  sync.Once
	err   error
	dir   string
	peer  *app.Peer
	e     *Editor
	w     fyne.Window
	x     *xTest
	xwin  uint32
	paper app.DocID       // the automerge paper
	small app.DocID       // its first 2,000 characters, to compare with
	frame chan frameStamp // one per change the benchmark waits for
	want  atomic.Int64    // the entry's text length that ends a wait; -1: none

	// On the UI goroutine: the stamps of the change being shown.
	stamp     frameStamp
	ticks     int            // event loop ticks so far
	ticking   bool           // waiting for the tick after the change
	drawing   bool           // waiting for the probe to be drawn
	swapping  bool           // drawn, waiting for the frame to be swapped
	probe     *canvas.Raster // 1x1, the last object in the window
	animation *fyne.Animation
}

var glWin glEditor

// frameStamp says when the editor showed a change (on the UI goroutine),
// when the event loop's tick went on to paint (the change's layout and
// refresh done), when the painter reached the last object of the window
// (every draw call for the frame issued) and when the frame had been
// swapped onto the window.
type frameStamp struct {
	start, shown, tick, drawn, swapped time.Time
	next                               time.Time // the next tick's, if it came before swapped
	late                               bool      // the next tick ran before swapped
}

func (g *glEditor) close() {
	if g.e != nil {
		fyne.DoAndWait(func() {
			g.animation.Stop()
			g.e.Close()
		})
		g.e.pump.close()
	}
	if g.peer != nil {
		g.peer.Close()
	}
	if g.x != nil {
		g.x.Close()
	}
	if g.dir != "" {
		os.RemoveAll(g.dir)
	}
}

// open builds the window once: 1200x760, the paper open, the cursor in
// its middle, keyboard focus on the text.
func (g *glEditor) open(b *testing.B) {
	g.once.Do(func() {
		tr, err := trace.Load(paperTrace)
		if err != nil {
			g.err = err
			return
		}
		if g.dir, g.err = os.MkdirTemp("", "quire-glbench"); g.err != nil {
			return
		}
		if g.peer, g.err = app.Open(app.Config{Dir: g.dir}); g.err != nil {
			return
		}
		g.frame = make(chan frameStamp, 1)
		g.want.Store(-1)
		fyne.DoAndWait(func() {
			g.w = glApp.NewWindow("Quire GL benchmark")
			g.e = NewEditor(g.peer, g.w, Options{})
			g.probe = canvas.NewRaster(func(w, h int) image.Image {
				if g.drawing {
					g.drawing = false
					g.stamp.drawn = time.Now()
					g.swapping = true
					// Runs once the event loop is back from this tick,
					// whose frame is being painted, when the buffers
					// have been swapped; unless the loop's next tick
					// was due too and the select picked it first: then
					// the swap ended when that tick began.
					fyne.Do(func() {
						g.swapping = false
						g.stamp.swapped = time.Now()
						if g.stamp.late {
							g.stamp.swapped = g.stamp.next
						}
						g.frame <- g.stamp
					})
				}
				return image.NewNRGBA(image.Rect(0, 0, 1, 1))
			})
			g.animation = &fyne.Animation{Duration: time.Second, RepeatCount: fyne.AnimationRepeatForever, Tick: func(float32) {
				g.ticks++
				switch {
				case g.ticking:
					g.ticking = false
					g.stamp.tick = time.Now()
				case g.swapping && !g.stamp.late:
					g.stamp.late, g.stamp.next = true, time.Now()
				}
			}}
			g.animation.Start()
			g.w.SetContent(container.NewStack(g.e.Content(), container.NewWithoutLayout(g.probe)))
			g.probe.Resize(fyne.NewSize(1, 1))
			g.w.Resize(fyne.NewSize(1200, 760))
			g.w.Show()
			if !g.e.create(string([]rune(tr.EndContent)[:2000])) {
				g.err = os.ErrInvalid
				return
			}
			g.small = g.e.Open()
			if !g.e.create(tr.EndContent) {
				g.err = os.ErrInvalid
				return
			}
			g.paper = g.e.Open()
			g.e.onChange = func() {
				if w := g.want.Load(); w >= 0 && int64(len(g.e.src.Text)) == w {
					g.want.Store(-1)
					g.stamp = frameStamp{shown: time.Now()}
					g.ticking, g.drawing = true, true
					g.probe.Refresh() // its texture is made again in the next frame
				}
			}
			g.w.(driver.NativeWindow).RunNative(func(ctx any) {
				if x11, ok := ctx.(driver.X11WindowContext); ok {
					g.xwin = uint32(x11.WindowHandle)
				}
			})
		})
		if g.err != nil {
			return
		}
		if g.xwin == 0 {
			g.err = os.ErrNotExist
			return
		}
		if g.x, g.err = dialX(); g.err != nil {
			return
		}
		g.err = g.x.focus(g.xwin)
	})
	if g.err != nil {
		b.Fatalf("GL window: %v", g.err)
	}
}

// show opens document id with the cursor in its middle and the keyboard
// focus on the text.
func (g *glEditor) show(id app.DocID) {
	fyne.DoAndWait(func() {
		g.e.open(id)
		mid := g.e.n / 2
		g.e.recentre(mid, mid)
		g.e.src.setCursor(mid - g.e.ws)
		g.e.Focus()
	})
}

// textLen returns the length in bytes of the entry's text.
func (g *glEditor) textLen() int64 {
	var n int64
	fyne.DoAndWait(func() { n = int64(len(g.e.src.Text)) })
	return n
}

// await returns the frame stamp of the change being waited for.
func (g *glEditor) await(b *testing.B) frameStamp {
	select {
	case s := <-g.frame:
		return s
	case <-time.After(10 * time.Second):
		b.Fatal("the change did not reach the window within 10 s (is the window focused?)")
		return frameStamp{}
	}
}

const (
	xkX         = 0x78   // keysym "x"
	xkBackSpace = 0xff08 // keysym BackSpace
)

// BenchmarkKeystrokeGL types into the real window on the automerge paper
// (~105k characters, cursor in the middle): each keystroke, alternately
// "x" and BackSpace, goes through the X server (XTEST) to GLFW's event
// poll and Fyne's key handling, and is timed until the frame that shows
// it has been painted and its buffers swapped. Keystrokes come at random
// phases of the driver's 60 Hz event tick (seeded delay), as a typist's
// would. Reported (reportStamps): medians and 90th percentiles of the
// whole path (ms-key-to-screen) and of its parts: up to the editor's
// update (ms-key-to-editor: the X server, waiting for the loop's next
// tick, the entry and the document edit), the entry's refresh and layout
// (ms-refresh), Fyne's painter issuing the frame's draw calls (ms-draw),
// and the GL driver finishing and swapping it (ms-swap).
//
// The sub-benchmark small is the same on a 2,000-character document: the
// cost of the window and the driver without a large document.
func BenchmarkKeystrokeGL(b *testing.B) {
	glWin.open(b)
	b.Run("paper", func(b *testing.B) { glWin.show(glWin.paper); benchKeystrokeGL(b) })
	b.Run("small", func(b *testing.B) { glWin.show(glWin.small); benchKeystrokeGL(b) })
}

func benchKeystrokeGL(b *testing.B) {
	g := &glWin
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	base := g.textLen()
	// key types one key and returns its stamps, with start as the time
	// the key was sent.
	key := func(i int) frameStamp {
		sym, want := uint32(xkX), base+1
		if i%2 == 1 {
			sym, want = xkBackSpace, base
		}
		g.want.Store(want)
		start := time.Now()
		if err := g.x.key(sym); err != nil {
			b.Fatal(err)
		}
		s := g.await(b)
		s.start = start
		return s
	}
	for i := range 20 { // warm the caches
		key(i)
	}
	var stamps []frameStamp
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second / 60))))
		stamps = append(stamps, key(i))
	}
	b.StopTimer()
	if b.N%2 == 1 {
		key(1) // leave the text as it was
	}
	reportStamps(b, "key", stamps)
}

// reportStamps reports the medians and 90th percentiles of the whole path
// (start to swapped) and of its parts.
func reportStamps(b *testing.B, what string, stamps []frameStamp) {
	parts := []struct {
		name     string
		from, to func(frameStamp) time.Time
	}{
		{what + "-to-screen", func(s frameStamp) time.Time { return s.start }, func(s frameStamp) time.Time { return s.swapped }},
		{what + "-to-editor", func(s frameStamp) time.Time { return s.start }, func(s frameStamp) time.Time { return s.shown }},
		{"refresh", func(s frameStamp) time.Time { return s.shown }, func(s frameStamp) time.Time { return s.tick }},
		{"draw", func(s frameStamp) time.Time { return s.tick }, func(s frameStamp) time.Time { return s.drawn }},
		{"swap", func(s frameStamp) time.Time { return s.drawn }, func(s frameStamp) time.Time { return s.swapped }},
	}
	late := 0
	for _, s := range stamps {
		if s.late {
			late++
		}
	}
	b.ReportMetric(float64(late), "late-stamps")
	for _, p := range parts {
		ds := make([]time.Duration, 0, len(stamps))
		for _, s := range stamps {
			ds = append(ds, p.to(s).Sub(p.from(s)))
		}
		report(b, p.name, ds)
	}
}

// BenchmarkRemoteEditGL applies a remote edit (a character inserted, then
// deleted, 100 characters before the cursor) to the editor in the real
// window as the document's event goroutine does (fyne.Do with the
// editor's catch-up), and times it until the frame showing it has been
// swapped (ms-edit-to-screen, and its parts as for BenchmarkKeystrokeGL;
// ms-edit-to-editor includes waiting for the event loop to be free). A
// frame of the 60 Hz loop is 16.7 ms; an edit that takes less than that
// from its arrival does not stall the window.
func BenchmarkRemoteEditGL(b *testing.B) {
	glWin.open(b)
	b.Run("paper", func(b *testing.B) { glWin.show(glWin.paper); benchRemoteEditGL(b) })
	b.Run("small", func(b *testing.B) { glWin.show(glWin.small); benchRemoteEditGL(b) })
}

func benchRemoteEditGL(b *testing.B) {
	g := &glWin
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	base := g.textLen()
	var at int
	fyne.DoAndWait(func() { at = g.e.src.cursor() + g.e.ws - 100 })
	edit := func(i int) frameStamp {
		want := base + 1
		if i%2 == 1 {
			want = base
		}
		g.want.Store(want)
		start := time.Now()
		fyne.Do(func() {
			ed := app.Edit{Pos: at, Text: "y"}
			if i%2 == 1 {
				ed = app.Edit{Pos: at, Del: 1}
			}
			g.e.catchUp(app.Update{Edits: []app.Edit{ed}, Rev: g.e.rev + 1}, false)
			g.e.docs.retitle(g.e.doc.ID(), g.e.shown)
			g.e.updateTitle()
			g.e.schedulePreview()
			g.e.changed()
		})
		s := g.await(b)
		s.start = start
		return s
	}
	for i := range 20 {
		edit(i)
	}
	var stamps []frameStamp
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second / 60))))
		stamps = append(stamps, edit(i))
	}
	b.StopTimer()
	if b.N%2 == 1 {
		edit(1)
	}
	reportStamps(b, "edit", stamps)
}

// report adds the median and 90th percentile of ds to the benchmark's
// output, in milliseconds.
func report(b *testing.B, what string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), "ms-"+what+"-median")
	b.ReportMetric(ms(ds[len(ds)*9/10]), "ms-"+what+"-p90")
}

// BenchmarkFrameGL paints frames of the real window on the automerge
// paper in which nothing changed but the 1x1 probe: the cost of a frame
// as such, since Fyne's GL driver repaints the whole window for any
// change. Reported as for BenchmarkKeystrokeGL: ms-refresh is the wait
// for the loop's tick, ms-draw Fyne issuing the draw calls, ms-swap the GL
// driver finishing the frame and swapping it.
func BenchmarkFrameGL(b *testing.B) {
	glWin.open(b)
	b.Run("paper", func(b *testing.B) { glWin.show(glWin.paper); benchFrameGL(b) })
	b.Run("small", func(b *testing.B) { glWin.show(glWin.small); benchFrameGL(b) })
}

func benchFrameGL(b *testing.B) {
	g := &glWin
	frame := func() frameStamp {
		fyne.Do(func() {
			g.stamp = frameStamp{shown: time.Now()}
			g.ticking, g.drawing = true, true
			g.probe.Refresh()
		})
		s := g.await(b)
		s.start = s.shown
		return s
	}
	for range 20 {
		frame()
	}
	var stamps []frameStamp
	b.ResetTimer()
	for range b.N {
		stamps = append(stamps, frame())
	}
	b.StopTimer()
	reportStamps(b, "frame", stamps)
}
