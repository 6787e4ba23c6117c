package ui

import (
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// preview is the rendered Markdown beside the source: Fyne's RichText,
// with its lines of text moved onto whole pixels so that Fyne 2.7.1's GL
// painter draws them pixel for pixel, its same-style pieces of text
// joined (render), and only its lines in view given to the painter
// (crispText.Objects).
//
// The painter draws a canvas.Text from a texture as wide as its measured
// width rounded, onto a quad as wide as its rounded right edge less its
// rounded left edge, both computed from its position in its parent. When
// the left edge is not on a whole pixel the two can differ by a pixel,
// and the texture is then stretched or squeezed by a pixel with linear
// filtering: the whole line looks smudged. List items showed it most:
// their text starts after the bullet, at 20.55 pixels. (Fixed upstream
// after 2.7.1, fyne-io/fyne#6101.) A line moved to the pixel its position
// rounds to, by at most half a pixel, is drawn on that same pixel with a
// quad exactly as large as its texture.
type preview struct {
	widget.RichText
	view *container.Scroll // the scroll container showing it
}

func newPreview() *preview {
	p := &preview{}
	p.Scroll = fyne.ScrollNone // the editor puts it in a scroll container
	p.Wrapping = fyne.TextWrapWord
	p.ExtendBaseWidget(p)
	p.view = container.NewVScroll(p)
	p.render("")
	return p
}

// render shows Markdown md. Fyne's Markdown renderer splits a paragraph
// into many text segments of the same style (at soft line breaks, at
// brackets); render joins neighbours of the same style into one. Besides
// laying out fewer objects, this avoids most of a Fyne 2.7.1 wrapping
// bug: a text segment that starts in the last few pixels of a row gets
// wrapped one character per row (fyne-io/fyne#4303, fixed upstream by
// #6200 after 2.7.1); it still can when the style changes there.
func (p *preview) render(md string) {
	parsed := widget.NewRichTextFromMarkdown(md).Segments
	joined := make([]widget.RichTextSegment, 0, len(parsed))
	for _, seg := range parsed {
		if t, ok := seg.(*widget.TextSegment); ok && len(joined) > 0 {
			if last, ok := joined[len(joined)-1].(*widget.TextSegment); ok && last.Style == t.Style && t.Style.Inline {
				last.Text += t.Text
				continue
			}
		}
		joined = append(joined, seg)
	}
	p.Segments = joined
	p.Refresh()
}

// CreateRenderer implements fyne.Widget.
func (p *preview) CreateRenderer() fyne.WidgetRenderer {
	return &crispText{WidgetRenderer: p.RichText.CreateRenderer(), obj: p}
}

// crispText is a RichText renderer that moves its lines onto whole
// pixels after every layout, and gives the painter only the lines the
// scroll container shows.
type crispText struct {
	fyne.WidgetRenderer
	obj *preview

	// The lines last given out, and what they were chosen from.
	shown     []fyne.CanvasObject
	shownFrom []fyne.CanvasObject
	shownTop  float32
	shownLen  int
	shownH    float32
}

// Objects returns the preview's objects without the lines of text that
// lie outside the scroll container's view. Fyne's painter issues a draw
// call for every object of the window on every frame, visible or not,
// and a large document's preview holds three times as many lines as it
// shows; without a GPU each draw call costs the frame about 15 µs. The
// painter asks on every frame: the result is kept while the view and the
// objects stay the same, and never changed once given out.
func (r *crispText) Objects() []fyne.CanvasObject {
	all := r.WidgetRenderer.Objects()
	view := r.obj.view
	if view == nil {
		return all
	}
	top, h := view.Offset.Y, view.Size().Height
	if r.shown != nil && top == r.shownTop && h == r.shownH && len(all) == r.shownLen && len(all) > 0 && &all[0] == &r.shownFrom[0] {
		return r.shown
	}
	shown := make([]fyne.CanvasObject, 0, len(all))
	for _, o := range all {
		if t, ok := o.(*canvas.Text); ok {
			if y := t.Position().Y; y+t.Size().Height < top || y > top+h {
				continue
			}
		}
		shown = append(shown, o)
	}
	r.shown, r.shownFrom, r.shownTop, r.shownLen, r.shownH = shown, all, top, len(all), h
	return shown
}

func (r *crispText) Layout(size fyne.Size) {
	r.WidgetRenderer.Layout(size)
	r.snap()
}

func (r *crispText) Refresh() {
	r.WidgetRenderer.Refresh()
	r.snap()
}

// snap moves every line of text to the device pixel its position rounds
// to (and forgets which lines were shown: they have moved).
func (r *crispText) snap() {
	r.shown = nil
	scale := float32(1)
	if c := fyne.CurrentApp().Driver().CanvasForObject(r.obj); c != nil && c.Scale() > 0 {
		scale = c.Scale()
	}
	for _, o := range r.WidgetRenderer.Objects() {
		if t, ok := o.(*canvas.Text); ok {
			p := t.Position()
			if q := fyne.NewPos(onPixel(p.X, scale), onPixel(p.Y, scale)); q != p {
				t.Move(q)
			}
		}
	}
}

// onPixel returns v (in units of scale device pixels) rounded to a whole
// device pixel.
func onPixel(v, scale float32) float32 {
	return float32(math.Round(float64(v*scale))) / scale
}
