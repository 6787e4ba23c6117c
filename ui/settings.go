package ui

import (
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Theme choices, stored in Fyne's preferences under prefTheme.
const (
	prefTheme   = "theme"
	themeSystem = "system"
	themeLight  = "light"
	themeDark   = "dark"
)

// quireTheme is Fyne's default theme with the variant fixed to light or
// dark, or following the system when variant is themeSystem.
type quireTheme struct {
	variant string
}

// Color implements fyne.Theme.
func (t quireTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	switch t.variant {
	case themeLight:
		v = theme.VariantLight
	case themeDark:
		v = theme.VariantDark
	}
	return theme.DefaultTheme().Color(n, v)
}

// Font implements fyne.Theme.
func (quireTheme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }

// Icon implements fyne.Theme.
func (quireTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }

// Size implements fyne.Theme.
func (quireTheme) Size(n fyne.ThemeSizeName) float32 { return theme.DefaultTheme().Size(n) }

// applyTheme sets the app's theme from the stored preference.
func applyTheme(a fyne.App) {
	a.Settings().SetTheme(quireTheme{variant: a.Preferences().StringWithFallback(prefTheme, themeSystem)})
}

// Settings is what the settings dialog edits.
type Settings struct {
	Name, Colour string
	LAN          bool
	Theme        string // themeSystem, themeLight or themeDark
	DataDir      string
	Relays       []string // relay multiaddrs whose mailboxes documents sync through
}

// currentSettings reads the settings now in effect.
func (e *Editor) currentSettings() Settings {
	name, colour := e.peer.Identity()
	s := Settings{Name: name, Colour: colour, LAN: e.peer.LANDiscovery(), Theme: themeSystem, DataDir: e.opts.DataDir,
		Relays: e.peer.Relays()}
	if a := fyne.CurrentApp(); a != nil {
		s.Theme = a.Preferences().StringWithFallback(prefTheme, themeSystem)
	}
	return s
}

// ApplySettings stores s: identity and LAN discovery in the peer, the
// theme in Fyne's preferences (at once), the data directory through
// Options.SetDataDir (from the next start).
func (e *Editor) ApplySettings(s Settings) error {
	if err := e.peer.SetIdentity(s.Name, s.Colour); err != nil {
		return err
	}
	if err := e.peer.SetLANDiscovery(s.LAN); err != nil {
		return err
	}
	if err := e.peer.SetRelays(s.Relays); err != nil {
		return err
	}
	if a := fyne.CurrentApp(); a != nil {
		a.Preferences().SetString(prefTheme, s.Theme)
		applyTheme(a)
	}
	if dir := strings.TrimSpace(s.DataDir); dir != "" && dir != e.opts.DataDir && e.opts.SetDataDir != nil {
		if err := e.opts.SetDataDir(dir); err != nil {
			return err
		}
	}
	e.showPresence()
	return nil
}

var themeLabels = []struct{ value, label string }{
	{themeSystem, "Follow the system"}, {themeLight, "Light"}, {themeDark, "Dark"},
}

// ShowSettings opens the settings dialog.
func (e *Editor) ShowSettings() {
	if e.window == nil {
		return
	}
	cur := e.currentSettings()
	name := widget.NewEntry()
	name.SetText(cur.Name)
	colour := widget.NewEntry()
	colour.SetText(cur.Colour)
	swatch := canvas.NewRectangle(parseColour(cur.Colour))
	swatch.CornerRadius = 4
	swatch.SetMinSize(fyne.NewSize(28, 28))
	colour.OnChanged = func(s string) {
		swatch.FillColor = parseColour(s)
		swatch.Refresh()
	}
	pick := widget.NewButton("Choose…", func() {
		dialog.ShowColorPicker("Your colour", "Others see your cursor in it", func(c color.Color) {
			colour.SetText(hexColour(c))
		}, e.window)
	})
	lan := widget.NewCheck("Find and sync with peers on this network", nil)
	lan.SetChecked(cur.LAN)
	themes := widget.NewRadioGroup(nil, nil)
	for _, t := range themeLabels {
		themes.Options = append(themes.Options, t.label)
		if t.value == cur.Theme {
			themes.Selected = t.label
		}
	}
	data := widget.NewEntry()
	data.SetText(cur.DataDir)
	dataNote := "Changing it applies when Quire starts next (-data and QUIRE_DATA still win)."
	if e.opts.SetDataDir == nil {
		data.Disable()
		dataNote = "Set with -data or QUIRE_DATA when starting Quire."
	}
	relays := widget.NewMultiLineEntry()
	relays.SetText(strings.Join(cur.Relays, "\n"))
	relays.SetPlaceHolder("/dns4/relay.example.org/tcp/4001/p2p/12D3KooW…")
	relays.SetMinRowsVisible(2)
	relays.Wrapping = fyne.TextWrapBreak
	items := []*widget.FormItem{
		widget.NewFormItem("Display name", name),
		widget.NewFormItem("Colour", container.NewBorder(nil, nil, swatch, pick, colour)),
		widget.NewFormItem("LAN", container.NewVBox(lan, widget.NewLabel("Takes effect when Quire starts next."))),
		widget.NewFormItem("Relays", container.NewVBox(relays,
			widget.NewLabel("One address per line. Shared documents also sync through these\nrelays' mailboxes, end-to-end encrypted, for peers not reachable."))),
		widget.NewFormItem("Theme", themes),
		widget.NewFormItem("Data directory", container.NewVBox(data, widget.NewLabel(dataNote))),
	}
	d := dialog.NewForm("Settings", "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		s := Settings{Name: name.Text, Colour: strings.TrimSpace(colour.Text), LAN: lan.Checked, Theme: themeSystem, DataDir: data.Text,
			Relays: strings.Fields(relays.Text)}
		for _, t := range themeLabels {
			if t.label == themes.Selected {
				s.Theme = t.value
			}
		}
		if err := e.ApplySettings(s); err != nil {
			e.fail("settings", err)
		}
	}, e.window)
	d.Resize(fyne.NewSize(600, 580))
	d.Show()
}

func hexColour(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	const digits = "0123456789abcdef"
	b := []byte{'#', 0, 0, 0, 0, 0, 0}
	for i, v := range []uint8{n.R, n.G, n.B} {
		b[1+2*i], b[2+2*i] = digits[v>>4], digits[v&15]
	}
	return string(b)
}
