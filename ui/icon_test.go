package ui

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files (icon.png, golden markup)")

// drawIcon draws Quire's icon: a page with lines of text and two coloured
// cursors on an indigo rounded square, supersampled 4×4 for smooth edges.
func drawIcon(size int) *image.NRGBA {
	type shape struct {
		x0, y0, x1, y1, r float64 // in 0..1 of the icon
		c                 color.NRGBA
	}
	indigo := color.NRGBA{0x3b, 0x4c, 0xca, 0xff}
	paper := color.NRGBA{0xfa, 0xfa, 0xf7, 0xff}
	ink := color.NRGBA{0x9a, 0xa3, 0xb5, 0xff}
	shapes := []shape{
		{0.02, 0.02, 0.98, 0.98, 0.2, indigo},
		{0.2, 0.14, 0.8, 0.86, 0.05, paper},
		{0.28, 0.26, 0.62, 0.31, 0.025, color.NRGBA{0x3b, 0x4c, 0xca, 0xff}},
		{0.28, 0.40, 0.72, 0.44, 0.02, ink},
		{0.28, 0.50, 0.52, 0.54, 0.02, ink},
		{0.28, 0.60, 0.72, 0.64, 0.02, ink},
		{0.28, 0.70, 0.60, 0.74, 0.02, ink},
		{0.53, 0.47, 0.555, 0.57, 0.01, color.NRGBA{0xf5, 0x82, 0x31, 0xff}},
		{0.61, 0.67, 0.635, 0.77, 0.01, color.NRGBA{0x3c, 0xb4, 0x4b, 0xff}},
	}
	inside := func(s shape, x, y float64) bool {
		if x < s.x0 || x > s.x1 || y < s.y0 || y > s.y1 {
			return false
		}
		cx := min(max(x, s.x0+s.r), s.x1-s.r)
		cy := min(max(y, s.y0+s.r), s.y1-s.r)
		return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= s.r*s.r
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	for py := range size {
		for px := range size {
			var r, g, b, a float64
			for sy := range ss {
				for sx := range ss {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					var c color.NRGBA
					for _, s := range shapes {
						if inside(s, x, y) {
							c = s.c
						}
					}
					fa := float64(c.A) / 255
					r, g, b, a = r+float64(c.R)*fa, g+float64(c.G)*fa, b+float64(c.B)*fa, a+fa
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{uint8(r / a), uint8(g / a), uint8(b / a), uint8(a / ss / ss * 255)})
		}
	}
	return img
}

func TestIconIsGenerated(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, drawIcon(256)); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("icon.png", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf.Bytes(), iconPNG) {
		t.Error("icon.png differs from drawIcon's; run go test ./ui -run TestIcon -update")
	}
}
