package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// TestScreens renders the main screens to markup and images in testdata
// (Fyne's test theme, headless). When a screen changes on purpose, the
// failing run writes the new rendering to testdata/failed: look at it,
// then move it over the old one.
func TestScreens(t *testing.T) {
	test.NewTempApp(t)
	peer := openLib(t, t.TempDir())
	if err := peer.SetIdentity("Ana", "#4363d8"); err != nil {
		t.Fatal(err)
	}
	e, w := newEditor(t, peer, Options{DataDir: "/home/ana/.local/share/quire", SetDataDir: func(string) error { return nil }})
	test.Type(e.src, "# Shopping\nmilk")
	e.NewDocument()
	test.Type(e.src, "# Meeting notes\n\nAgenda for *Thursday*:\n\n- budget\n- **hiring**\n")
	e.renderPreview()
	w.Resize(fyne.NewSize(1200, 760))

	screens := []struct {
		name string
		show func()
	}{
		{"main", func() {}},
		{"share", e.ShowShare},
		{"settings", e.ShowSettings},
		{"join", e.ShowJoin},
	}
	for _, s := range screens {
		t.Run(s.name, func(t *testing.T) {
			s.show()
			test.AssertRendersToMarkup(t, s.name+".xml", w.Canvas())
			test.AssertRendersToImage(t, s.name+".png", w.Canvas())
			if top := w.Canvas().Overlays().Top(); top != nil {
				w.Canvas().Overlays().Remove(top)
			}
		})
	}
}
