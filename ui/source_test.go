package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
)

// TestSourceFlatFrame checks the source's cheap frame: nothing it draws is
// a rounded or stroked rectangle (costly to paint without a GPU), its
// background keeps the entry's colour, and its four edges are where the
// entry's border was, in the border's colour, which follows the focus.
func TestSourceFlatFrame(t *testing.T) {
	e, w := newEditor(t, openLib(t, t.TempDir()), Options{})
	r, ok := test.WidgetRenderer(e.src).(*sourceRenderer)
	if !ok || r.box == nil {
		t.Fatal("the source's renderer did not find the entry's background and border")
	}
	th := e.src.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	check := func(what string, want fyne.ThemeColorName) {
		t.Helper()
		edges := 0
		for _, o := range r.Objects() {
			rect, ok := o.(*canvas.Rectangle)
			if !ok || !rect.Visible() {
				continue
			}
			if rect.CornerRadius != 0 || rect.StrokeWidth != 0 {
				t.Errorf("%s: draws a rectangle with corner radius %v and stroke %v", what, rect.CornerRadius, rect.StrokeWidth)
			}
			for _, e := range r.edges {
				if rect == e {
					edges++
					if rect.FillColor != th.Color(want, v) {
						t.Errorf("%s: edge coloured %v, want %s %v", what, rect.FillColor, want, th.Color(want, v))
					}
				}
			}
		}
		if edges != len(r.edges) {
			t.Errorf("%s: %d edges drawn, want %d", what, edges, len(r.edges))
		}
		if r.box.FillColor != th.Color(theme.ColorNameInputBackground, v) {
			t.Errorf("%s: background %v, want the input background", what, r.box.FillColor)
		}
	}
	w.Canvas().Unfocus()
	check("unfocused", theme.ColorNameInputBorder)
	w.Canvas().Focus(e.src)
	check("focused", theme.ColorNamePrimary)

	size := e.src.Size()
	bw := th.Size(theme.SizeNameInputBorder)
	wantEdges := []struct {
		pos  fyne.Position
		size fyne.Size
	}{
		{fyne.NewPos(0, 0), fyne.NewSize(size.Width, bw)},
		{fyne.NewPos(0, size.Height-bw), fyne.NewSize(size.Width, bw)},
		{fyne.NewPos(0, 0), fyne.NewSize(bw, size.Height)},
		{fyne.NewPos(size.Width-bw, 0), fyne.NewSize(bw, size.Height)},
	}
	for i, e := range r.edges {
		if e.Position() != wantEdges[i].pos || e.Size() != wantEdges[i].size {
			t.Errorf("edge %d at %v size %v, want %v size %v", i, e.Position(), e.Size(), wantEdges[i].pos, wantEdges[i].size)
		}
	}
}

// TestKeystrokeLeavesPanelsAlone checks that typing does not rebuild what
// did not change (each refresh costs the frame its layout): the people
// panel keeps its rows, and rebuilds them when what they show changes.
func TestKeystrokeLeavesPanelsAlone(t *testing.T) {
	peer := openLib(t, t.TempDir())
	e, _ := newEditor(t, peer, Options{})
	test.Type(e.src, "# Notes\nsome text")
	row := e.people.Objects[0]
	test.Type(e.src, " more")
	if e.people.Objects[0] != row {
		t.Error("a keystroke rebuilt the people panel")
	}
	if err := peer.SetIdentity("Ana", "#4363d8"); err != nil {
		t.Fatal(err)
	}
	e.showPresence()
	if e.people.Objects[0] == row {
		t.Error("the people panel was not rebuilt after the name changed")
	}
}

// TestCreatedDocumentListedByTitle: a document created with its text (as
// Import does) is listed under the title taken from it at once, not as
// "Untitled" until it is edited.
func TestCreatedDocumentListedByTitle(t *testing.T) {
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	if !e.create("# Hello\nworld") {
		t.Fatal("create failed")
	}
	if d, _ := e.docs.info(e.Open()); d.Title != "Hello" {
		t.Errorf("listed as %q, want %q", d.Title, "Hello")
	}
	i := indexByID(e.docs.shown, e.Open())
	if i < 0 || e.docs.shown[i].Title != "Hello" {
		t.Errorf("shown list: %v", e.docs.shown)
	}
}
