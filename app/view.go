package app

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// An editor view (package ui) shows a copy of a document's text that lags
// the document by whatever events it has not yet applied. EditAt, Undo and
// Redo take the revision the view shows and return what the view must
// apply to catch up, so a keystroke that races a remote edit lands where
// the user typed it, not where the remote edit pushed the text.

// maxLog bounds the recent text changes a document keeps for views that
// lag behind; a view further behind than that is told to re-read the text
// (Update.Resync).
const maxLog = 1024

// editLog is a document's recent text changes, one entry per revision.
// Owned by the actor.
type editLog struct {
	entries []logEntry // consecutive revisions, oldest first
}

type logEntry struct {
	rev   uint64
	edits []crdt.Edit
}

func (l *editLog) add(rev uint64, edits []crdt.Edit) {
	l.entries = append(l.entries, logEntry{rev: rev, edits: edits})
	if len(l.entries) > maxLog {
		l.entries = append(l.entries[:0], l.entries[len(l.entries)-maxLog/2:]...)
	}
}

// since returns the edits after revision base up to now, and false if the
// log no longer reaches back that far (or base is in the future).
func (l *editLog) since(base, now uint64) ([]crdt.Edit, bool) {
	if base == now {
		return nil, true
	}
	if base > now || len(l.entries) == 0 || l.entries[0].rev > base+1 {
		return nil, false
	}
	var out []crdt.Edit
	for _, e := range l.entries[base+1-l.entries[0].rev:] {
		out = append(out, e.edits...)
	}
	return out, true
}

// Update is what a view showing revision base must do to show the
// document's current text: apply Edits in order, and then it shows
// revision Rev. If Resync is set the view lagged too far behind: it must
// re-read Text instead.
type Update struct {
	Edits  []Edit
	Rev    uint64
	Resync bool
}

// EditAt is Edit for a view showing revision base, which has already
// applied the edit to its own copy of the text. Edits made since base
// (other people's, say) are taken into account: the edit lands where the
// user made it. The Update's Edits are those missed edits, rewritten to
// apply after the view's own edit.
func (d *Doc) EditAt(base uint64, pos, del int, ins string) (Update, error) {
	if err := d.checkEdit(ins); err != nil {
		return Update{}, err
	}
	var (
		u   Update
		err error
	)
	if e := d.a.do(func() { u, err = d.a.editAt(base, pos, del, ins) }); e != nil {
		return Update{}, e
	}
	return u, err
}

func (d *Doc) checkEdit(ins string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if n := utf8.RuneCountInString(ins); n > MaxEditLen {
		return fmt.Errorf("insert of %d code points (limit %d): %w", n, MaxEditLen, ErrTooLarge)
	}
	if !utf8.ValidString(ins) {
		return fmt.Errorf("insert is not valid UTF-8: %w", crdt.ErrInvalid)
	}
	if !d.a.access.canWrite() {
		return ErrReadOnly
	}
	return nil
}

// editAt runs on the actor.
func (a *docActor) editAt(base uint64, pos, del int, ins string) (Update, error) {
	missed, ok := a.recent.since(base, a.rev)
	if !ok {
		err := a.edit(pos, del, ins)
		return Update{Rev: a.rev, Resync: true}, err
	}
	local, theirs := transform(opsOf([]crdt.Edit{{Pos: pos, Del: del, Text: ins}}), opsOf(missed), true)
	for _, o := range local {
		var err error
		if o.isInsert() {
			err = a.edit(o.pos, 0, o.text)
		} else {
			err = a.edit(o.pos, o.n, "")
		}
		if err != nil {
			return Update{Rev: a.rev, Resync: true}, err
		}
	}
	return Update{Edits: editsOf(theirs), Rev: a.rev}, nil
}

// ErrNothingToUndo is returned by Undo and Redo when there is nothing to
// undo or redo.
var ErrNothingToUndo = errors.New("nothing to undo")

// Undo reverts the last group of this device's edits to the document
// (typing is grouped by word) and leaves everyone else's work in place.
// base is the revision the calling view shows; the Update's Edits bring
// it up to date, the undo included.
func (d *Doc) Undo(base uint64) (Update, error) {
	return d.replay(base, false)
}

// Redo reapplies the last undone group of edits, if no local edit came
// after it. See Undo.
func (d *Doc) Redo(base uint64) (Update, error) {
	return d.replay(base, true)
}

func (d *Doc) replay(base uint64, redo bool) (Update, error) {
	if err := d.checkEdit(""); err != nil {
		return Update{}, err
	}
	var (
		u   Update
		err error
	)
	e := d.a.do(func() {
		a := d.a
		from, to := &a.hist.undo, &a.hist.redo
		if redo {
			from, to = to, from
		}
		if len(*from) == 0 {
			err = ErrNothingToUndo
			return
		}
		missed, ok := a.recent.since(base, a.rev)
		var done []crdt.Edit
		done, err = a.replay(from, to)
		u = Update{Edits: append(missed, done...), Rev: a.rev, Resync: !ok}
	})
	if e != nil {
		return Update{}, e
	}
	return u, err
}

// CanUndo reports whether Undo and Redo have something to do.
func (d *Doc) CanUndo() (undo, redo bool) {
	_ = d.a.do(func() { undo, redo = len(d.a.hist.undo) > 0, len(d.a.hist.redo) > 0 })
	return undo, redo
}

// Rights is what a capability grants (access.Rights), named here so that
// the editor needs no package but app.
type Rights = access.Rights

// The rights an invite can grant, weakest first.
const (
	Read    = access.Read
	Comment = access.Comment
	Write   = access.Write
	Admin   = access.Admin
)
