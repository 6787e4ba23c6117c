package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Rename asks for a new title for the open document; an empty title goes
// back to the title taken from the text.
func (e *Editor) Rename() {
	if e.doc == nil || e.window == nil {
		return
	}
	d, _ := e.docs.info(e.Open())
	entry := widget.NewEntry()
	entry.SetText(d.Title)
	entry.SetPlaceHolder("Title (empty: the first line)")
	dialog.ShowForm("Rename document", "Rename", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Title", entry)},
		func(ok bool) {
			if ok {
				e.SetTitle(entry.Text)
			}
		}, e.window)
	e.window.Canvas().Focus(entry)
}

// SetTitle sets the open document's title ("" returns to the title taken
// from its text).
func (e *Editor) SetTitle(title string) {
	if e.doc == nil {
		return
	}
	if err := e.peer.SetTitle(e.Open(), title); err != nil {
		e.fail("rename", err)
		return
	}
	e.docs.refresh()
	e.docs.derived = "" // a set title is not the text's
	if title == "" {
		e.docs.derived = e.currentTitle()
	}
	e.updateTitle()
	e.changed()
}

func (e *Editor) currentTitle() string {
	d, _ := e.docs.info(e.Open())
	return d.Title
}

// ToggleArchive archives the open document, or brings it back from the
// archive. An archived document leaves the list unless "Show archived" is
// on; it stays open until another one is.
func (e *Editor) ToggleArchive() {
	if e.doc == nil {
		return
	}
	d, _ := e.docs.info(e.Open())
	if err := e.peer.Archive(d.ID, !d.Archived); err != nil {
		e.fail("archive", err)
		return
	}
	e.docs.refresh()
	e.changed()
}

// Delete asks for confirmation, then deletes the open document from this
// device and opens another one.
func (e *Editor) Delete() {
	if e.doc == nil {
		return
	}
	if e.window == nil {
		e.deleteOpen()
		return
	}
	dialog.ShowConfirm("Delete document",
		fmt.Sprintf("Delete %q from this device? People you share it with keep their copies.", e.currentTitle()),
		func(ok bool) {
			if ok {
				e.deleteOpen()
			}
		}, e.window)
}

func (e *Editor) deleteOpen() {
	id := e.Open()
	e.Close()
	if err := e.peer.Delete(id); err != nil {
		e.fail("delete", err)
	}
	e.docs.refresh()
	for _, d := range e.docs.all {
		if !d.Archived {
			e.open(d.ID)
			e.changed()
			return
		}
	}
	e.create("")
	e.changed()
}

// FocusSearch puts the keyboard focus in the title search.
func (e *Editor) FocusSearch() {
	if e.window != nil {
		e.window.Canvas().Focus(e.docs.search)
	}
}

func ctrl(k fyne.KeyName) fyne.Shortcut {
	return &desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierShortcutDefault}
}

func ctrlShift(k fyne.KeyName) fyne.Shortcut {
	return &desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
}

// MainMenu returns the window's menu. Its items carry the keyboard
// shortcuts, which the desktop driver checks before the focused widget
// sees a key: Ctrl+Z and Ctrl+Shift+Z (or Ctrl+Y) undo and redo this
// device's edits, not the entry's.
func (e *Editor) MainMenu() *fyne.MainMenu {
	item := func(label string, sc fyne.Shortcut, do func()) *fyne.MenuItem {
		it := fyne.NewMenuItem(label, do)
		it.Shortcut = sc
		return it
	}
	file := fyne.NewMenu("File",
		item("New document", ctrl(fyne.KeyN), e.NewDocument),
		item("Import…", ctrl(fyne.KeyO), e.Import),
		item("Export…", ctrlShift(fyne.KeyE), e.Export),
		item("Save now", ctrl(fyne.KeyS), e.Flush),
		fyne.NewMenuItemSeparator(),
		item("Settings…", ctrl(fyne.KeyComma), e.ShowSettings),
	)
	edit := fyne.NewMenu("Edit",
		item("Undo", &fyne.ShortcutUndo{}, e.Undo),
		item("Redo", ctrlShift(fyne.KeyZ), e.Redo),
		item("Redo", &fyne.ShortcutRedo{}, e.Redo),
		item("Search titles", ctrl(fyne.KeyF), e.FocusSearch),
	)
	doc := fyne.NewMenu("Document",
		item("Rename…", &desktop.CustomShortcut{KeyName: fyne.KeyF2}, e.Rename),
		item("Archive or restore", nil, e.ToggleArchive),
		item("Delete…", nil, e.Delete),
		fyne.NewMenuItemSeparator(),
		item("Share…", ctrlShift(fyne.KeyS), e.ShowShare),
		item("Join with a link…", ctrl(fyne.KeyJ), e.ShowJoin),
	)
	view := fyne.NewMenu("View",
		item("Preview", ctrl(fyne.KeyP), e.TogglePreview),
		item("Peers", nil, e.ShowPeers),
	)
	return fyne.NewMainMenu(file, edit, doc, view)
}

// AddShortcuts registers the menu's shortcuts on the window's canvas too,
// for drivers and states where the menu does not see keys first.
func (e *Editor) AddShortcuts(c fyne.Canvas) {
	for _, m := range e.MainMenu().Items {
		for _, it := range m.Items {
			if it.Shortcut != nil && it.Action != nil {
				do := it.Action
				c.AddShortcut(it.Shortcut, func(fyne.Shortcut) { do() })
			}
		}
	}
}

// newToolbar is the row of buttons above the editor: the common actions,
// labelled, so nobody has to guess what an icon means.
func (e *Editor) newToolbar() fyne.CanvasObject {
	b := func(label string, icon fyne.Resource, do func()) *widget.Button {
		btn := widget.NewButtonWithIcon(label, icon, do)
		btn.Importance = widget.LowImportance
		return btn
	}
	left := container.NewHBox(
		b("Undo", theme.ContentUndoIcon(), e.Undo),
		b("Redo", theme.ContentRedoIcon(), e.Redo),
		widget.NewSeparator(),
		b("Rename", theme.DocumentCreateIcon(), e.Rename),
		b("Archive", theme.DownloadIcon(), e.ToggleArchive),
		b("Delete", theme.DeleteIcon(), e.Delete),
		widget.NewSeparator(),
		b("Import", theme.FolderOpenIcon(), e.Import),
		b("Export", theme.DocumentSaveIcon(), e.Export),
		widget.NewSeparator(),
		b("Preview", theme.VisibilityIcon(), e.TogglePreview),
	)
	right := container.NewHBox(
		b("Share", theme.MailSendIcon(), e.ShowShare),
		b("Join", theme.LoginIcon(), e.ShowJoin),
		b("Settings", theme.SettingsIcon(), e.ShowSettings),
	)
	return container.NewBorder(nil, nil, left, right)
}
