package ui

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

// iconPNG is Quire's application icon, drawn by drawIcon in icon_test.go
// (regenerate with `go test ./ui -run TestIcon -update`).
//
//go:embed icon.png
var iconPNG []byte

// Icon is Quire's application icon: a page of text with two coloured
// cursors on it.
var Icon = fyne.NewStaticResource("quire.png", iconPNG)
