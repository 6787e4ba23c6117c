package access

import (
	"fmt"
	"strings"
)

// Rights is what a token grants: an ordered level in the low three bits
// (None < Read < Comment < Write < Admin, each implying the ones below) and
// an independent Relay bit. Relay (store and forward ciphertext, never read)
// is not implied by any level, not even Admin, and implies no level: a relay
// token is typically Relay alone. Bits 3..6 are undefined and rejected.
type Rights uint8

// The levels and the relay bit.
const (
	None    Rights = 0
	Read    Rights = 1
	Comment Rights = 2
	Write   Rights = 3
	Admin   Rights = 4
	Relay   Rights = 0x80

	levelMask Rights = 0x07
)

// Level returns r without the Relay bit.
func (r Rights) Level() Rights { return r & levelMask }

// HasRelay reports whether r includes Relay.
func (r Rights) HasRelay() bool { return r&Relay != 0 }

// Valid reports whether r uses only defined bits and grants something.
func (r Rights) Valid() bool {
	return r&^(levelMask|Relay) == 0 && r.Level() <= Admin && r != None
}

// Within reports whether r is a subset of parent: its level is at most
// parent's, and it has Relay only if parent has.
func (r Rights) Within(parent Rights) bool {
	return r.Level() <= parent.Level() && (!r.HasRelay() || parent.HasRelay())
}

// Covers reports whether r includes every right in need.
func (r Rights) Covers(need Rights) bool { return need.Within(r) }

// String returns r as "write", "relay", "admin+relay" and so on.
func (r Rights) String() string {
	names := [...]string{"none", "read", "comment", "write", "admin"}
	var parts []string
	if l := r.Level(); l <= Admin && (l != None || !r.HasRelay()) {
		parts = append(parts, names[l])
	} else if l > Admin {
		parts = append(parts, fmt.Sprintf("level(%d)", l))
	}
	if r.HasRelay() {
		parts = append(parts, "relay")
	}
	if extra := r &^ (levelMask | Relay); extra != 0 {
		parts = append(parts, fmt.Sprintf("bits(%#x)", uint8(extra)))
	}
	return strings.Join(parts, "+")
}

// ParseRights parses the form String returns for valid rights.
func ParseRights(s string) (Rights, error) {
	var r Rights
	for _, p := range strings.Split(strings.ToLower(s), "+") {
		var add Rights
		switch p {
		case "read":
			add = Read
		case "comment":
			add = Comment
		case "write":
			add = Write
		case "admin":
			add = Admin
		case "relay":
			add = Relay
		default:
			return None, fmt.Errorf("rights %q: unknown right %q: %w", s, p, ErrMalformed)
		}
		if add != Relay && r.Level() != None {
			return None, fmt.Errorf("rights %q: two levels: %w", s, ErrMalformed)
		}
		r |= add
	}
	return r, nil
}
