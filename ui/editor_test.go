package ui

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/quire-dev/quire/app"
	"github.com/quire-dev/quire/p2p"
)

// openLib opens an offline peer on dir, closed at the end of the test.
func openLib(t *testing.T, dir string) *app.Peer {
	t.Helper()
	p, err := app.Open(app.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// uiLoop runs the editor's UI work on the test goroutine: the editor's
// event goroutines hand it their functions, and the test runs them while
// it waits (pump). So the test and the editor never touch widgets at the
// same time, as on Fyne's real UI goroutine.
type uiLoop struct {
	ch   chan func()
	done chan struct{}
}

func newLoop(t *testing.T) *uiLoop {
	l := &uiLoop{ch: make(chan func()), done: make(chan struct{})}
	t.Cleanup(func() { close(l.done) })
	return l
}

func (l *uiLoop) do(f func()) {
	ran := make(chan struct{})
	select {
	case l.ch <- func() { f(); close(ran) }:
		<-ran
	case <-l.done:
	}
}

// until runs UI work until cond holds, failing after timeout.
func (l *uiLoop) until(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case f := <-l.ch:
			f()
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// newEditor builds an Editor on peer in a headless test window.
func newEditor(t *testing.T, peer *app.Peer, opts Options) (*Editor, fyne.Window) {
	t.Helper()
	if fyne.CurrentApp() == nil || fyne.CurrentApp().Driver() == nil {
		test.NewTempApp(t)
	}
	w := test.NewTempWindow(t, nil)
	if opts.Do == nil {
		// Nothing pumps this loop: the test sees only what it does
		// itself, never a concurrent event.
		opts.Do = newLoop(t).do
	}
	e := NewEditor(peer, w, opts)
	w.SetContent(e.Content())
	w.Resize(fyne.NewSize(1200, 760))
	t.Cleanup(e.Close)
	return e, w
}

func TestTypedTextSurvivesRestart(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	lib := openLib(t, dir)
	e, _ := newEditor(t, lib, Options{})
	if e.Open() == (app.DocID{}) {
		t.Fatal("a new library opened no document")
	}
	test.Type(e.src, "# Shopping\nmilk")
	e.src.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
	test.Type(e.src, "k\n")
	if got, want := e.src.Text, "# Shopping\nmilk\n"; got != want {
		t.Fatalf("entry text = %q, want %q", got, want)
	}
	e.Close()
	if err := lib.Close(); err != nil { // what quire does on exit
		t.Fatal(err)
	}

	re, w := newEditor(t, openLib(t, dir), Options{})
	if got, want := re.src.Text, "# Shopping\nmilk\n"; got != want {
		t.Errorf("after restart entry text = %q, want %q", got, want)
	}
	if got := re.docs.all; len(got) != 1 || got[0].Title != "Shopping" {
		t.Errorf("after restart list = %v, want one document titled Shopping", got)
	}
	if got, want := w.Title(), "Shopping — Quire"; got != want {
		t.Errorf("window title %q, want %q", got, want)
	}
}

func TestNewDocumentAndLastOpened(t *testing.T) {
	test.NewTempApp(t)
	dir := t.TempDir()
	lib := openLib(t, dir)
	e, _ := newEditor(t, lib, Options{})
	first := e.Open()
	test.Type(e.src, "first")
	e.NewDocument()
	second := e.Open()
	if second == first {
		t.Fatal("NewDocument did not open a new document")
	}
	if e.src.Text != "" {
		t.Errorf("new document shows %q, want empty", e.src.Text)
	}
	test.Type(e.src, "second")
	e.docs.list.Select(indexByID(e.docs.shown, first)) // back to the first, as a click would
	if e.Open() != first || e.src.Text != "first" {
		t.Errorf("after selecting the first document: open %s with %q", e.Open(), e.src.Text)
	}
	e.docs.list.Select(indexByID(e.docs.shown, second))
	e.Close()
	if err := lib.Close(); err != nil {
		t.Fatal(err)
	}

	re, _ := newEditor(t, openLib(t, dir), Options{})
	if re.Open() != second || re.src.Text != "second" {
		t.Errorf("after restart: open %s with %q, want %s with %q", re.Open(), re.src.Text, second, "second")
	}
	if len(re.docs.all) != 2 {
		t.Errorf("after restart list has %d documents, want 2", len(re.docs.all))
	}
}

func TestUndoRedoOwnEdits(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	test.Type(e.src, "hello world")
	e.src.TypedShortcut(&fyne.ShortcutUndo{})
	if got, want := e.src.Text, "hello "; got != want {
		t.Fatalf("after Ctrl+Z: %q, want %q", got, want)
	}
	if got := e.src.cursor(); got != 6 {
		t.Errorf("cursor after undo at %d, want 6", got)
	}
	e.src.TypedShortcut(&fyne.ShortcutUndo{})
	if e.src.Text != "" {
		t.Fatalf("after second undo: %q, want empty", e.src.Text)
	}
	e.src.TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift})
	e.src.TypedShortcut(&fyne.ShortcutRedo{})
	if got, want := e.src.Text, "hello world"; got != want {
		t.Fatalf("after two redos: %q, want %q", got, want)
	}
	text, _, _ := e.doc.Text()
	if text != e.src.Text {
		t.Errorf("document %q, entry %q", text, e.src.Text)
	}
}

func TestRenameSearchArchiveDelete(t *testing.T) {
	test.NewTempApp(t)
	e, w := newEditor(t, openLib(t, t.TempDir()), Options{})
	test.Type(e.src, "# Groceries\neggs")
	first := e.Open()
	e.NewDocument()
	test.Type(e.src, "# Letter to Ana")
	if got, want := w.Title(), "Letter to Ana — Quire"; got != want {
		t.Errorf("window title %q, want %q", got, want)
	}
	e.SetTitle("Draft letter")
	if got, want := w.Title(), "Draft letter — Quire"; got != want {
		t.Errorf("after rename window title %q, want %q", got, want)
	}
	test.Type(e.src, "!") // typing keeps a set title
	if d, _ := e.docs.info(e.Open()); d.Title != "Draft letter" {
		t.Errorf("after typing, title %q, want the set one", d.Title)
	}

	test.Type(e.docs.search, "groc")
	if len(e.docs.shown) != 1 || e.docs.shown[0].ID != first {
		t.Errorf("search groc shows %v, want only the groceries", e.docs.shown)
	}
	e.docs.search.SetText("")
	if len(e.docs.shown) != 2 {
		t.Errorf("empty search shows %d documents, want 2", len(e.docs.shown))
	}

	e.docs.list.Select(indexByID(e.docs.shown, first))
	e.ToggleArchive()
	if indexByID(e.docs.shown, first) < 0 {
		t.Error("the open document left the list when archived")
	}
	e.NewDocument()
	if indexByID(e.docs.shown, first) >= 0 {
		t.Error("archived document still listed")
	}
	e.docs.archived.SetChecked(true)
	if indexByID(e.docs.shown, first) < 0 {
		t.Error("archived document not listed with Show archived")
	}

	open := e.Open()
	e.deleteOpen()
	if e.Open() == open || e.Open() == (app.DocID{}) {
		t.Errorf("after delete open %s", e.Open())
	}
	if _, ok := e.docs.info(open); ok {
		t.Error("deleted document still listed")
	}
}

func TestShareAndJoinOffline(t *testing.T) {
	test.NewTempApp(t)
	a, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	test.Type(a.src, "# Shared notes")
	link, err := a.Invite(app.Write, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := fyne.CurrentApp().Clipboard().Content(); got != link {
		t.Errorf("clipboard %q, want the link %q", got, link)
	}
	b, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	if err := b.Join("not a link"); err == nil {
		t.Error("joining with garbage succeeded")
	}
	if err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	if b.Open() != a.Open() {
		t.Errorf("after joining, open %s, want %s", b.Open(), a.Open())
	}
	if r := b.doc.Rights(); r != app.Write {
		t.Errorf("joined with rights %v, want write", r)
	}
}

func TestImportExport(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "notes.md")
	if err := os.WriteFile(in, []byte("Some *notes*\r\n\r\n- one\r\n- two\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.ImportFile(in); err != nil {
		t.Fatal(err)
	}
	if got, want := e.src.Text, "Some *notes*\n\n- one\n- two\n"; got != want {
		t.Errorf("imported %q, want %q", got, want)
	}
	if got := e.currentTitle(); got != "notes" {
		t.Errorf("imported title %q, want the file name", got)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte{0xff, 0xfe, 0x00}, 0o600)
	if err := e.ImportFile(bad); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("importing binary: err %v, want a UTF-8 error", err)
	}

	md, txt := filepath.Join(dir, "out.md"), filepath.Join(dir, "out.txt")
	if err := e.ExportFile(md); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(md); string(b) != e.src.Text {
		t.Errorf("exported Markdown %q, want %q", b, e.src.Text)
	}
	if err := e.ExportFile(txt); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(txt)
	if strings.Contains(string(b), "*") || !strings.Contains(string(b), "Some notes") || !strings.Contains(string(b), "two") {
		t.Errorf("exported plain text %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestSettings(t *testing.T) {
	test.NewTempApp(t)
	var saved string
	peer := openLib(t, t.TempDir())
	e, _ := newEditor(t, peer, Options{DataDir: "/old", SetDataDir: func(d string) error { saved = d; return nil }})
	s := e.currentSettings()
	if s.DataDir != "/old" || !s.LAN || s.Theme != themeSystem {
		t.Errorf("initial settings %+v", s)
	}
	s.Name, s.Colour, s.LAN, s.Theme, s.DataDir = "Ana", "#112233", false, themeDark, "/new"
	if err := e.ApplySettings(s); err != nil {
		t.Fatal(err)
	}
	if name, colour := peer.Identity(); name != "Ana" || colour != "#112233" {
		t.Errorf("identity %q %q", name, colour)
	}
	if peer.LANDiscovery() || saved != "/new" {
		t.Errorf("LAN %v, data dir saved %q", peer.LANDiscovery(), saved)
	}
	th := fyne.CurrentApp().Settings().Theme()
	if th.Color(theme.ColorNameBackground, theme.VariantLight) != th.Color(theme.ColorNameBackground, theme.VariantDark) {
		t.Error("dark theme setting does not fix the variant")
	}
	s.Name = ""
	if err := e.ApplySettings(s); err == nil {
		t.Error("empty display name accepted")
	}
	s.Name = "Ana"
	relay := "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	s.Relays = []string{relay, relay}
	if err := e.ApplySettings(s); err != nil {
		t.Fatal(err)
	}
	if got := e.currentSettings().Relays; len(got) != 1 || got[0] != relay {
		t.Errorf("relays %q, want the one given", got)
	}
	s.Relays = []string{"/ip4/127.0.0.1/tcp/4001"}
	if err := e.ApplySettings(s); err == nil || !strings.Contains(err.Error(), "/p2p/") {
		t.Errorf("relay without a peer id: %v", err)
	}
}

func TestStatusText(t *testing.T) {
	tests := []struct {
		s         app.Status
		networked bool
		want      string
	}{
		{app.Status{Saved: true, Offline: true}, false, "Saved on this device · working offline"},
		{app.Status{Saved: true}, true, "Saved on this device · offline — changes sync when a peer is reachable"},
		{app.Status{Saved: true, Peers: []app.PeerSync{{Via: "lan"}}}, true, "Saved on this device · synced with 1 peer (on this network)"},
		{app.Status{Saved: true, Peers: []app.PeerSync{{Via: "lan"}, {Via: "relayed"}}}, true, "Saved on this device · synced with 2 peers"},
		{app.Status{Saved: true, Relays: 1}, true, "Saved on this device · no peer online — changes wait for them in a relay's mailbox"},
		{app.Status{Saved: true, Relays: 2, Peers: []app.PeerSync{{Via: "direct"}}}, true, "Saved on this device · synced with 1 peer (direct)"},
		{app.Status{Err: "disk full"}, true, "Could not save on this device (disk full); your text is still here · offline — changes sync when a peer is reachable"},
	}
	for _, tt := range tests {
		if got := statusText(tt.s, tt.networked); got != tt.want {
			t.Errorf("statusText(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestSplice(t *testing.T) {
	tests := []struct {
		old, new string
		pos, del int
		ins      string
	}{
		{"", "", 0, 0, ""},
		{"", "a", 0, 0, "a"},
		{"abc", "abXc", 2, 0, "X"},
		{"abc", "ac", 1, 1, ""},
		{"aaa", "aa", 2, 1, ""},
		{"héllo", "hé!llo", 2, 0, "!"},
		{"one two", "one 2", 4, 3, "2"},
		{"aé", "aè", 1, 1, "è"}, // same first byte: the split must not cut a rune
		{"éa", "èa", 0, 1, "è"},
		{"x€y", "x€€y", 2, 0, "€"},
	}
	for _, tt := range tests {
		pos, del, ins := Splice(tt.old, tt.new)
		if pos != tt.pos || del != tt.del || ins != tt.ins {
			t.Errorf("Splice(%q, %q) = %d, %d, %q; want %d, %d, %q", tt.old, tt.new, pos, del, ins, tt.pos, tt.del, tt.ins)
		}
	}
}

// TestSpliceRandom checks that Splice's edit turns old into new, on
// random texts with multi-byte characters.
func TestSpliceRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	alphabet := []rune("aé€😀\n ")
	random := func(n int) string {
		r := make([]rune, n)
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	for range 5000 {
		base := random(rng.IntN(200))
		r := []rune(base)
		pos := rng.IntN(len(r) + 1)
		del := rng.IntN(len(r) - pos + 1)
		newText := string(r[:pos]) + random(rng.IntN(5)) + string(r[pos+del:])
		p, d, ins := Splice(base, newText)
		got, ok := applyEdits(base, []app.Edit{{Pos: p, Del: d, Text: ins}}, nil)
		if !ok || got != newText {
			t.Fatalf("seed %d: Splice(%q, %q) = %d, %d, %q", seed, base, newText, p, d, ins)
		}
	}
}

func TestCursorAndSelectionOffsets(t *testing.T) {
	test.NewTempApp(t)
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	text := strings.Repeat("a long line of words that wraps around ", 20) + "\nshort\n\nlast"
	e.setText(text, 0, 0)
	n := len([]rune(text))
	for _, p := range []int{0, 1, 100, 500, n - 10, n - 5, n} {
		e.src.setCursor(p)
		if got := e.src.cursor(); got != p {
			t.Errorf("setCursor(%d): cursor at %d", p, got)
		}
	}
	e.src.setSelection(text, n-4, n-11)
	if a, h := e.src.selection(text); a != n-4 || h != n-11 {
		t.Errorf("selection (%d, %d), want (%d, %d)", a, h, n-4, n-11)
	}
	if got := e.src.SelectedText(); got != "short\n\n" {
		t.Errorf("selected %q", got)
	}
}

// netEditor opens a networked peer on loopback (connected to connect) and
// an editor on it whose UI work runs in loop.
func netEditor(t *testing.T, loop *uiLoop, connect ...string) (*Editor, *app.P2P) {
	t.Helper()
	// A joiner's first changes can reach the owner before its capability
	// does; the periodic sync repairs that, so keep its interval short.
	nw := app.NewNetwork(app.NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Connect: connect,
		Node: p2p.Config{SyncInterval: time.Second}})
	p, err := app.Open(app.Config{Dir: t.TempDir(), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		p.Close()
	})
	select {
	case <-nw.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	e, _ := newEditor(t, p, Options{Network: nw, Do: loop.do, PresenceEvery: 100 * time.Millisecond})
	return e, nw
}

// TestTwoEditorsLive connects two editors through real libp2p on
// loopback: what one types appears in the other, whose cursor and
// selection stay on the characters they were on.
func TestTwoEditorsLive(t *testing.T) {
	test.NewTempApp(t)
	loop := newLoop(t)
	a, na := netEditor(t, loop)
	test.Type(a.src, "# Plan\nfirst step\n")
	link, err := a.Invite(app.Write, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := netEditor(t, loop, na.Addrs()...)
	if err := b.Join(link); err != nil {
		t.Fatal(err)
	}
	loop.until(t, 20*time.Second, "b to catch up", func() bool { return b.src.Text == "# Plan\nfirst step\n" })

	// b selects "first" and a types at the top.
	b.src.setSelection(b.src.Text, 7, 12)
	a.src.setCursor(0)
	test.Type(a.src, "Hi ")
	loop.until(t, 20*time.Second, "a's typing to reach b", func() bool { return strings.HasPrefix(b.src.Text, "Hi ") })
	if got, want := b.src.Text, "Hi # Plan\nfirst step\n"; got != want {
		t.Fatalf("b shows %q, want %q", got, want)
	}
	if got := b.src.SelectedText(); got != "first" {
		t.Errorf("b's selection is %q, want %q", got, "first")
	}
	if anchor, head := b.src.selection(b.src.Text); anchor != 10 || head != 15 {
		t.Errorf("b's selection at (%d, %d), want (10, 15)", anchor, head)
	}

	// b types at its end; a's cursor (after "Hi ") stays put.
	b.src.setCursor(len([]rune(b.src.Text)))
	test.Type(b.src, "second step")
	loop.until(t, 20*time.Second, "b's typing to reach a", func() bool { return strings.HasSuffix(a.src.Text, "second step") })
	if got := a.src.cursor(); got != 3 {
		t.Errorf("a's cursor at %d, want 3", got)
	}
	// b sees a in the document, and a sees b.
	loop.until(t, 20*time.Second, "presence", func() bool { return len(a.others) == 1 && len(b.others) == 1 })

	// Undo in a removes only a's "Hi ".
	a.Undo()
	loop.until(t, 20*time.Second, "a's undo to reach b", func() bool { return !strings.HasPrefix(b.src.Text, "Hi") })
	if got, want := b.src.Text, "# Plan\nfirst step\nsecond step"; got != want {
		t.Errorf("after a's undo b shows %q, want %q", got, want)
	}

	// a revokes b from the members list.
	var bKey [32]byte
	for _, m := range a.doc.Members() {
		if !m.Self {
			bKey = m.Key
		}
	}
	if bKey != b.peer.Key() {
		t.Fatalf("a's members do not list b")
	}
	if err := a.RevokeMember(bKey); err != nil {
		t.Fatal(err)
	}
	for _, m := range a.doc.Members() {
		if m.Key == bKey && !m.Revoked {
			t.Error("b not revoked after RevokeMember")
		}
	}
}

func TestShortcutsAndPreview(t *testing.T) {
	test.NewTempApp(t)
	e, w := newEditor(t, openLib(t, t.TempDir()), Options{})
	e.AddShortcuts(w.Canvas())
	want := map[string]bool{}
	for _, k := range []fyne.Shortcut{ctrl(fyne.KeyN), ctrl(fyne.KeyS), ctrl(fyne.KeyF), ctrl(fyne.KeyP),
		ctrlShift(fyne.KeyZ), &fyne.ShortcutUndo{}, &fyne.ShortcutRedo{}} {
		want[k.ShortcutName()] = true
	}
	for _, m := range e.MainMenu().Items {
		for _, it := range m.Items {
			if it.Shortcut != nil {
				delete(want, it.Shortcut.ShortcutName())
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("menu lacks shortcuts %v", want)
	}
	first := e.Open()
	w.Canvas().(fyne.Shortcutable).TypedShortcut(ctrl(fyne.KeyN)) // Ctrl+N
	if e.Open() == first {
		t.Error("Ctrl+N did not open a new document")
	}
	test.Type(e.src, "# Title\n*body*")
	e.renderPreview()
	if got := e.preview.String(); !strings.Contains(got, "Title") || strings.Contains(got, "*") {
		t.Errorf("preview text %q", got)
	}
	e.TogglePreview()
	if e.previewOn || len(e.center.Objects) != 1 {
		t.Error("Ctrl+P did not hide the preview")
	}
	e.TogglePreview()
	if !e.previewOn {
		t.Error("preview did not come back")
	}
}
