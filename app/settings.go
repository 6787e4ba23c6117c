package app

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/quire-dev/quire/store"
)

// Identity returns the display name and colour this device shows to
// others. Defaults: the first eight characters of the fingerprint and a
// colour derived from the key.
func (p *Peer) Identity() (name, colour string) {
	if b, err := p.db.Get(store.Settings, settingName); err == nil && len(b) > 0 {
		name = string(b)
	} else {
		name = "Guest " + strings.SplitN(p.Fingerprint(), "-", 2)[0]
	}
	if b, err := p.db.Get(store.Settings, settingColor); err == nil && validColour(string(b)) {
		colour = string(b)
	} else {
		colour = palette[int(p.self[0])%len(palette)]
	}
	return name, colour
}

// palette is the default colours, readable on light and dark themes.
var palette = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"}

// SetIdentity sets the display name (1–64 bytes of UTF-8) and colour
// ("#rrggbb") this device shows to others.
func (p *Peer) SetIdentity(name, colour string) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("display name must be 1 to %d bytes of text", maxNameLen)
	}
	if !validColour(colour) {
		return fmt.Errorf("colour %q is not #rrggbb", colour)
	}
	if err := p.db.Put(store.Settings, settingName, []byte(name)); err != nil {
		return err
	}
	return p.db.Put(store.Settings, settingColor, []byte(strings.ToLower(colour)))
}

// LANDiscovery reports whether this device looks for peers on the local
// network (default on).
func (p *Peer) LANDiscovery() bool {
	b, err := p.db.Get(store.Settings, settingLAN)
	return err != nil || string(b) != "off"
}

// SetLANDiscovery turns LAN discovery on or off; it takes effect the next
// time the peer starts.
func (p *Peer) SetLANDiscovery(on bool) error {
	v := "on"
	if !on {
		v = "off"
	}
	return p.db.Put(store.Settings, settingLAN, []byte(v))
}
