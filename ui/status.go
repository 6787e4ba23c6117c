package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// statusText is the status line for a document's sync state, in calm
// words: where the text is safe, and who it reaches.
func statusText(s app.Status, networked bool) string {
	var parts []string
	if s.Saved {
		parts = append(parts, "Saved on this device")
	} else {
		msg := "Not saved yet"
		if s.Err != "" {
			msg = "Could not save on this device (" + s.Err + "); your text is still here"
		}
		parts = append(parts, msg)
	}
	switch n := len(s.Peers); {
	case !networked:
		parts = append(parts, "working offline")
	case n == 1:
		parts = append(parts, "synced with 1 peer ("+viaText(s.Peers[0].Via)+")")
	case n > 1:
		parts = append(parts, fmt.Sprintf("synced with %d peers", n))
	case s.Relays == 1:
		parts = append(parts, "no peer online — changes wait for them in a relay's mailbox")
	case s.Relays > 1:
		parts = append(parts, fmt.Sprintf("no peer online — changes wait for them in %d relays' mailboxes", s.Relays))
	default:
		parts = append(parts, "offline — changes sync when a peer is reachable")
	}
	return strings.Join(parts, " · ")
}

func viaText(via string) string {
	switch via {
	case "lan":
		return "on this network"
	case "direct":
		return "direct"
	case "relayed":
		return "through a relay"
	}
	return via
}

// showStatus refreshes the status line from the open document.
func (e *Editor) showStatus() {
	if e.doc == nil {
		e.status.SetText("")
		return
	}
	text := statusText(e.doc.Status(), e.opts.Network != nil)
	if n := len(e.others); n > 0 {
		text += fmt.Sprintf(" · %d other%s here", n, plural(n))
	}
	e.status.SetText(text)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// peersText describes the connected peers, one per line.
func peersText(peers []app.NetPeer) string {
	if len(peers) == 0 {
		return "No peers connected."
	}
	var b strings.Builder
	for _, p := range peers {
		id := p.ID
		if len(id) > 16 {
			id = "…" + id[len(id)-12:]
		}
		fmt.Fprintf(&b, "%s — %s", id, viaText(p.Via))
		if len(p.Addrs) > 0 {
			fmt.Fprintf(&b, " — %s", p.Addrs[0])
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// relaysText describes the relays and how the last round with each went.
func relaysText(rs []app.RelayStatus, set []string) string {
	if len(rs) == 0 && len(set) == 0 {
		return "No relays. Add one in Settings to sync with peers you cannot reach directly."
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Addr] = true
		fmt.Fprintf(&b, "%s — ", r.Addr)
		switch {
		case r.Err != "":
			fmt.Fprintf(&b, "failed at %s: %s", r.Last.Format("15:04:05"), r.Err)
		default:
			fmt.Fprintf(&b, "synced at %s", r.Last.Format("15:04:05"))
		}
		b.WriteString("\n")
	}
	for _, a := range set {
		if !seen[a] {
			fmt.Fprintf(&b, "%s — not synced yet\n", a)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ShowPeers opens the peers panel: this device, the peers it is
// connected to and how (on the LAN, direct, through a relay), and a field
// to connect to a peer by address.
func (e *Editor) ShowPeers() {
	if e.window == nil {
		return
	}
	nw := e.opts.Network
	self := widget.NewLabel("This device: " + e.peer.Fingerprint())
	if nw == nil {
		dialog.ShowCustom("Peers", "Close", container.NewVBox(self,
			widget.NewLabel("Working offline: everything is saved on this device.\nStart Quire without -offline to sync with others.")), e.window)
		return
	}
	list := widget.NewLabel(peersText(nw.Peers()))
	list.Wrapping = fyne.TextWrapWord
	addrs := widget.NewLabel("Listening on:\n" + strings.Join(nw.Addrs(), "\n"))
	addrs.Wrapping = fyne.TextWrapBreak
	lan := "on"
	if !e.peer.LANDiscovery() {
		lan = "off"
	}
	addr := widget.NewEntry()
	addr.SetPlaceHolder("/ip4/…/tcp/…/p2p/…")
	var connect *widget.Button
	connect = widget.NewButton("Connect", func() {
		// Dialling can take seconds: off the UI goroutine, results back
		// through Options.Do.
		target := strings.TrimSpace(addr.Text)
		connect.Disable()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := nw.Connect(ctx, target)
			e.opts.Do(func() {
				connect.Enable()
				if err != nil {
					e.fail("connect", err)
					return
				}
				list.SetText(peersText(nw.Peers()))
			})
		}()
	})
	relays := widget.NewLabel(relaysText(nw.RelayStatus(), e.peer.Relays()))
	relays.Wrapping = fyne.TextWrapBreak
	refresh := widget.NewButton("Refresh", func() {
		list.SetText(peersText(nw.Peers()))
		relays.SetText(relaysText(nw.RelayStatus(), e.peer.Relays()))
	})
	body := container.NewVBox(self,
		widget.NewLabel("Finding peers on this network (LAN): "+lan),
		widget.NewLabelWithStyle("Connected", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		list,
		widget.NewLabelWithStyle("Relays", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		relays, refresh, widget.NewSeparator(), addrs,
		container.NewBorder(nil, nil, nil, connect, addr))
	d := dialog.NewCustom("Peers", "Close", container.NewVScroll(body), e.window)
	d.Resize(fyne.NewSize(600, 440))
	d.Show()
}
