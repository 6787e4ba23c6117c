package crdt

import "fmt"

// Precedes reports whether change a is in the causal past of the version
// named by heads, or is one of them. Both must be changes d holds, else it
// returns an error wrapping ErrUnknownVersion. Access rules use it to place
// a record made at a version (heads) relative to a change.
func (d *Doc) Precedes(a Hash, heads []Hash) (bool, error) {
	ci := d.log.findChange(a)
	if ci < 0 {
		return false, fmt.Errorf("change %s: %w", a, ErrUnknownVersion)
	}
	f, err := d.frontierOf(heads)
	if err != nil {
		return false, err
	}
	// A change is in a frontier's history when its last op is.
	return d.log.contains(f, d.log.changeEnd(ci)-1), nil
}
