package ui

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/crdt/trace"
)

// glQuad returns the width and height of the quad Fyne 2.7.1's GL painter
// draws text t on at scale 1 (its drawText: the rounded far edge less
// the rounded near edge of its position in its parent, plus the italic
// lean rounded), and of the texture it draws from (newGlTextTexture: the
// measured size rounded, plus the lean, rounded up).
func glQuad(t *canvas.Text) (quad, tex [2]float64) {
	size, pos := t.MinSize(), t.Position()
	lean := 0.0
	if t.TextStyle.Italic {
		lean = float64(t.TextSize) / 5
	}
	w, h := float64(size.Width), float64(size.Height)
	x, y := float64(pos.X), float64(pos.Y)
	quad = [2]float64{math.Round(x+w) - math.Round(x) + math.Round(lean), math.Round(y+h) - math.Round(y)}
	tex = [2]float64{math.Ceil(math.Round(w) + lean), math.Round(h)}
	return quad, tex
}

// TestPreviewTextCrisp renders Markdown with headings, emphasis and
// lists, and checks that every line of the preview is drawn on a quad as
// large as its texture, so the GL painter does not stretch it (the
// smudged list items of the README's screenshots). Without snapping
// most of these lines fail.
func TestPreviewTextCrisp(t *testing.T) {
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	test.Type(e.src, "# Trip to Lisbon\n\nWe land on **Friday** at 10:40.\n\n## To do\n\n- book the tram tour\n- ask Rui about dinner\n- pack the *good* camera\n\n1. first\n2. second *item* here\n\n## Budget\n\nRui: the restaurant is booked for Saturday. Flights are paid; the hotel is 3 nights, and the rest is *to be decided* later on.\n")
	e.renderPreview()
	n := 0
	for _, o := range test.WidgetRenderer(e.preview).Objects() {
		txt, ok := o.(*canvas.Text)
		if !ok || txt.Text == "" {
			continue
		}
		n++
		if quad, tex := glQuad(txt); quad != tex {
			t.Errorf("%q at %v: drawn on %v pixels from a %v texture", txt.Text, txt.Position(), quad, tex)
		}
	}
	if n < 15 {
		t.Fatalf("found %d lines of text in the preview, want at least 15", n)
	}
}

// TestOnPixel checks that snapping moves a position by at most half a
// device pixel onto a whole one.
func TestOnPixel(t *testing.T) {
	for _, scale := range []float32{1, 1.5, 2} {
		for v := float32(-3); v < 3; v += 0.0625 {
			p := onPixel(v, scale) * scale
			if d := p - v*scale; d < -0.5 || d > 0.5 || p != float32(math.Round(float64(p))) {
				t.Errorf("onPixel(%v, %v) = %v pixels, from %v", v, scale, p, v*scale)
			}
		}
	}
}

// TestPreviewDrawsOnlyVisibleLines: a long preview gives the painter only
// the lines its scroll container shows, and others as it scrolls.
func TestPreviewDrawsOnlyVisibleLines(t *testing.T) {
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	var md strings.Builder
	for i := range 200 {
		fmt.Fprintf(&md, "Paragraph %d of the preview.\n\n", i)
	}
	e.setText(md.String(), 0, 0)
	e.renderPreview()
	e.preview.view.Refresh() // the scroll container takes the new height
	r := test.WidgetRenderer(e.preview)
	all := r.(*crispText).WidgetRenderer.Objects()
	check := func(top float32) {
		t.Helper()
		view := e.preview.view.Size().Height
		n := 0
		for _, o := range r.Objects() {
			txt, ok := o.(*canvas.Text)
			if !ok {
				continue
			}
			n++
			if y := txt.Position().Y; y+txt.Size().Height < top || y > top+view {
				t.Errorf("scrolled to %g: line %q at y %g is outside the view (%g high)", top, txt.Text, y, view)
			}
		}
		// Every line in view is given out.
		want := 0
		for _, o := range all {
			if txt, ok := o.(*canvas.Text); ok && txt.Position().Y+txt.Size().Height >= top && txt.Position().Y <= top+view {
				want++
			}
		}
		if n != want || n == 0 || n >= len(all)/2 {
			t.Errorf("scrolled to %g: %d of %d lines given to the painter, want the %d in view", top, n, len(all), want)
		}
	}
	check(0)
	e.preview.view.ScrollToOffset(fyne.NewPos(0, 2000))
	if top := e.preview.view.Offset.Y; top != 2000 {
		t.Fatalf("the preview scrolled to %g, want 2000", top)
	}
	check(2000)
}

// oneCharRows returns the rows of the preview's text that hold a single
// character: Fyne 2.7.1 wraps a segment one character per row when it
// starts in the last pixels of a row.
func oneCharRows(objs []fyne.CanvasObject) []string {
	rows := map[float32]string{}
	for _, o := range objs {
		if t, ok := o.(*canvas.Text); ok {
			rows[t.Position().Y] += t.Text
		}
	}
	var one []string
	for _, r := range rows {
		if r = strings.TrimSpace(r); len([]rune(r)) == 1 {
			one = append(one, r)
		}
	}
	return one
}

// TestPreviewWrapsWords renders the start of the automerge paper (LaTeX
// that Fyne's Markdown renderer splits into many segments) in the
// preview, and checks that no row holds a lone character, which the same
// Markdown in a plain RichText does.
func TestPreviewWrapsWords(t *testing.T) {
	tr, err := trace.Load(paperTrace)
	if err != nil {
		t.Skipf("trace: %v", err)
	}
	md := string([]rune(tr.EndContent)[:1500])
	e, _ := newEditor(t, openLib(t, t.TempDir()), Options{})
	e.preview.render(md)
	e.preview.Resize(fyne.NewSize(362, e.preview.MinSize().Height))
	e.preview.view.ScrollToOffset(fyne.NewPos(0, 0))
	objs := test.WidgetRenderer(e.preview).(*crispText).WidgetRenderer.Objects()
	if one := oneCharRows(objs); len(one) > 0 {
		t.Errorf("%d rows of the preview hold one character: %q", len(one), one)
	}

	plain := widget.NewRichTextFromMarkdown(md)
	plain.Wrapping = fyne.TextWrapWord
	plain.Resize(fyne.NewSize(362, 2000))
	if one := oneCharRows(test.WidgetRenderer(plain).Objects()); len(one) == 0 {
		t.Log("a plain RichText wraps this Markdown correctly too: the check above proves nothing here")
	}
}
