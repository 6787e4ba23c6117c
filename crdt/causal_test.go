package crdt

import (
	"errors"
	"testing"
)

func TestPrecedes(t *testing.T) {
	id := DocID{7}
	a, b := New(id, Author{1}), New(id, Author{2})
	a.Insert(0, "x")
	ca := a.Seal()
	b.Apply(ca...)
	b.Insert(1, "y")
	cb := b.Seal()
	a.Insert(0, "z") // concurrent with b's change
	cz := a.Seal()
	a.Apply(cb...)
	hb, hz := cb[0].Hash, cz[0].Hash
	for _, tc := range []struct {
		x     Hash
		heads []Hash
		want  bool
	}{
		{ca[0].Hash, []Hash{hb}, true},
		{hb, []Hash{hb}, true},
		{hz, []Hash{hb}, false},
		{hb, []Hash{hz}, false},
		{ca[0].Hash, []Hash{hz}, true},
		{hz, a.Heads(), true},
	} {
		got, err := a.Precedes(tc.x, tc.heads)
		if err != nil || got != tc.want {
			t.Errorf("Precedes(%s, %v) = %v, %v; want %v", tc.x, tc.heads, got, err, tc.want)
		}
	}
	if _, err := a.Precedes(Hash{9}, a.Heads()); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("unknown change: %v", err)
	}
	if _, err := a.Precedes(hb, []Hash{{9}}); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("unknown head: %v", err)
	}
}
