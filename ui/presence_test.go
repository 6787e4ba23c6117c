package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// TestPersonRowDotBesideName: in the people panel a person's colour dot
// sits beside their name, also when a line of detail follows it (it was
// centred on name and detail together, so it sat beside the detail).
func TestPersonRowDotBesideName(t *testing.T) {
	test.NewTempApp(t)
	for _, where := range []string{"", "line 1, column 1"} {
		row := personRow("Ana", "#3355dd", where)
		w := test.NewTempWindow(t, row)
		w.Resize(fyne.NewSize(220, 120))
		var dot, name box
		var found [2]bool
		walk(row, fyne.NewPos(0, 0), func(o fyne.CanvasObject, at fyne.Position) {
			switch v := o.(type) {
			case *canvas.Circle:
				dot, found[0] = box{at, v.Size()}, true
			case *widget.Label:
				if v.Text == "Ana" {
					name, found[1] = box{at, v.Size()}, true
				}
			}
		})
		if !found[0] || !found[1] {
			t.Fatalf("detail %q: dot found %v, name found %v", where, found[0], found[1])
		}
		mid := dot.Position.Y + dot.Size.Height/2
		if mid < name.Position.Y || mid > name.Position.Y+name.Size.Height {
			t.Errorf("detail %q: dot centred at y=%v, name spans y=%v..%v", where, mid, name.Position.Y, name.Position.Y+name.Size.Height)
		}
	}
}

// walk calls f on o and every object inside it with its absolute position.
func walk(o fyne.CanvasObject, at fyne.Position, f func(fyne.CanvasObject, fyne.Position)) {
	at = at.Add(o.Position())
	f(o, at)
	switch v := o.(type) {
	case *fyne.Container:
		for _, c := range v.Objects {
			walk(c, at, f)
		}
	}
}

// box is an object's place on the canvas.
type box struct {
	Position fyne.Position
	Size     fyne.Size
}
