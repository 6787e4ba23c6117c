package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// Presence limits.
const (
	// PresenceTTL is how long a peer's cursor stays shown after its last
	// presence message.
	PresenceTTL = 30 * time.Second
	// presenceEvery is the shortest interval between two presence messages
	// this device sends for one document; cursor moves in between are
	// coalesced into the next one.
	presenceEvery = 100 * time.Millisecond
	// maxPresence bounds the peers whose presence one document keeps; a
	// new one beyond it replaces the stalest.
	maxPresence = 256
	// maxNameLen bounds a display name in bytes.
	maxNameLen = 64
	// maxPresenceSize bounds an encoded presence message.
	maxPresenceSize = 1024
)

// Presence is one person in a document: who, and where their cursor and
// selection are, in code points of this replica's current text.
type Presence struct {
	Key    access.Key
	Name   string
	Colour string // "#rrggbb"
	Anchor int    // selection start (where it was begun)
	Head   int    // cursor
	Seen   time.Time
	Self   bool
}

// presenceMsg is what travels: the sender's cursor in the text of the
// version named by Heads, so that receivers holding another version can
// map it onto theirs.
type presenceMsg struct {
	Name         string
	Colour       string
	Anchor, Head int
	Heads        []crdt.Hash
}

const presenceVersion = 1

func (m *presenceMsg) encode() []byte {
	b := []byte{presenceVersion}
	b = binary.AppendUvarint(b, uint64(len(m.Name)))
	b = append(b, m.Name...)
	b = binary.AppendUvarint(b, uint64(len(m.Colour)))
	b = append(b, m.Colour...)
	b = binary.AppendUvarint(b, uint64(m.Anchor))
	b = binary.AppendUvarint(b, uint64(m.Head))
	b = binary.AppendUvarint(b, uint64(len(m.Heads)))
	for _, h := range m.Heads {
		b = append(b, h[:]...)
	}
	return b
}

var errPresence = errors.New("malformed presence message")

func decodePresence(b []byte) (*presenceMsg, error) {
	if len(b) > maxPresenceSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", errPresence, len(b), maxPresenceSize)
	}
	r := reader{b: b}
	if v := r.byte(); v != presenceVersion {
		return nil, fmt.Errorf("%w: version %d", errPresence, v)
	}
	m := &presenceMsg{}
	m.Name = string(r.bytes(r.count(maxNameLen)))
	m.Colour = string(r.bytes(r.count(16)))
	m.Anchor = r.count(1 << 40)
	m.Head = r.count(1 << 40)
	n := r.count(16)
	for range n {
		var h crdt.Hash
		copy(h[:], r.bytes(len(h)))
		m.Heads = append(m.Heads, h)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", errPresence, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errPresence, len(r.b))
	}
	if !utf8.ValidString(m.Name) || !validColour(m.Colour) {
		return nil, fmt.Errorf("%w: bad name or colour", errPresence)
	}
	return m, nil
}

func validColour(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	return strings.Trim(strings.ToLower(c[1:]), "0123456789abcdef") == ""
}

// presenceSet is a document's view of who is there. Owned by the actor.
type presenceSet struct {
	peers map[access.Key]*Presence
}

// transform moves every cursor through edits made to the text.
func (s *presenceSet) transform(edits []crdt.Edit) {
	for _, pr := range s.peers {
		for _, e := range edits {
			pr.Anchor = shift(pr.Anchor, e)
			pr.Head = shift(pr.Head, e)
		}
	}
}

// shift maps position p through edit e. A position inside deleted text
// moves to where the deletion was; text inserted at p goes before it only
// if it was inserted strictly before p.
func shift(p int, e crdt.Edit) int {
	if e.Pos >= p {
		return p
	}
	if p < e.Pos+e.Del {
		p = e.Pos
	} else {
		p -= e.Del
	}
	return p + utf8.RuneCountInString(e.Text)
}

// receivePresence records a presence message from key. On the goroutine.
func (a *docActor) receivePresence(key access.Key, m *presenceMsg) {
	if a.presence.peers == nil {
		a.presence.peers = map[access.Key]*Presence{}
	}
	anchor, head := m.Anchor, m.Head
	if len(m.Heads) > 0 && !slices.Equal(m.Heads, a.doc.Heads()) {
		if edits, err := a.doc.Diff(m.Heads, a.doc.Heads()); err == nil {
			for _, e := range edits {
				anchor, head = shift(anchor, e), shift(head, e)
			}
		}
		// Else the sender is ahead of us: its positions are the best
		// guess until its changes arrive.
	}
	n := a.doc.Len()
	pr := a.presence.peers[key]
	if pr == nil {
		if len(a.presence.peers) >= maxPresence {
			a.expirePresence(time.Time{}, true)
		}
		pr = &Presence{Key: key}
		a.presence.peers[key] = pr
	}
	pr.Name, pr.Colour = m.Name, m.Colour
	pr.Anchor, pr.Head = min(anchor, n), min(head, n)
	pr.Seen = a.p.cfg.Now()
	a.emit(Event{Kind: EventPresence})
}

// expirePresence drops presence older than PresenceTTL (or, with oldest,
// the stalest one). On the goroutine.
func (a *docActor) expirePresence(now time.Time, oldest bool) {
	var stalest *Presence
	changed := false
	for k, pr := range a.presence.peers {
		if !oldest && now.Sub(pr.Seen) > PresenceTTL {
			delete(a.presence.peers, k)
			changed = true
		}
		if stalest == nil || pr.Seen.Before(stalest.Seen) {
			stalest = pr
		}
	}
	if oldest && stalest != nil {
		delete(a.presence.peers, stalest.Key)
		changed = true
	}
	if changed {
		a.emit(Event{Kind: EventPresence})
	}
}

// Presence returns the people in the document other than this device,
// ordered by name, with cursors in the current text.
func (d *Doc) Presence() []Presence {
	var out []Presence
	_ = d.a.do(func() {
		d.a.expirePresence(d.a.p.cfg.Now(), false)
		for _, pr := range d.a.presence.peers {
			out = append(out, *pr)
		}
	})
	slices.SortFunc(out, func(a, b Presence) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(keyHex(a.Key), keyHex(b.Key))
	})
	return out
}

// SetCursor tells peers where this device's cursor and selection are.
// Calls are coalesced so at most one presence message goes out per
// presenceEvery.
func (d *Doc) SetCursor(anchor, head int) {
	_ = d.a.do(func() {
		a := d.a
		a.cursor = [2]int{anchor, head}
		a.cursorDirty = true
		a.sendPresence()
	})
}

// sendPresence publishes the cursor now if allowed, else arms a timer.
// On the goroutine.
func (a *docActor) sendPresence() {
	if a.net == nil || !a.cursorDirty || a.presenceTimer != nil {
		return
	}
	now := time.Now()
	if due := a.presenceAt.Add(presenceEvery); now.Before(due) {
		a.presenceTimer = time.AfterFunc(due.Sub(now), func() {
			a.post(func() {
				a.presenceTimer = nil
				a.sendPresence()
			})
		})
		return
	}
	a.seal()
	name, colour := a.p.Identity()
	m := presenceMsg{Name: name, Colour: colour, Anchor: a.cursor[0], Head: a.cursor[1], Heads: a.doc.Heads()}
	if len(m.Heads) > 16 {
		m.Heads = nil
	}
	a.cursorDirty = false
	a.presenceAt = now
	if err := a.net.PublishPresence(m.encode()); err != nil {
		a.log.Debug("publish presence", "err", err)
	}
}
