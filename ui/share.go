package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// Invite choices offered in the share dialog.
var (
	rightsChoices = []struct {
		label  string
		rights app.Rights
	}{
		{"Can read", app.Read},
		{"Can comment", app.Comment},
		{"Can edit", app.Write},
		{"Can edit and manage access", app.Admin},
	}
	expiryChoices = []struct {
		label string
		d     time.Duration
	}{
		{"1 hour", time.Hour},
		{"1 day", 24 * time.Hour},
		{"7 days", 7 * 24 * time.Hour},
		{"30 days", 30 * 24 * time.Hour},
		{"1 year", 365 * 24 * time.Hour},
	}
)

// Invite creates an invite link to the open document granting rights
// for d, and copies it to the clipboard.
func (e *Editor) Invite(rights app.Rights, d time.Duration) (string, error) {
	if e.doc == nil {
		return "", fmt.Errorf("no document is open")
	}
	link, err := e.doc.Invite(rights, time.Now().Add(d))
	if err != nil {
		return "", err
	}
	if a := fyne.CurrentApp(); a != nil {
		a.Clipboard().SetContent(link)
	}
	return link, nil
}

// Join accepts an invite link and opens the document it names.
func (e *Editor) Join(link string) error {
	id, err := e.peer.Join(strings.TrimSpace(link))
	if err != nil {
		return err
	}
	e.docs.refresh()
	e.open(id)
	if e.opts.Network != nil {
		e.opts.Network.Refresh()
	}
	e.changed()
	return nil
}

// ShowShare opens the share dialog: create an invite link, copy it, and
// see or revoke who has access.
func (e *Editor) ShowShare() {
	if e.doc == nil || e.window == nil {
		return
	}
	rights := widget.NewSelect(nil, nil)
	for _, c := range rightsChoices {
		if c.rights <= e.doc.Rights() {
			rights.Options = append(rights.Options, c.label)
		}
	}
	if len(rights.Options) > 2 {
		rights.SetSelectedIndex(2)
	} else {
		rights.SetSelectedIndex(len(rights.Options) - 1)
	}
	expiry := widget.NewSelect(nil, nil)
	for _, c := range expiryChoices {
		expiry.Options = append(expiry.Options, c.label)
	}
	expiry.SetSelectedIndex(2)
	link := widget.NewEntry()
	link.SetPlaceHolder("The link appears here")
	link.Wrapping = fyne.TextWrapBreak
	link.MultiLine = true
	note := widget.NewLabel("")
	var created string
	create := widget.NewButton("Create link and copy", func() {
		l, err := e.Invite(rightsChoices[rights.SelectedIndex()].rights, expiryChoices[expiry.SelectedIndex()].d)
		if err != nil {
			e.fail("invite", err)
			return
		}
		created = l
		link.SetText(l)
		note.SetText("Copied. Anyone with this link can join until it expires; the access it gives ends then too.")
	})
	revokeLink := widget.NewButton("Revoke this link", func() {
		if created == "" {
			return
		}
		if err := e.doc.RevokeInvite(created); err != nil {
			e.fail("revoke link", err)
			return
		}
		note.SetText("Revoked: the link no longer works, and whoever joined with it is cut off.")
	})
	members := e.membersView()
	form := container.NewVBox(
		widget.NewForm(widget.NewFormItem("People who join", rights), widget.NewFormItem("Link works for", expiry)),
		container.NewHBox(create, revokeLink),
		link, note,
		widget.NewSeparator(),
		widget.NewLabelWithStyle("Who has access", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		members,
	)
	d := dialog.NewCustom("Share “"+e.currentTitle()+"”", "Close", container.NewVScroll(form), e.window)
	d.Resize(fyne.NewSize(560, 520))
	d.Show()
}

// membersView lists the devices with access to the open document, with a
// Revoke button for each when this device may manage access.
func (e *Editor) membersView() fyne.CanvasObject {
	box := container.NewVBox()
	var fill func()
	fill = func() {
		box.Objects = nil
		names := map[string]string{}
		for _, p := range e.others {
			names[fmt.Sprintf("%x", p.Key)] = p.Name
		}
		admin := e.doc.Rights() >= app.Admin
		for _, m := range e.doc.Members() {
			who := m.Fingerprint
			if n := names[fmt.Sprintf("%x", m.Key)]; n != "" {
				who = n + " (" + m.Fingerprint + ")"
			}
			if m.Self {
				who = "This device"
			}
			what := rightsLabel(m.Rights)
			if m.Revoked {
				what = "revoked"
			}
			row := container.NewBorder(nil, nil, nil, nil, widget.NewLabel(who+" — "+what))
			if admin && !m.Self && !m.Revoked {
				key := m.Key
				row = container.NewBorder(nil, nil, nil, widget.NewButton("Revoke", func() {
					e.confirm("Revoke access", "Cut "+who+" off this document? Their copy stops receiving changes and their new edits are refused.", func() {
						if e.RevokeMember(key) == nil {
							fill()
						}
					})
				}), widget.NewLabel(who+" — "+what))
			}
			box.Add(row)
		}
		box.Refresh()
	}
	fill()
	return box
}

// confirm asks before doing something that cannot be taken back; without
// a window it just does it.
func (e *Editor) confirm(title, msg string, do func()) {
	if e.window == nil {
		do()
		return
	}
	dialog.ShowConfirm(title, msg, func(ok bool) {
		if ok {
			do()
		}
	}, e.window)
}

func rightsLabel(r app.Rights) string {
	for _, c := range rightsChoices {
		if c.rights == r.Level() {
			return strings.ToLower(c.label)
		}
	}
	return r.String()
}

// RevokeMember revokes a device's access to the open document (key is a
// Member's Key); connected peers cut it off as soon as the record reaches
// them.
func (e *Editor) RevokeMember(key [32]byte) error {
	if e.doc == nil {
		return fmt.Errorf("no document is open")
	}
	if err := e.doc.RevokeKey(key); err != nil {
		e.fail("revoke", err)
		return err
	}
	e.changed()
	return nil
}

// ShowJoin asks for an invite link (pre-filled from the clipboard when it
// holds one) and joins the document.
func (e *Editor) ShowJoin() {
	if e.window == nil {
		return
	}
	entry := widget.NewMultiLineEntry()
	entry.Wrapping = fyne.TextWrapBreak
	entry.SetPlaceHolder("Paste an invite link")
	if a := fyne.CurrentApp(); a != nil {
		if c := strings.TrimSpace(a.Clipboard().Content()); strings.HasPrefix(c, "quire://join/") {
			entry.SetText(c)
		}
	}
	d := dialog.NewForm("Join a document", "Join", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Link", entry)},
		func(ok bool) {
			if !ok {
				return
			}
			if err := e.Join(entry.Text); err != nil {
				e.fail("join", err)
			}
		}, e.window)
	d.Resize(fyne.NewSize(520, 240))
	d.Show()
}
